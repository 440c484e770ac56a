"""Plans for test-failover, failover and failback: the dry run, with no side effects.

`plan(kind, target, source=..., dest=..., ...)` decides which LUNs the storage adapter must
present, promote or reverse, which metadata VDIs the run reads, which vApps (with their order
groups and start delays) and standalone VMs it recovers, what it does with them afterwards, where
their networks land, and every pre-check that could make the run fail or do harm. It reads the
pools' inventories and the storage adapter's state; it never changes a pool.

Where a VM's record comes from (the question of reading foreign metadata)
--------------------------------------------------------------------------
What `VM.recover` imports is the record on the replicated metadata VDI at the DR site
(reference §2.5). At planning time that VDI usually cannot be read: for a failover the mirror is
read-only and cannot be attached until it is promoted (§7.5), and presenting a test copy or
promoting is exactly the side effect a dry run must not have. So the planner chooses, per VM,
the best record it can see, and says which one in `VMPlan.record_source`:

1. `metadata-vdi`: the record read from a metadata VDI already attached at the destination
   (`metadata_latest` only, §2.2), opened with `VDI.open_database` and released with
   `session.logout`. This happens when the mirrors are attached already (a failback whose
   reversed LUNs are attached, a re-plan during a run). Opening a database creates a session
   and a VBD in dom0 that logout removes: no VM, SR or DR_task is touched.
2. `source-pool`: the live record of the protected pool, from its event-fed inventory. The
   metadata VDI is a write-through copy of that database (§2.1), so it is the record the mirror
   will hold once replication catches up. A VM created inside the replication lag (its
   `install_time` is later than the mirror's as-of time) is not on the mirror yet: the plan warns
   (and a planned failover syncs first). If the source site is down, the inventory still holds
   the last state seen before it went, which is the best knowledge anyone has.
3. `replicated-metadata-unread`: the source is unknown to drbot (no inventory) and the mirror is
   unreadable. The plan then recovers "everything on the latest metadata VDI" and says so; a
   named target cannot be resolved and is a blocker.

The destination's copy of each VM (same uuid) is always read, and the seed's most-recent rule
applies with XAPI's version counter (§5.4): the incoming record wins only if its `version` is
greater than the destination's; a newer-or-equal copy at the destination is a blocker for that
VM (it was recovered before: remove it, or leave it out), an older halted copy is replaced
(warning), an older running copy is a blocker (`force` would silently skip it, §2.6). The
destination's copy is never what the plan recovers (`record_source` "dest-pool" is reserved for
it): a newer copy there is most often the leftover of an earlier recovery whose disks may be
gone, so a person decides.

Several metadata VDIs of one pool with `metadata_latest` hold the same database (§2.2); the plan
names one to read, preferring one on a LUN the VMs need anyway, so no LUN is attached only for
its metadata. Writes still in flight to the mirror are reported (`metadata-in-flight`).

Selection rules: a vApp is recovered whole (`VM_appliance.recover`); naming a member VM selects
its vApp and says so. With target "all", VMs that cannot be recovered (a disk on local or
non-replicated storage) are left out with a warning; named explicitly, they are a blocker.

How it is built
---------------
`plan` reads no kind names: what differs between kinds is data in `engine.planning.policy`
(one `KindPolicy` each), and every check is a small function in `engine.planning.rules`, run
from one of its four ordered lists (site, VM, LUN, assembled plan) against the `PlanFacts`
gathered once. A new check is a function added to a list; a new difference between kinds is a
policy field.
"""

from __future__ import annotations

