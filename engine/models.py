"""Typed views of a pool (the inventory) and the `Plan` a run executes.

Inventory models are built from XAPI records by `engine.inventory`, which turns XAPI's
digit-string ints, XML-RPC or JSON datetimes and `OpaqueRef:NULL` into Python values (None for a
null ref). They carry the fields a DR engine reads (reference §4), not every field of XAPI.

`Plan` is what a dry run shows, what an approval is bound to (through `Plan.hash`) and what the
runner executes. It is plain data: it serialises to JSON and back without loss.
"""

from __future__ import annotations

import hashlib
import json
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from store.outcomes import Kind as Kind  # re-exported: the engine speaks of plans by kind

NULL_REF = "OpaqueRef:NULL"


class _Model(BaseModel):
    model_config = ConfigDict(extra="ignore")


class _XapiObject(_Model):
    """Any XAPI object: `ref` is the handle calls take (valid in its own pool only), `uuid`
    the identity that survives recovery into another pool."""

    ref: str
    uuid: str


class _NamedObject(_XapiObject):
    """An XAPI object people name (XenCenter shows `name_label`)."""

    name_label: str = ""


# ---------------------------------------------------------------------------------------------
# Inventory
# ---------------------------------------------------------------------------------------------


class PoolInfo(_NamedObject):
    master: str | None = None
    ha_enabled: bool = False
    ha_host_failures_to_tolerate: int = 0
    ha_allow_overcommit: bool = False
    restrictions: dict[str, str] = Field(default_factory=dict)
    other_config: dict[str, str] = Field(default_factory=dict)
    metadata_vdis: list[str] = Field(default_factory=list)


class HostInfo(_NamedObject):
    address: str = ""
    enabled: bool = True
    live: bool = True
    memory_total: int = 0
    memory_free: int = 0
    license_params: dict[str, str] = Field(default_factory=dict)
    edition: str = ""
    resident_vms: list[str] = Field(default_factory=list)

    @property
    def dr_licensed(self) -> bool:
        """XenCenter's rule (reference §5.0): only an explicit restrict_dr = "false" allows DR."""
        return self.license_params.get("restrict_dr") == "false"


class VMInfo(_NamedObject):
    power_state: str = "Halted"
    is_a_template: bool = False
    is_a_snapshot: bool = False
    is_control_domain: bool = False
    appliance: str | None = None
    order: int = 0
    start_delay: int = 0
    shutdown_delay: int = 0
    memory_static_max: int = 0
    memory_dynamic_max: int = 0
    memory_overhead: int = 0
    vcpus_max: int = 0
    version: int = 0
    resident_on: str | None = None
    ha_restart_priority: str = ""
    vbds: list[str] = Field(default_factory=list)
    vifs: list[str] = Field(default_factory=list)
    suspend_vdi: str | None = None
    snapshots: list[str] = Field(default_factory=list)  # VM refs of its snapshots
    tags: list[str] = Field(default_factory=list)
    other_config: dict[str, str] = Field(default_factory=dict)
    # VM_metrics.install_time: when the VM was created (compared with the mirror's as-of time).
    install_time: datetime | None = None

    @property
    def is_real(self) -> bool:
        """XenCenter's "real VM": not a template, not a snapshot, not a control domain."""
        return not (self.is_a_template or self.is_a_snapshot or self.is_control_domain)


class ApplianceInfo(_NamedObject):
    name_description: str = ""
    vms: list[str] = Field(default_factory=list)


class SRInfo(_NamedObject):
    type: str = ""
    content_type: str = ""
    shared: bool = False
    pbds: list[str] = Field(default_factory=list)
    vdis: list[str] = Field(default_factory=list)
    introduced_by: str | None = None
    physical_size: int = 0
    physical_utilisation: int = 0
    sm_config: dict[str, str] = Field(default_factory=dict)
    other_config: dict[str, str] = Field(default_factory=dict)


class PBDInfo(_XapiObject):
    uuid: str = ""  # drbot reads these by ref; a record without a uuid is still usable
    host: str | None = None
    sr: str | None = None
    device_config: dict[str, str] = Field(default_factory=dict)
    currently_attached: bool = False


class VDIInfo(_NamedObject):
    sr: str | None = None
    type: str = "user"
    location: str = ""
    virtual_size: int = 0
    metadata_of_pool: str | None = None
    metadata_latest: bool = False
    vbds: list[str] = Field(default_factory=list)
    missing: bool = False
    sm_config: dict[str, str] = Field(default_factory=dict)


class VBDInfo(_XapiObject):
    uuid: str = ""  # drbot reads these by ref; a record without a uuid is still usable
    vm: str | None = None
    vdi: str | None = None
    type: str = "Disk"
    mode: str = "RW"
    empty: bool = False
    currently_attached: bool = False


class VIFInfo(_XapiObject):
    uuid: str = ""  # drbot reads these by ref; a record without a uuid is still usable
    vm: str | None = None
    network: str | None = None
    device: str = ""
    mac: str = ""


class NetworkInfo(_NamedObject):
    bridge: str = ""
    pifs: list[str] = Field(default_factory=list)


class DRTaskInfo(_XapiObject):
    introduced_srs: list[str] = Field(default_factory=list)


# ---------------------------------------------------------------------------------------------
# Plan
# ---------------------------------------------------------------------------------------------

PowerAfter = Literal["start", "start-paused", "leave-off"]
LunAction = Literal["present_test_copy", "promote", "reverse", "none"]
ExistingInDest = Literal["none", "older", "newer-or-equal"]
CheckStatus = Literal["ok", "warning", "blocker"]
# Where the VM record a plan recovers from was read (see engine.planner's docstring).
RecordSource = Literal["metadata-vdi", "source-pool", "dest-pool", "replicated-metadata-unread"]


