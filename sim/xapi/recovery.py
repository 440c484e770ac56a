"""Importing VMs from a foreign database into a pool: the rules of reference §2.6-§2.9.

- Required SRs: the SRs of the disks behind a VM's non-CD VBDs, ISO SRs excluded; each must
  exist in the target by uuid with at least one attached PBD (`VM_REQUIRES_SR [vm, sr]`:
  the foreign SR ref when it is missing, the target's when it is there but detached).
- An existing VM with the same uuid: not Halted -> `VM_BAD_POWER_STATE [vm, "Halted",
  actual]`, or skipped with force; Halted -> replaced if the incoming `version` is newer or
  with force, else `VM_TO_IMPORT_IS_NOT_NEWER_VERSION [vm, existing, incoming]`.
- The recovered VM keeps its uuid, gets `version + 1`, is Halted (Suspended stays Suspended
  when its suspend VDI is found), loses its appliance, maps `resident_on` / `affinity` by
  host uuid, and gets a new `generation_id`.
- Disks are matched by VDI uuid (then location) in the SR of the same uuid; missing SR ->
  `VDI_CONTENT_ID_MISSING`, missing disk -> `VDI_LOCATION_MISSING [sr, location]`; force
  drops the disk. CD drives come back empty.
- Networks by `name_label`, then `bridge`, looked up when the import starts (import.ml's
  precheck) and, when missing, created after the import's work with the source's bridge,
  under `network.create`'s rules for a caller's session (a `xen`/`xapi`/... bridge is
  `INVALID_VALUE`, one in use `BRIDGE_NAME_EXISTS`). Nothing holds a lock from the lookup to
  the creation: two concurrent recoveries that need the same missing network race for it,
  as in xapi (docs/xapi-behaviours.md §4).
- On success `SR.introduced_by` is cleared on the SRs of the recovered VMs' own disks (not
  their snapshots' or suspend image's: `xapi_vm_helpers.list_required_SRs`); on failure
  without force everything created is rolled back.
"""

from __future__ import annotations

import contextlib
import random
from collections.abc import Callable
from typing import Any

from sim.xapi import schema
from sim.xapi.db import Database
from sim.xapi.errors import XapiError
from sim.xapi.networks import create_network
from sim.xapi.schema import NULL_REF
from sim.xapi.world import Pool

_REF_KINDS = {schema.R, schema.RS}


def _has_attached_pbd(db: Database, sr: str) -> bool:
    return any(db.get_field("PBD", p, "currently_attached") for p in db.get_field("SR", sr, "PBDs"))


def required_srs(foreign: Database, vm: str) -> list[str]:
    """Foreign SR refs a VM's disks live on (non-CD VBDs, ISO SRs excluded)."""
    out: list[str] = []
    for vbd in foreign.get_field("VM", vm, "VBDs"):
        rec = foreign.live("VBD", vbd)
        if rec is None or rec["type"] == "CD" or rec["VDI"] == NULL_REF:
            continue
        vdi = foreign.live("VDI", rec["VDI"])
        if vdi is None:
            continue
        sr = foreign.live("SR", vdi["SR"])
        if sr is None or sr["content_type"] == "iso":
            continue
        if vdi["SR"] not in out:
            out.append(vdi["SR"])
    return out


def _target_sr(target: Database, foreign: Database, sr: str) -> str | None:
    refs = target.where("SR", uuid=foreign.get_field("SR", sr, "uuid"))
    return refs[0] if refs else None


def missing_srs(foreign: Database, vms: list[str], pool: Pool) -> list[str]:
    """Foreign SR refs the VMs need that the target lacks or has detached."""
    out: list[str] = []
    for vm in vms:
        for sr in required_srs(foreign, vm):
            there = _target_sr(pool.db, foreign, sr)
            if (there is None or not _has_attached_pbd(pool.db, there)) and sr not in out:
                out.append(sr)
    return out


def assert_can_be_recovered(foreign: Database, vms: list[str], pool: Pool) -> None:
    """`VM_REQUIRES_SR [vm, sr]` for the first VM whose storage the target lacks.

    As xapi_vm_helpers does it: an SR missing by uuid is named by its foreign ref, one that
    is present but detached by the target pool's own ref (the VM ref is always foreign).
    """
    for vm in vms:
        missing = missing_srs(foreign, [vm], pool)
        if missing:
            there = _target_sr(pool.db, foreign, missing[0])
            raise XapiError("VM_REQUIRES_SR", vm, there or missing[0])