import difflib
import re
import statistics
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from engine import messages as m
from engine.clock import Clock, SystemClock
from engine.errors import TargetNotFound, XapiError
from engine.inventory import Inventory
from engine.models import (
    ApplianceInfo,
    AppliancePlan,
    Check,
    CheckStatus,
    ExistingInDest,
    Kind,
    LunPlan,
    MetadataSource,
    NetworkInfo,
    Plan,
    PowerAfter,
    VMInfo,
    VMPlan,
)
from engine.planning.facts import PlanFacts
from engine.planning.options import History as History
from engine.planning.options import PlanOptions as PlanOptions
from engine.planning.policy import POLICIES
from engine.planning.rules import PLAN_CHECKS, SITE_CHECKS, VM_CHECKS, lun_checks
from engine.prechecks import check
from engine.protection import (
    Records,
    Site,
    lun_state,
    luns_between,
    map_networks,
    metadata_sources,
    mirror_as_of,
    protection_problems,
    read_foreign,
)
from engine.storage.base import ReplicatedLun, StorageAdapter

# Seconds per operation when no drill history exists (XAPI defaults seen on real pools; the
# simulator's latency model uses the same orders of magnitude).
CALLS_PER_STEP = 4  # a step is its Async call, its event wait, a record read, task.destroy
DEFAULT_OP_SECONDS: dict[str, float] = {
    "storage_action": 10.0,
    "attach_sr": 8.0,
    "open_database": 2.0,
    "recover_vm": 2.0,
    "vm_start": 20.0,
    "vm_clean_shutdown": 15.0,
}


# ---------------------------------------------------------------------------------------------
# Targets
# ---------------------------------------------------------------------------------------------


# The plan's message for each reason `protection_problems` gives.
STORAGE_PROBLEMS = {
    "local-storage": m.LOCAL_STORAGE,
    "not-replicated": m.NOT_REPLICATED,
    "snapshot-not-replicated": m.SNAPSHOT_NOT_REPLICATED,
    "suspend-not-replicated": m.SUSPEND_NOT_REPLICATED,
}


def parse_target(target: str | Sequence[str]) -> list[str]:
    """Split a target ("all", "app:payments, vm:jump-01", a list) into its items."""
    items = [target] if isinstance(target, str) else list(target)
    out: list[str] = []
    for item in items:
        out += [p.strip() for p in re.split(r"[,;\n]+", item) if p.strip()]
    if not out:
        raise TargetNotFound(m.TARGET_EMPTY)
    return out


@dataclass
class _Selection:
    appliances: list[ApplianceInfo] = field(default_factory=list)  # in target order
    vms: list[VMInfo] = field(default_factory=list)  # standalone
    explicit: set[str] = field(default_factory=set)  # uuids named explicitly
    notes: list[Check] = field(default_factory=list)


def select(records: Records, items: list[str], pool_name: str) -> _Selection:
    """Resolve target items against the records: vApps by name or uuid, VMs by name or uuid."""
    sel = _Selection()
    real = records.real_vms()
    apps = list(records.appliances.values())
    if any(i.lower() in ("all", "*", "everything") for i in items):
        sel.appliances = sorted(
            (a for a in apps if any(records.vms.get(v) for v in a.vms)), key=lambda a: a.name_label
        )
        sel.vms = sorted((v for v in real if v.appliance is None), key=lambda v: v.name_label)
        return sel
    for item in items:
        kind, _, name = item.partition(":") if ":" in item else ("", "", item)
        kind = kind.lower()
        found_app = [a for a in apps if name in (a.name_label, a.uuid)] if kind != "vm" else []
        if found_app and kind in ("", "app", "vapp"):
            app = found_app[0]
            if app not in sel.appliances:
                sel.appliances.append(app)
                sel.explicit.add(app.uuid)
            continue
        matches = [v for v in real if name in (v.name_label, v.uuid)] if kind != "app" else []
        if not matches:
            raise TargetNotFound(
                m.TARGET_NOT_FOUND.format(name=m.shown(item), pool=pool_name)
                + _did_you_mean(name, [a.name_label for a in apps] + [v.name_label for v in real])
            )
        if len(matches) > 1:
            raise TargetNotFound(
                m.TARGET_AMBIGUOUS.format(name=m.shown(name), count=len(matches), pool=pool_name)
            )
        vm = matches[0]
        sel.explicit.add(vm.uuid)
        if vm.appliance and vm.appliance in records.appliances:
            app = records.appliances[vm.appliance]
            sel.notes.append(
                Check(
                    name="vapp-whole",
                    status="warning",
                    subject=vm.name_label,
                    message=m.TARGET_IS_MEMBER.format(name=vm.name_label, app=app.name_label),
                )
            )
            if app not in sel.appliances:
                sel.appliances.append(app)
                sel.explicit.add(app.uuid)
        elif vm not in sel.vms:
            sel.vms.append(vm)
    return sel