# Checks that grade a measurement which moves on its own (lag, free memory, writes in flight):
# left out of the plan hash so an approval does not expire because a number drifted.
VOLATILE_CHECKS = frozenset({"rpo", "inside-lag", "metadata-in-flight", "capacity"})


class Check(_Model):
    """One pre-check of a plan. A `blocker` stops a run; a `warning` is shown and allowed."""

    name: str
    status: CheckStatus
    subject: str = ""
    message: str = ""


class MetadataSource(_Model):
    """A metadata VDI the plan reads VM records from (reference §2.2: only metadata_latest)."""

    vdi_uuid: str
    sr_uuid: str
    sr_name: str = ""
    pool_uuid: str = ""
    pool_name: str = ""
    latest: bool = True
    # Whether the planner could open it now; a failover's mirror is not attachable before promote.
    read: bool = False


class LunPlan(_Model):
    """A replicated LUN the run acts on, and what the storage adapter must do with it."""

    lun: str
    sr_uuid: str
    sr_name: str = ""
    sr_type: str = "lvmoiscsi"
    state: str = ""
    lag_seconds: float | None = None
    # present_test_copy (test failover), promote (failover), reverse (failback), none.
    action: LunAction = "none"
    device_config: dict[str, str] = Field(default_factory=dict)
    holds_metadata: bool = False


class VMPlan(_Model):
    """One VM to recover, with the record the plan chose for it."""

    uuid: str
    name: str
    appliance_uuid: str | None = None
    order: int = 0
    start_delay: int = 0
    shutdown_delay: int = 0
    memory_bytes: int = 0
    vcpus: int = 0
    version: int = 0
    power_state_at_source: str = "Halted"
    record_source: RecordSource = "metadata-vdi"
    metadata_vdi_uuid: str | None = None
    sr_uuids: list[str] = Field(default_factory=list)
    networks: list[str] = Field(default_factory=list)
    # What exists in the destination pool with this uuid: none, older (replaced), newer-or-equal.
    existing_in_dest: ExistingInDest = "none"
    existing_power_state: str | None = None
    power_after: PowerAfter = "start"


class AppliancePlan(_Model):
    """A vApp recovered whole; its VMs grouped by `order`, ascending, started group by group."""

    uuid: str
    name: str
    metadata_vdi_uuid: str | None = None
    order_groups: list[list[VMPlan]] = Field(default_factory=list)

    @property
    def vms(self) -> list[VMPlan]:
        return [vm for group in self.order_groups for vm in group]


class NetworkMapping(_Model):
    """Where a source network's VIFs land at the destination, and how that was decided."""

    source_name: str
    source_bridge: str = ""
    dest_name: str | None = None
    dest_uuid: str | None = None
    matched_by: Literal["name", "bridge", "map", "none"] = "none"
    has_pifs: bool = True


class Plan(_Model):
    """What a run will do, decided with no side effects; approvals bind to `hash`.

    `hash` is the sha256 of the canonical JSON of the plan without `hash`, `generated_at` and the
    measurements that move on their own between two plannings of the same world (replication lag
    and LUN state, the RTO estimate and its basis, the free text of check messages, and the
    checks that only grade such measurements, `VOLATILE_CHECKS`): two plans with the same hash
    do the same things to the same objects in the same order. A blocker found when re-planning
    still stops the run through `blockers`, whether or not it moves the hash.
    """

    kind: Kind
    target: str
    source_pool: str
    dest_pool: str
    source_pool_uuid: str = ""
    dest_pool_uuid: str = ""
    planned: bool = False
    # A failed VM does not stop the others unless the plan says so.
    stop_on_failure: bool = False
    # Test failover only: turn HA off on the DR pool for the test and back on afterwards.
    disable_ha: bool = False
    power_after: PowerAfter = "start"
    metadata_vdis: list[MetadataSource] = Field(default_factory=list)
    luns: list[LunPlan] = Field(default_factory=list)
    appliances: list[AppliancePlan] = Field(default_factory=list)
    standalone_vms: list[VMPlan] = Field(default_factory=list)
    network_map: list[NetworkMapping] = Field(default_factory=list)
    checks: list[Check] = Field(default_factory=list)
    source_reachable: bool = True
    estimated_rto_seconds: float = 0.0
    rto_basis: str = ""
    generated_at: datetime | None = None
    hash: str = ""

    @property
    def blockers(self) -> list[Check]:
        """The checks that stop a run."""
        return [c for c in self.checks if c.status == "blocker"]

    @property
    def warnings(self) -> list[Check]:
        return [c for c in self.checks if c.status == "warning"]

    @property
    def vms(self) -> list[VMPlan]:
        """Every VM of the plan, vApp members first (in vApp order), then standalone VMs."""
        return [vm for app in self.appliances for vm in app.vms] + list(self.standalone_vms)

    def canonical(self) -> dict[str, Any]:
        """The part of the plan its hash covers (see the class docstring)."""
        data = self.model_dump(mode="json", exclude={"hash", "generated_at"})
        data.pop("estimated_rto_seconds", None)
        data.pop("rto_basis", None)
        for lun in data["luns"]:
            lun.pop("lag_seconds", None)
            lun.pop("state", None)
        data["checks"] = [c for c in data["checks"] if c["name"] not in VOLATILE_CHECKS]
        for check in data["checks"]:
            check.pop("message", None)
        return data

    def compute_hash(self) -> str:
        blob = json.dumps(self.canonical(), sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(blob.encode()).hexdigest()

    def sealed(self) -> Plan:
        """This plan with `hash` filled in."""
        return self.model_copy(update={"hash": self.compute_hash()})
