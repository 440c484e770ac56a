"""Plans for test-failover, failover and failback: the dry run, with no side effects.

`plan(kind, target, source=..., dest=..., ...)` decides which LUNs the storage adapter must
present, promote or reverse, which metadata VDIs the run reads, which vApps (with their order
groups and start delays) and standalone VMs it recovers, what it does with them afterwards, where
their networks land, and every pre-check that could make the run fail or do harm. It reads the
pools' inventories and the storage adapter's state; it never changes a pool.

Where a VM's record comes from (the question of reading foreign metadata) is told in
`engine.planning.records`: a metadata VDI already attached at the destination, else the source
pool's live record, else nothing ("recover what the latest metadata VDI holds").

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

Selection rules (`engine.planning.targets`): a vApp is recovered whole (`VM_appliance.recover`);
naming a member VM selects its vApp and says so. With target "all", VMs that cannot be recovered
(a disk on local or non-replicated storage) are left out with a warning; named explicitly, they
are a blocker.

How it is built
---------------
`plan` reads no kind names: what differs between kinds is data in `engine.planning.policy`
(one `KindPolicy` each), and every check is a small function in `engine.planning.rules`, run
from one of its ordered lists (site, source, records, VM, LUN, assembled plan) against the
`PlanFacts` gathered once. A new check is a function added to a list; a new difference between
kinds is a policy field. What remains here is the assembly: the order of the steps, the
`VMPlan` / `AppliancePlan` / `LunPlan` of each thing recovered, and the hash
(`engine.planning.rto` estimates the RTO).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from engine import capacity
from engine import messages as m
from engine.clock import Clock, SystemClock
from engine.errors import TargetNotFound
from engine.models import (
    ApplianceInfo,
    AppliancePlan,
    Check,
    CheckStatus,
    ExistingInDest,
    Kind,
    LunPlan,
    NetworkInfo,
    Plan,
    PowerAfter,
    VMInfo,
    VMPlan,
)
from engine.planning import rules
from engine.planning.facts import PlanFacts
from engine.planning.options import History as History
from engine.planning.options import PlanOptions as PlanOptions
from engine.planning.policy import POLICIES
from engine.planning.records import records_and_metadata
from engine.planning.rto import estimate_rto as estimate_rto
from engine.planning.targets import EVERYTHING, failed_over_only, parse_target, select
from engine.prechecks import check
from engine.protection import (
    Records,
    Site,
    lun_state,
    luns_between,
    map_networks,
    mirror_as_of,
)
from engine.storage.base import ReplicatedLun, StorageAdapter

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
    checks = [c for rule in rules.SITE_CHECKS for c in rule(f)]

    luns = luns_between(policy.kind, lun_state(storage), source, dest)
    f.replicated = {lun.sr_uuid for lun in luns}
    f.records, f.metadata = records_and_metadata(f)
    checks += [c for rule in rules.SOURCE_CHECKS for c in rule(f)]
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
        checks += rules.target_conflicts(f, sel.explicit, stale, records)
    checks += sel.notes
    checks += [c for rule in rules.RECORD_CHECKS for c in rule(f)]
    if policy.only_failed_over_vms and f.src_inv is not None:
        sel = failed_over_only(sel, records, f.replicated)

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
    checks += rules.lun_checks(lun_plans, f)

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
    checks += [c for rule in rules.PLAN_CHECKS for c in rule(draft, f)]
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


def _blind(
    f: PlanFacts,
    items: list[str],
    luns: list[ReplicatedLun],
    checks: list[Check],
    history: History | None,
    clock: Clock,
) -> Plan:
    """Nothing known of the source: recover whatever the latest metadata VDI holds."""
    if any(i.lower() not in EVERYTHING for i in items):
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
        checks=checks + rules.lun_checks(lun_plans, f),
        source_reachable=f.source_up,
    )
    return _finish(blind, f.options, history, clock, _latency(f.dest))


def _latency(site: Site) -> float | None:
    return site.client.latency if site.client else None


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
        left_out = m.LEFT_OUT_APP.format(app=app.name_label)
        if self._storage_checks(members, named, prefix, left_out, checks) == "warning":
            checks += rules.left_out_with_vapp(app.name_label, members, records, self.f)
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
        if not capacity.starts_with_failover(
            vm.power_state, mirror_power_state=f.options.mirror_power_state
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
            memory_bytes=capacity.vm_start_bytes(vm),
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
        checks += [c for rule in rules.VM_CHECKS for c in rule(vm, f)]
        self.srs.update(vp.sr_uuids)
        return vp

    def _storage_checks(
        self, vms: list[VMInfo], named: bool, prefix: str, left_out: str, checks: list[Check]
    ) -> CheckStatus | None:
        """The `rules.unrecoverable_disks` checks of `vms`, added to `checks`; returns their
        status (None: every disk is recoverable)."""
        found = rules.unrecoverable_disks(
            vms, self.records, self.f, named=named, prefix=prefix, left_out=left_out
        )
        checks += found
        return found[0].status if found else None


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