def _stale_metadata_conflicts(
    f: PlanFacts, sel: _Selection, stale: Records, source: Records
) -> list[Check]:
    """A blocker for each named target the source has but the metadata attached at the DR
    site lacks (that metadata is older than the source: an earlier run's leftover?)."""
    known = {v.uuid for v in stale.vms.values()} | {a.uuid for a in stale.appliances.values()}
    names = {v.uuid: v.name_label for v in source.vms.values()}
    names.update({a.uuid: a.name_label for a in source.appliances.values()})
    srs = ", ".join(sorted({ms.sr_name or ms.sr_uuid for ms in f.metadata})) or "?"
    return [
        check(
            "target-conflict",
            "blocker",
            names.get(uuid, uuid),
            m.TARGET_CONFLICT,
            target=names.get(uuid, uuid),
            src=f.source.name,
            dst=f.dest.name,
            srs=srs,
        )
        for uuid in sorted(sel.explicit - known)
    ]


def _did_you_mean(name: str, known: list[str]) -> str:
    """ " Did you mean 'x'?" for a near miss (case, a typo), else ""."""
    by_lower = {k.lower(): k for k in known if k}
    close = difflib.get_close_matches(name.lower(), list(by_lower), n=3, cutoff=0.75)
    if not close:
        return ""
    return " " + m.TARGET_DID_YOU_MEAN.format(names=" or ".join(repr(by_lower[c]) for c in close))


# ---------------------------------------------------------------------------------------------
# The planner
# ---------------------------------------------------------------------------------------------