class _Import:
    """One recovery run into `pool`; remembers what it created for a rollback."""

    def __init__(self, foreign: Database, pool: Pool, force: bool, task: str = NULL_REF) -> None:
        self.foreign = foreign
        self.pool = pool
        self.db = pool.db
        self.force = force
        self.task = task
        self.created: list[tuple[str, str]] = []
        self.rng = random.Random()
        # foreign network ref -> target ref found at precheck, or None: create at import
        self.networks: dict[str, str | None] = {}

    def _create(self, cls: str, fields: dict[str, Any]) -> str:
        ref = self.db.create(cls, fields)
        self.created.append((cls, ref))
        return ref

    def _by_uuid(self, cls: str, uuid: str) -> str | None:
        try:
            return self.db.by_uuid(cls, uuid)
        except XapiError:
            return None

    def rollback(self) -> None:
        for cls, ref in reversed(self.created):
            with contextlib.suppress(XapiError):
                self.db.delete(cls, ref)
        self.created.clear()

    # --------------------------------------------------------------- pieces

    def _plain(self, cls: str, rec: dict[str, Any]) -> dict[str, Any]:
        """A record's non-reference fields (references are mapped one by one)."""
        fields = schema.spec(cls).fields
        return {k: v for k, v in rec.items() if k in fields and fields[k].kind not in _REF_KINDS}

    def _host(self, foreign_host: str) -> str:
        rec = self.foreign.live("host", foreign_host)
        if rec is None:
            return NULL_REF
        refs = self.db.where("host", uuid=rec["uuid"])
        return refs[0] if refs else NULL_REF

    def precheck_networks(self, vms: list[str]) -> None:
        """Look up every network the VMs' (and their snapshots') NICs use: by name, then by
        bridge; what is found is used, what is not is created when the import runs."""
        for vm in vms:
            rec = self.foreign.get("VM", vm)
            for owner in [vm, *rec["snapshots"]]:
                for vif in self.foreign.get_field("VM", owner, "VIFs"):
                    net = self.foreign.get_field("VIF", vif, "network")
                    if net not in self.networks:
                        self.networks[net] = self._lookup_network(net)

    def _lookup_network(self, foreign_net: str) -> str | None:
        rec = self.foreign.live("network", foreign_net)
        if rec is None:
            return NULL_REF
        by_name = self.db.where("network", name_label=rec["name_label"])
        if by_name:
            return by_name[0]
        by_bridge = self.db.where("network", bridge=rec["bridge"]) if rec["bridge"] else []
        return by_bridge[0] if by_bridge else None

    def _network(self, foreign_net: str) -> str:
        if foreign_net not in self.networks:
            self.networks[foreign_net] = self._lookup_network(foreign_net)
        found = self.networks[foreign_net]
        if found is not None:
            return found
        rec = self.foreign.get("network", foreign_net)
        ref = create_network(
            self.db,
            rec["name_label"],
            rec["name_description"],
            mtu=rec["MTU"],
            bridge=rec["bridge"],
            internal=False,
            other_config={"import_task": self.task},
        )
        self.created.append(("network", ref))
        self.networks[foreign_net] = ref
        return ref

    def _vdi(self, foreign_vdi: str) -> str | None:
        """The target VDI for a foreign one; None when force drops it."""
        vdi = self.foreign.get("VDI", foreign_vdi)
        sr = _target_sr(self.db, self.foreign, vdi["SR"])
        if sr is None:
            if self.force:
                return None
            raise XapiError("VDI_CONTENT_ID_MISSING")
        ref = self._by_uuid("VDI", vdi["uuid"])
        if ref is not None and self.db.get_field("VDI", ref, "SR") == sr:
            return ref
        for ref in self.db.get_field("SR", sr, "VDIs"):
            rec = self.db.live("VDI", ref)
            if rec is not None and rec["location"] == vdi["location"]:
                return ref
        if self.force:
            return None
        raise XapiError("VDI_LOCATION_MISSING", sr, vdi["location"])

    def destroy_vm(self, vm: str) -> None:
        """Delete a VM record with its VBDs, VIFs and metrics (disks stay)."""
        rec = self.db.get("VM", vm)
        for cls, refs in (("VBD", rec["VBDs"]), ("VIF", rec["VIFs"])):
            for r in refs:
                with contextlib.suppress(XapiError):
                    self.db.delete(cls, r)
        for cls, r in (("VM_metrics", rec["metrics"]), ("VM_guest_metrics", rec["guest_metrics"])):
            if r != NULL_REF:
                with contextlib.suppress(XapiError):
                    self.db.delete(cls, r)
        self.db.delete("VM", vm)

    # --------------------------------------------------------------- one VM

    def vm(self, foreign_vm: str, snapshot_of: str = NULL_REF) -> str | None:
        """Import one VM (and its snapshots); -> the new ref, None if skipped (force)."""
        src = self.foreign.get("VM", foreign_vm)
        found = self._by_uuid("VM", src["uuid"])
        existing = [found] if found is not None else []
        if existing:
            old = self.db.get("VM", existing[0])
            if old["power_state"] != "Halted":
                if self.force:
                    return None
                raise XapiError("VM_BAD_POWER_STATE", existing[0], "Halted", old["power_state"])
            if not self.force and old["version"] >= src["version"]:
                raise XapiError(
                    "VM_TO_IMPORT_IS_NOT_NEWER_VERSION", existing[0], old["version"], src["version"]
                )
            self.destroy_vm(existing[0])
        fields = self._plain("VM", src)
        suspend_vdi = NULL_REF
        if src["power_state"] == "Suspended" and src["suspend_VDI"] != NULL_REF:
            try:
                suspend_vdi = self._vdi(src["suspend_VDI"]) or NULL_REF
            except XapiError:
                if not self.force:
                    raise
        power = "Suspended" if suspend_vdi != NULL_REF else "Halted"
        fields.update(
            power_state=power,
            version=src["version"] + 1,
            domid=-1,
            current_operations={},
            allowed_operations=["start", "start_on", "destroy", "export", "clone", "copy"]
            if power == "Halted"
            else ["resume", "hard_shutdown"],
            affinity=self._host(src["affinity"]),
            resident_on=self._host(src["resident_on"]) if power == "Suspended" else NULL_REF,
            suspend_VDI=suspend_vdi,
            snapshot_of=snapshot_of,
        )
        if not src["is_a_template"]:
            fields["generation_id"] = f"{self.rng.randrange(1 << 31)}:{self.rng.randrange(1 << 31)}"
        metrics = self._create("VM_metrics", {"memory_actual": 0, "VCPUs_number": 0})
        fields["metrics"] = metrics
        ref = self._create("VM", fields)
        for vbd in src["VBDs"]:
            self._vbd(ref, self.foreign.get("VBD", vbd))
        for vif in src["VIFs"]:
            rec = self.foreign.get("VIF", vif)
            vif_fields = self._plain("VIF", rec)
            vif_fields.update(
                VM=ref, network=self._network(rec["network"]), currently_attached=False
            )
            self._create("VIF", vif_fields)
        for snap in src["snapshots"]:
            self.vm(snap, snapshot_of=ref)
        return ref

    def _vbd(self, vm: str, rec: dict[str, Any]) -> None:
        fields = self._plain("VBD", rec)
        fields.update(VM=vm, currently_attached=False)
        if rec["type"] == "CD":
            fields.update(VDI=NULL_REF, empty=True)
            self._create("VBD", fields)
            return
        if rec["VDI"] == NULL_REF:
            return
        vdi = self._vdi(rec["VDI"])
        if vdi is None:
            return  # force: the disk is dropped, and its VBD with it
        fields["VDI"] = vdi
        self._create("VBD", fields)