def plan(
    kind: Kind | str,
    target: str | Sequence[str],
    *,
    source: Site,
    dest: Site,
    options: PlanOptions | None = None,
    storage: StorageAdapter | Iterable[ReplicatedLun] | None = None,
    history: History | None = None,
    clock: Clock | None = None,
) -> Plan:
    """Plan a run of `kind` for `target`, recovering from `source`'s pool into `dest`'s.

    For test-failover and failover, `source` is the protected pool and `dest` the DR pool; for a
    failback, `source` is the DR pool (where the VMs run now) and `dest` the original pool.

    The steps: the facts of the two sites and the site checks; the LUNs and where the records
    come from; the target resolved against the records; a `VMPlan` per VM with the VM checks;
    the LUNs and metadata the run needs, with the LUN checks; the assembled plan with the plan
    checks (`engine.planning.rules`); the RTO estimate and the hash.

    Raises:
        TargetNotFound: the kind is unknown, or the target names nothing that can be recovered.

    Example:
        p = plan("test-failover", "app:payments", source=prod_site, dest=dr_site,
                 storage=adapter, options=PlanOptions(disable_ha=True))
        if not p.blockers:
            runner.start(p, requested_by="U123")
    """
    options = options or PlanOptions()
    clock = clock or SystemClock()
    if kind not in tuple(Kind):
        raise TargetNotFound(m.KIND_UNKNOWN.format(kind=m.shown(kind)))
    policy = POLICIES[Kind(kind)]
    items = parse_target(target)
    _refuse_same_pool(source, dest)
    f = PlanFacts(
        policy,
        options,
        options.power_after or policy.power_after,
        source,
        dest,
        source_up=source.is_reachable(),
        dest_up=dest.is_reachable(),
    )
    checks = [c for rule in SITE_CHECKS for c in rule(f)]

    luns = luns_between(policy.kind, lun_state(storage), source, dest)
    f.replicated = {lun.sr_uuid for lun in luns}
    f.records, f.metadata = _records(f)
    if f.src_inv is not None:
        checks += _metadata_checks(f.src_inv, f.metadata, f.replicated)
    if f.records is None:
        return _blind(f, items, luns, checks, history, clock)
    records = f.records

    try:
        sel = select(records, items, source.name)
    except TargetNotFound:
        if records.source != "metadata-vdi" or f.src_inv is None:
            raise
        # Targets are the source's: metadata attached at the DR site (perhaps an earlier
        # drill's copy) that lacks one is a conflict to report, not an unknown name.
        stale, records = records, Records.of(f.src_inv, "source-pool")
        f.records = records
        sel = select(records, items, source.name)
        checks += _stale_metadata_conflicts(f, sel, stale, records)
    checks += sel.notes
    if records.source == "metadata-vdi" and f.src_inv is not None:
        checks += _missing_from_metadata(f.src_inv, records, f.replicated)
    if policy.only_failed_over_vms and f.src_inv is not None:
        sel = _failed_over_only(sel, records, f.replicated)

    dst_inv = f.dst_inv
    f.dest_vms = {vm.uuid: vm for vm in dst_inv.vms.values()} if dst_inv else {}
    for dvm in dst_inv.real_vms() if dst_inv else []:
        f.dest_names.setdefault(dvm.name_label, set()).add(dvm.uuid)
    f.lag_cut = mirror_as_of(luns, f.metadata)
    units = _Units(f)
    for app in sel.appliances:
        units.add_appliance(app, app.uuid in sel.explicit, checks)
    for vm in sel.vms:
        units.add_vm(vm, vm.uuid in sel.explicit, checks)
    if not units.apps and not units.standalone:
        checks.append(check("nothing", "blocker", ",".join(items), m.NOTHING_TO_RECOVER))

    # One latest metadata VDI is enough (ties hold the same database, §2.2): prefer one on a LUN
    # the VMs need anyway, so the run attaches no extra LUN just for metadata.
    metadata = f.metadata
    latest = [ms for ms in metadata if ms.latest]
    chosen = next((ms for ms in latest if ms.sr_uuid in units.srs), latest[0] if latest else None)
    if chosen is not None and metadata and chosen is not metadata[0]:
        old_first = metadata[0].vdi_uuid
        metadata = [chosen] + [ms for ms in metadata if ms is not chosen]
        units.repoint(old_first, chosen.vdi_uuid)
    meta_srs = {chosen.sr_uuid} if chosen is not None else set()
    lun_by_sr = {lun.sr_uuid: lun for lun in luns}
    sr_types = {sr.uuid: sr.type for sr in records.srs.values() if sr.type}
    lun_plans = [
        _lun_plan(lun_by_sr[sr], f, meta_srs, sr_types)
        for sr in sorted(units.srs | meta_srs)
        if sr in lun_by_sr
    ]
    checks += lun_checks(lun_plans, f)

    # The pair's map names protected-pool networks; a failback recovers the other way round.
    configured = dict(options.network_map)
    if policy.into_protected_site:
        configured = {**{v: k for k, v in configured.items()}, **configured}
    draft = Plan(
        kind=policy.kind,
        target=",".join(items),
        source_pool=source.name,
        dest_pool=dest.name,
        source_pool_uuid=f.src_inv.pool.uuid if f.src_inv and f.src_inv.pools else "",
        dest_pool_uuid=dst_inv.pool.uuid if dst_inv and dst_inv.pools else "",
        planned=options.planned,
        stop_on_failure=options.stop_on_failure,
        disable_ha=options.disable_ha and policy.needs_ha_off,
        power_after=f.power_after,
        metadata_vdis=metadata,
        luns=lun_plans,
        appliances=units.apps,
        standalone_vms=units.standalone,
        network_map=map_networks(units.networks, dst_inv, configured),
        source_reachable=f.source_up,
    )
    checks += [c for rule in PLAN_CHECKS for c in rule(draft, f)]
    result = draft.model_copy(update={"checks": _dedupe(checks)})
    return _finish(result, options, history, clock, _latency(dest))


def _refuse_same_pool(source: Site, dest: Site) -> None:
    """Never recover a pool into itself (reference §5.2.5), under one name or two."""
    if source.name == dest.name:
        raise TargetNotFound(m.SAME_POOL.format(pool=source.name))
    src_inv, dst_inv = source.inventory, dest.inventory
    if (
        src_inv is not None
        and dst_inv is not None
        and src_inv.pools
        and dst_inv.pools
        and src_inv.pool.uuid == dst_inv.pool.uuid
    ):
        raise TargetNotFound(
            m.SAME_POOL_UUID.format(src=source.name, dst=dest.name, uuid=src_inv.pool.uuid)
        )


def _records(f: PlanFacts) -> tuple[Records | None, list[MetadataSource]]:
    """Where the VMs' records come from (see the module docstring), and the metadata VDIs."""
    src_inv, dst_inv = f.src_inv, f.dst_inv
    metadata: list[MetadataSource] = []
    records: Records | None = None
    if f.options.read_metadata and dst_inv is not None and f.dest_up and src_inv is not None:
        records, metadata = _attached_metadata(dst_inv, src_inv, f.replicated)
    if records is None and src_inv is not None:
        records = Records.of(src_inv, "source-pool")
    if not metadata and src_inv is not None:
        metadata = metadata_sources(src_inv, f.policy.kind, dst_inv)
    return records, metadata


def _blind(
    f: PlanFacts,
    items: list[str],
    luns: list[ReplicatedLun],
    checks: list[Check],
    history: History | None,
    clock: Clock,
) -> Plan:
    """Nothing known of the source: recover whatever the latest metadata VDI holds."""
    if any(i.lower() not in ("all", "*", "everything") for i in items):
        checks.append(check("target-unresolvable", "blocker", ",".join(items), m.TARGET_BLIND))
    checks.append(check("records", "warning", f.source.name, m.RECORDS_UNREAD))
    lun_plans = [_lun_plan(lun, f, set()) for lun in luns]
    dst_inv = f.dst_inv
    blind = Plan(
        kind=f.policy.kind,
        target=",".join(items),
        source_pool=f.source.name,
        dest_pool=f.dest.name,
        dest_pool_uuid=dst_inv.pool.uuid if dst_inv and dst_inv.pools else "",
        planned=f.options.planned,
        stop_on_failure=f.options.stop_on_failure,
        power_after=f.power_after,
        luns=lun_plans,
        checks=checks + lun_checks(lun_plans, f),
        source_reachable=f.source_up,
    )
    return _finish(blind, f.options, history, clock, _latency(f.dest))


def _latency(site: Site) -> float | None:
    return site.client.latency if site.client else None


def _failed_over_only(sel: _Selection, records: Records, replicated: set[str]) -> _Selection:
    """Only VMs that live on the failed-over LUNs go back; the DR pool's own VMs stay (unless
    named)."""

    def on_replicated(vm: VMInfo) -> bool:
        return {sr.uuid for sr in records.disk_srs(vm)} <= replicated

    sel.appliances = [
        a
        for a in sel.appliances
        if all(on_replicated(records.vms[v]) for v in a.vms if v in records.vms)
        or a.uuid in sel.explicit
    ]
    sel.vms = [
        v for v in sel.vms if (records.disk_srs(v) and on_replicated(v)) or v.uuid in sel.explicit
    ]
    return sel