def recover_vms(
    foreign: Database,
    vms: list[str],
    pool: Pool,
    *,
    force: bool,
    task: str = NULL_REF,
    after_precheck: Callable[[], None] = lambda: None,
) -> list[str | None]:
    """Import `vms` (foreign refs) into `pool`; -> new refs (None where force skipped one).

    As import.ml: every network is looked up first, then the import takes its time, then
    the objects are created (each VM's records at once, so a reader never sees half a VM);
    no lock is held from the lookups to the creations (see the module docstring).
    `after_precheck` runs between the two (the wire method's stall point).
    """
    run = _Import(foreign, pool, force, task)
    out: list[str | None] = []
    try:
        run.precheck_networks(vms)
        after_precheck()
        for vm in vms:
            pool.clock.work("vm_recover")
            with pool.db.lock:
                out.append(run.vm(vm))
    except XapiError:
        if not force:
            run.rollback()
        raise
    for sr in {sr for vm in out if vm is not None for sr in own_disk_srs(pool.db, vm)}:
        with contextlib.suppress(XapiError):
            if pool.db.get_field("SR", sr, "introduced_by") != NULL_REF:
                pool.db.set("SR", sr, introduced_by=NULL_REF)
    return out


def own_disk_srs(db: Database, vm: str) -> set[str]:
    """The SRs of a VM's own non-CD disks, ISO SRs excluded (`list_required_SRs`)."""
    out = set()
    for vbd in db.get_field("VM", vm, "VBDs"):
        rec = db.live("VBD", vbd)
        if rec is None or rec["type"] == "CD" or rec["VDI"] == NULL_REF:
            continue
        vdi = db.live("VDI", rec["VDI"])
        if vdi is None:
            continue
        sr = db.live("SR", vdi["SR"])
        if sr is not None and sr["content_type"] != "iso":
            out.add(vdi["SR"])
    return out


def destroy_vm(pool: Pool, vm: str) -> None:
    """Delete a VM record with its devices and metrics (what VM.destroy leaves: disks)."""
    _Import(Database(), pool, False).destroy_vm(vm)