class _Units:
    """The vApps and standalone VMs the plan recovers, built one by one with their checks,
    and what they need: SRs (by uuid) and networks (by name)."""

    def __init__(self, f: PlanFacts) -> None:
        assert f.records is not None
        self.f = f
        self.records: Records = f.records
        self.apps: list[AppliancePlan] = []
        self.standalone: list[VMPlan] = []
        self.srs: set[str] = set()
        self.networks: dict[str, NetworkInfo] = {}
        dst_inv = f.dst_inv
        self.dest_apps = {a.uuid for a in dst_inv.appliances.values()} if dst_inv else set()

    @property
    def metadata_vdi(self) -> str | None:
        f = self.f
        return self.records.metadata_vdi_uuid or (f.metadata[0].vdi_uuid if f.metadata else None)

    def add_appliance(self, app: ApplianceInfo, named: bool, checks: list[Check]) -> None:
        records = self.records
        members = sorted(
            (records.vms[v] for v in app.vms if v in records.vms and records.vms[v].is_real),
            key=lambda v: (v.order, v.name_label),
        )
        prefix = f"{app.name_label}/"
        if self._storage_checks(members, named, prefix, m.LEFT_OUT_APP, checks) == "warning":
            return
        groups: dict[int, list[VMPlan]] = {}
        for vm in members:
            groups.setdefault(vm.order, []).append(self._vm(vm, checks))
        # A copy of the vApp at the destination is replaced, unless a member already blocks.
        names = {v.name_label for v in members}
        if app.uuid in self.dest_apps and not any(
            c.subject in names and c.status == "blocker" for c in checks
        ):
            dest = self.f.dest.name
            checks.append(
                check("existing-vapp", "warning", app.name_label, m.EXISTING_VAPP, pool=dest)
            )
        self.apps.append(
            AppliancePlan(
                uuid=app.uuid,
                name=app.name_label,
                metadata_vdi_uuid=self.metadata_vdi,
                order_groups=[groups[k] for k in sorted(groups)],
            )
        )

    def add_vm(self, vm: VMInfo, named: bool, checks: list[Check]) -> None:
        if self._storage_checks([vm], named, "", m.LEFT_OUT_VM, checks) == "warning":
            return
        self.standalone.append(self._vm(vm, checks))

    def repoint(self, old: str, new: str) -> None:
        """Read metadata VDI `new` where the plans said `old`."""
        self.apps, self.standalone = _repoint(self.apps, self.standalone, old, new)

    def _vm(self, vm: VMInfo, checks: list[Check]) -> VMPlan:
        f, records = self.f, self.records
        srs = records.disk_srs(vm)
        nets = records.networks_of(vm)
        for net in nets:
            self.networks.setdefault(net.name_label, net)
        existing = f.dest_vms.get(vm.uuid)
        # A suspended VM comes back suspended (§2.6) and VM.start would fail on it (§7.13);
        # with mirror_power_state, a VM that was off in production stays off.
        vm_power: PowerAfter = f.power_after
        if vm.power_state == "Suspended" or (
            f.options.mirror_power_state and vm.power_state == "Halted"
        ):
            vm_power = "leave-off"
        state: ExistingInDest = "none"
        if existing is not None:
            state = "newer-or-equal" if existing.version >= vm.version else "older"
        vp = VMPlan(
            uuid=vm.uuid,
            name=vm.name_label,
            appliance_uuid=records.appliances[vm.appliance].uuid
            if vm.appliance in records.appliances
            else None,
            order=vm.order,
            start_delay=vm.start_delay,
            shutdown_delay=vm.shutdown_delay,
            memory_bytes=vm.memory_needed,
            vcpus=vm.vcpus_max,
            version=vm.version,
            power_state_at_source=vm.power_state,
            record_source=records.source,
            metadata_vdi_uuid=self.metadata_vdi,
            sr_uuids=sorted(sr.uuid for sr in srs),
            networks=sorted(n.name_label for n in nets),
            existing_in_dest=state,
            existing_power_state=existing.power_state if existing else None,
            power_after=vm_power,
        )
        checks += [c for rule in VM_CHECKS for c in rule(vm, f)]
        self.srs.update(vp.sr_uuids)
        return vp

    def _storage_checks(
        self, vms: list[VMInfo], named: bool, prefix: str, left_out: str, checks: list[Check]
    ) -> CheckStatus | None:
        """A check per disk of `vms` that cannot be recovered: a blocker when the person named
        the target, else a warning saying it is left out (`left_out`). Returns the status
        given (None: every disk is recoverable)."""
        problems = [
            (vm.name_label, code, sr, whose)
            for vm in vms
            for code, sr, whose in protection_problems(self.records, vm, self.f.replicated)
        ]
        if not problems:
            return None
        status: CheckStatus = "blocker" if named else "warning"
        for vm_name, code, sr, whose in problems:
            checks.append(
                check(
                    f"storage-{code}",
                    status,
                    f"{prefix}{vm_name}",
                    STORAGE_PROBLEMS[code],
                    sr=sr,
                    whose=whose,
                    left_out=left_out if status == "warning" else m.NAMED_BLOCKER,
                )
            )
        return status


def _repoint(
    apps: list[AppliancePlan], vms: list[VMPlan], old: str, new: str
) -> tuple[list[AppliancePlan], list[VMPlan]]:
    """The same plans with metadata VDI `old` replaced by `new`."""

    def vm(v: VMPlan) -> VMPlan:
        return v.model_copy(update={"metadata_vdi_uuid": new}) if v.metadata_vdi_uuid == old else v

    return (
        [
            a.model_copy(
                update={
                    "metadata_vdi_uuid": new if a.metadata_vdi_uuid == old else a.metadata_vdi_uuid,
                    "order_groups": [[vm(v) for v in g] for g in a.order_groups],
                }
            )
            for a in apps
        ],
        [vm(v) for v in vms],
    )


def _missing_from_metadata(src: Inventory, records: Records, replicated: set[str]) -> list[Check]:
    """VMs the source has on replicated storage that the replicated metadata does not hold yet."""
    known = {vm.uuid for vm in records.vms.values()}
    src_records = Records.of(src, "source-pool")
    return [
        check("missing-from-metadata", "warning", vm.name_label, m.MISSING_FROM_METADATA)
        for vm in sorted(src_records.real_vms(), key=lambda v: v.name_label)
        if vm.uuid not in known and not protection_problems(src_records, vm, replicated)
    ]


def _dedupe(checks: list[Check]) -> list[Check]:
    seen: set[tuple[str, str, str]] = set()
    out = []
    for c in checks:
        key = (c.name, c.subject, c.message)
        if key not in seen:
            seen.add(key)
            out.append(c)
    return out


def _lun_plan(
    lun: ReplicatedLun, f: PlanFacts, meta_srs: set[str], sr_types: dict[str, str] | None = None
) -> LunPlan:
    """What the run does with one LUN. `device_config` is the mirror's; a test failover attaches
    the test copy with the device config `present_test_copy` returns instead."""
    return LunPlan(
        lun=lun.lun,
        sr_uuid=lun.sr_uuid,
        sr_name=lun.name,
        sr_type=(sr_types or {}).get(lun.sr_uuid, "lvmoiscsi"),
        state=lun.state,
        lag_seconds=lun.lag_seconds if lun.pending_writes != 0 else 0.0,
        action=f.policy.lun_action,
        device_config=dict(
            (lun.test_copy_device_config or lun.mirror_device_config)
            if f.policy.attaches == "test-copy"
            else lun.mirror_device_config
        ),
        holds_metadata=lun.sr_uuid in meta_srs,
    )


def _attached_metadata(
    dst: Inventory, src: Inventory, replicated: set[str]
) -> tuple[Records | None, list[MetadataSource]]:
    """Read the source's metadata from a metadata VDI already attached at `dst`: one marked
    metadata_latest first; then any (today's xapi marks none on an SR it attached without a
    plug that read it, docs/xapi-behaviours.md), the database read telling whose it is."""
    candidates = []
    for vdi in dst.vdis.values():
        sr = dst.srs.get(vdi.sr or "")
        if (
            vdi.type != "metadata"
            or sr is None
            or sr.uuid not in replicated
            or not dst.sr_attached(sr)
            or vdi.metadata_of_pool == dst.pool.ref
        ):
            continue
        candidates.append((sr, vdi))
    order = sorted(candidates, key=lambda c: (not c[1].metadata_latest, c[0].name_label, c[1].uuid))
    for sr, vdi in order:
        try:
            records = read_foreign(dst.client, vdi.ref, vdi.uuid)
        except XapiError:
            continue
        if records.pool_uuid != src.pool.uuid:
            continue
        source = MetadataSource(
            vdi_uuid=vdi.uuid,
            sr_uuid=sr.uuid,
            sr_name=sr.name_label,
            pool_uuid=records.pool_uuid,
            pool_name=src.pool.name_label or src.name,
            latest=True,
            read=True,
        )
        return records, [source]
    return None, []


def _metadata_checks(
    src: Inventory, metadata: list[MetadataSource], replicated: set[str]
) -> list[Check]:
    if not metadata:
        return [check("metadata", "blocker", src.name, m.NO_METADATA, pool=src.name)]
    latest = [ms for ms in metadata if ms.latest]
    if not latest:
        return [check("metadata", "blocker", src.name, m.METADATA_STALE, pool=src.name)]
    if replicated and not any(ms.sr_uuid in replicated for ms in latest):
        return [
            check("metadata", "blocker", ms.sr_name, m.METADATA_NOT_REPLICATED, sr=ms.sr_name)
            for ms in latest
        ]
    return [check("metadata", "ok", src.name, "Metadata is replicated.")]


def _finish(
    result: Plan,
    options: PlanOptions,
    history: History | None,
    clock: Clock,
    latency: float | None = None,
) -> Plan:
    rto, basis = estimate_rto(result, options, history, latency)
    result = result.model_copy(
        update={"estimated_rto_seconds": rto, "rto_basis": basis, "generated_at": clock.now()}
    )
    return result.sealed()


def estimate_rto(
    p: Plan, options: PlanOptions, history: History | None = None, latency: float | None = None
) -> tuple[float, str]:
    """Seconds from start to every VM up: from drill history if there is some, else a model.

    The model follows the run's shape, each step costing its typical duration plus a few round
    trips at the `latency` seen on the destination's connection: storage actions and SR
    attaches per LUN, recoveries `concurrency` at a time, then the longest vApp chain (per order
    group, the start time plus the group's longest start delay) against the standalone starts.
    """
    if history is not None:
        past = [float(x) for x in history(p.kind, p.source_pool, p.dest_pool) if x and x > 0]
        if past:
            recent = past[-5:]
            basis = (
                m.RTO_FROM_LAST if len(recent) == 1 else m.RTO_FROM_HISTORY.format(n=len(recent))
            )
            return float(statistics.median(recent)), basis
    op = {**DEFAULT_OP_SECONDS, **options.op_seconds}
    par = max(1, options.concurrency)
    # Every step is a few XAPI round trips; over a slow WAN link those add up.
    rtt = latency or 0.0
    op = {k: v + CALLS_PER_STEP * rtt for k, v in op.items()}
    n_units = len(p.appliances) + len(p.standalone_vms)
    total = len(p.luns) * op["storage_action"] / par + len(p.luns) * op["attach_sr"]
    total += op["open_database"] + -(-n_units // par) * op["recover_vm"]
    if p.planned and POLICIES[p.kind].syncs_when_planned:
        total += op["vm_clean_shutdown"] + op["storage_action"]
    if p.power_after != "leave-off":
        chains = [
            sum(op["vm_start"] + max(v.start_delay for v in group) for group in app.order_groups)
            for app in p.appliances
        ]
        standalone = -(-len(p.standalone_vms) // par) * op["vm_start"] if p.standalone_vms else 0
        total += max([*chains, standalone, 0.0])
    return round(total, 1), m.RTO_FROM_MODEL.format(par=par, rtt=round(rtt * 1000, 1))
