"""Every check a plan runs, as small functions in ordered lists.

- `SITE_CHECKS(facts)`: the two pools, before anything is read of them.
- `SOURCE_CHECKS(facts)`: the source's metadata VDIs, once they are known.
- `RECORD_CHECKS(facts)`: the records the plan recovers from, once the target is resolved.
- `VM_CHECKS(vm, facts)`: each VM the plan recovers.
- `LUN_CHECKS(lun, facts)`: each LUN the run acts on (and `no_luns` for none at all).
- `PLAN_CHECKS(draft, facts)`: the assembled plan against the pools (fate-sharing VMs, SRs the
  destination knows, the destination's licence, HA and capacity, where networks land).

A check reads the facts (`engine.planning.facts.PlanFacts`) and the kind's policy
(`engine.planning.policy`), never a pool, and returns the `Check`s it finds (none: nothing to
say). The lists' order is the order a person reads the checks in. To add a check, write it
here and put it in its list: the planner runs whatever the lists hold.

Two checks depend on what the target selected, so the planner calls them by name where it
resolves the target: `target_conflicts` (a named target the attached metadata lacks) and
`unrecoverable_disks` (a disk the run cannot bring back: a blocker when the person named the
VM, else the VM is left out with a warning).
"""

from __future__ import annotations

from collections.abc import Callable

from engine import messages as m
from engine.models import Check, CheckStatus, LunPlan, Plan, VMInfo
from engine.planning.facts import PlanFacts
from engine.prechecks import (
    check,
    dest_checks,
    fate_sharing_checks,
    known_sr_checks,
    network_checks,
)
from engine.protection import Records, created_inside_lag, protection_problems

SiteCheck = Callable[[PlanFacts], list[Check]]
VMCheck = Callable[[VMInfo, PlanFacts], list[Check]]
LunCheck = Callable[[LunPlan, PlanFacts], list[Check]]
PlanCheck = Callable[[Plan, PlanFacts], list[Check]]

# Power states XenCenter's source pre-check counts as a live copy (reference §5.2.6 b).
LIVE_AT_SOURCE = ("Running", "Paused", "Suspended")


# ---------------------------------------------------------------------------------------------
# The two pools
# ---------------------------------------------------------------------------------------------


def dest_reachable(f: PlanFacts) -> list[Check]:
    """The destination must answer and let drbot in: a run cannot start anywhere else."""
    dest = f.dest
    if dest.unusable:
        return [
            check(
                "dest-reachable",
                "blocker",
                dest.name,
                m.DEST_UNUSABLE,
                pool=dest.name,
                error=str(dest.error),
            )
        ]
    if f.dst_inv is None or not f.dest_up:
        return [check("dest-reachable", "blocker", dest.name, m.DEST_UNREACHABLE, pool=dest.name)]
    return []


def source_reachable(f: PlanFacts) -> list[Check]:
    """A source drbot cannot use may be up and running the VMs: never let this pass for a lost
    site. A source that does not answer is said, with when it was last seen."""
    source, src_inv = f.source, f.src_inv
    if source.unusable:
        return [
            check(
                "source-unusable",
                f.policy.source_unusable,
                source.name,
                f.policy.source_unusable_message,
                pool=source.name,
                error=str(source.error),
            )
        ]
    if not f.source_up:
        return [
            check(
                "source-reachable",
                f.policy.source_unreachable,
                source.name,
                m.SOURCE_UNREACHABLE_SEEN if src_inv is not None else m.SOURCE_UNKNOWN,
                pool=source.name,
                when=src_inv.changed_at.isoformat(timespec="seconds")
                if src_inv is not None and src_inv.changed_at
                else "never",
            )
        ]
    return []


def planned_needs_source(f: PlanFacts) -> list[Check]:
    """A planned run shuts the source down and syncs first: without the source it cannot."""
    if f.syncs_first and not f.source_up:
        return [check("planned-needs-source", "blocker", f.source.name, m.PLANNED_NEEDS_SOURCE)]
    return []


# ---------------------------------------------------------------------------------------------
# The source's metadata and records
# ---------------------------------------------------------------------------------------------


def metadata(f: PlanFacts) -> list[Check]:
    """The source must write its metadata to a replicated SR, and one VDI must be the latest."""
    src = f.src_inv
    if src is None:
        return []
    if not f.metadata:
        return [check("metadata", "blocker", src.name, m.NO_METADATA, pool=src.name)]
    latest = [ms for ms in f.metadata if ms.latest]
    if not latest:
        return [check("metadata", "blocker", src.name, m.METADATA_STALE, pool=src.name)]
    if f.replicated and not any(ms.sr_uuid in f.replicated for ms in latest):
        return [
            check("metadata", "blocker", ms.sr_name, m.METADATA_NOT_REPLICATED, sr=ms.sr_name)
            for ms in latest
        ]
    return [check("metadata", "ok", src.name, "Metadata is replicated.")]


def missing_from_metadata(f: PlanFacts) -> list[Check]:
    """VMs the source has on replicated storage that the replicated metadata (read at the
    destination) does not hold yet."""
    records, src = f.records, f.src_inv
    if records is None or records.source != "metadata-vdi" or src is None:
        return []
    known = {vm.uuid for vm in records.vms.values()}
    src_records = Records.of(src, "source-pool")
    return [
        check("missing-from-metadata", "warning", vm.name_label, m.MISSING_FROM_METADATA)
        for vm in sorted(src_records.real_vms(), key=lambda v: v.name_label)
        if vm.uuid not in known and not protection_problems(src_records, vm, f.replicated)
    ]


def target_conflicts(
    f: PlanFacts, explicit: set[str], stale: Records, source: Records
) -> list[Check]:
    """A blocker for each named target (`explicit` uuids) that the `source` pool's records have
    but the metadata attached at the DR site (`stale`) lacks: that metadata is older than the
    source, an earlier run's leftover?"""
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
        for uuid in sorted(explicit - known)
    ]


# The plan's message for each reason `protection_problems` gives.
STORAGE_PROBLEMS = {
    "local-storage": m.LOCAL_STORAGE,
    "not-replicated": m.NOT_REPLICATED,
    "snapshot-not-replicated": m.SNAPSHOT_NOT_REPLICATED,
    "suspend-not-replicated": m.SUSPEND_NOT_REPLICATED,
}


def unrecoverable_disks(
    vms: list[VMInfo], records: Records, f: PlanFacts, *, named: bool, prefix: str, left_out: str
) -> list[Check]:
    """A check per disk of `vms` that cannot be recovered: a blocker when the person named the
    target, else a warning saying it is left out (`left_out`); subjects are `prefix` + the VM's
    name. All the checks returned share one status."""
    status: CheckStatus = "blocker" if named else "warning"
    return [
        check(
            f"storage-{code}",
            status,
            f"{prefix}{vm.name_label}",
            STORAGE_PROBLEMS[code],
            sr=sr,
            whose=whose,
            left_out=left_out if status == "warning" else m.NAMED_BLOCKER,
        )
        for vm in vms
        for code, sr, whose in protection_problems(records, vm, f.replicated)
    ]


def left_out_with_vapp(
    app_name: str, members: list[VMInfo], records: Records, f: PlanFacts
) -> list[Check]:
    """For a vApp left out because some member cannot be recovered: a warning per other
    member (subject `vApp/VM`) naming the member that keeps it out and why, so no VM is told
    of a disk as if it were its own (`VM_appliance.recover` takes the vApp whole)."""
    blocking = [
        (vm, code, sr, whose)
        for vm in members
        for code, sr, whose in protection_problems(records, vm, f.replicated)
    ]
    if not blocking:
        return []
    first, code, sr, whose = blocking[0]
    problem = m.MEMBER_PROBLEMS[code].format(sr=sr, whose=whose)
    bad = {vm.uuid for vm, *_ in blocking}
    return [
        check(
            "vapp-left-out",
            "warning",
            f"{app_name}/{vm.name_label}",
            m.LEFT_OUT_WITH_VAPP,
            app=app_name,
            vm=first.name_label,
            problem=problem,
        )
        for vm in members
        if vm.uuid not in bad
    ]


# ---------------------------------------------------------------------------------------------
# Each VM
# ---------------------------------------------------------------------------------------------


def existing_copy(vm: VMInfo, f: PlanFacts) -> list[Check]:
    """A copy with the same uuid at the destination (XenCenter §5.2.6 c, with the version rule
    §5.4): newer or equal blocks (a person decides), running blocks (`force` would skip it),
    older and halted is replaced."""
    existing = f.dest_vms.get(vm.uuid)
    if existing is None:
        return []
    if existing.version >= vm.version:
        return [
            check(
                "existing-newer",
                "blocker",
                vm.name_label,
                m.EXISTING_NEWER,
                pool=f.dest.name,
                have=existing.version,
                incoming=vm.version,
            )
        ]
    if existing.power_state != "Halted":
        return [
            check(
                "existing-running",
                "blocker",
                vm.name_label,
                m.EXISTING_RUNNING,
                pool=f.dest.name,
                state=existing.power_state,
            )
        ]
    return [
        check("existing-replaced", "warning", vm.name_label, m.EXISTING_REPLACED, pool=f.dest.name)
    ]


def split_brain(vm: VMInfo, f: PlanFacts) -> list[Check]:
    """A live copy at a reachable source. XenCenter counts Running, Paused and Suspended as
    "is running on pool" (reference §5.2.6 b): a suspended VM resumed later is as much a second
    copy as a running one. A planned run shuts it down first, so there it is only said."""
    if not (f.policy.split_brain_guard and f.source_up and vm.power_state in LIVE_AT_SOURCE):
        return []
    state = vm.power_state.lower().capitalize()
    if f.options.planned:
        return [check("source-running", "ok", vm.name_label, m.SOURCE_RUNNING_PLANNED, state=state)]
    return [
        check(
            "split-brain", "blocker", vm.name_label, m.SPLIT_BRAIN, pool=f.source.name, state=state
        )
    ]


def name_conflict(vm: VMInfo, f: PlanFacts) -> list[Check]:
    """Another VM of the same name at the destination: people and scripts will confuse them."""
    if f.dest_names.get(vm.name_label, set()) - {vm.uuid}:
        return [check("name-conflict", "warning", vm.name_label, m.NAME_CONFLICT, pool=f.dest.name)]
    return []


def test_duplicate(vm: VMInfo, f: PlanFacts) -> list[Check]:
    """A test copy started while the original runs duplicates it on the network."""
    if (
        f.policy.warns_test_duplicate
        and f.power_after == "start"
        and f.source_up
        and vm.power_state in ("Running", "Paused")
    ):
        return [check("test-duplicate", "warning", vm.name_label, m.TEST_DUPLICATE)]
    return []


def suspended(vm: VMInfo, f: PlanFacts) -> list[Check]:
    """A suspended VM comes back suspended (§2.6) and is left off."""
    if vm.power_state == "Suspended":
        return [check("suspended", "warning", vm.name_label, m.SUSPENDED)]
    return []


def inside_lag(vm: VMInfo, f: PlanFacts) -> list[Check]:
    """Created inside the replication lag: not on the mirror yet (a planned run syncs first)."""
    if (
        f.records is None
        or f.records.source != "source-pool"
        or f.lag_cut is None
        or not created_inside_lag(vm.install_time, f.lag_cut)
    ):
        return []
    synced = f.syncs_first
    return [
        check(
            "inside-lag",
            "ok" if synced else "warning",
            vm.name_label,
            m.INSIDE_LAG_PLANNED if synced else m.INSIDE_LAG,
            since=f.lag_cut.isoformat(timespec="seconds"),
        )
    ]


# ---------------------------------------------------------------------------------------------
# Each LUN
# ---------------------------------------------------------------------------------------------


def no_luns(luns: list[LunPlan]) -> list[Check]:
    """A run with no replicated LUN has nothing to recover from."""
    return [] if luns else [check("luns", "blocker", "storage", m.NO_LUNS)]


def lun_state(lp: LunPlan, f: PlanFacts) -> list[Check]:
    """The LUN must be in a state the kind's storage action starts from."""
    if lp.state in f.policy.lun_states:
        return []
    return [
        check(
            "lun-state",
            "blocker",
            lp.sr_name or lp.lun,
            m.LUN_STATE,
            lun=lp.lun,
            state=lp.state,
            want=" or ".join(sorted(f.policy.lun_states)),
        )
    ]


def metadata_in_flight(lp: LunPlan, f: PlanFacts) -> list[Check]:
    """Writes still in flight to the LUN holding the metadata: the newest changes may be
    missing from what the run reads (a planned run syncs them first)."""
    if lp.holds_metadata and lp.lag_seconds and f.policy.watches_lag and not f.syncs_first:
        return [
            check(
                "metadata-in-flight",
                "warning",
                lp.sr_name or lp.lun,
                m.METADATA_IN_FLIGHT,
                lag=round(lp.lag_seconds),
            )
        ]
    return []


def rpo(lp: LunPlan, f: PlanFacts) -> list[Check]:
    """Replication lag beyond the configured limit: that much recent work would be lost."""
    limit = f.options.max_lag_seconds
    if (
        lp.state in f.policy.lun_states
        and lp.lag_seconds
        and lp.lag_seconds > limit
        and f.policy.watches_lag
    ):
        return [
            check(
                "rpo",
                "warning",
                lp.sr_name or lp.lun,
                m.LAG_HIGH,
                lag=round(lp.lag_seconds),
                limit=round(limit),
            )
        ]
    return []


# ---------------------------------------------------------------------------------------------
# The assembled plan
# ---------------------------------------------------------------------------------------------


def fate_sharing(draft: Plan, f: PlanFacts) -> list[Check]:
    """VMs left live at the source on a LUN whose replication the run stops or turns."""
    src = f.src_inv
    if not f.policy.stops_replication or src is None or not f.source_up:
        return []
    planned = {vm.uuid for vm in draft.vms}
    return fate_sharing_checks(f.policy.kind, src, draft.luns, planned, f.source.name)


def known_srs(draft: Plan, f: PlanFacts) -> list[Check]:
    """SRs of the run's LUNs that the destination already knows."""
    if f.dst_inv is None:
        return []
    return known_sr_checks(f.dst_inv, draft.luns, home=f.policy.into_protected_site)


def destination(draft: Plan, f: PlanFacts) -> list[Check]:
    """The destination's licence, HA, live hosts and memory."""
    if f.dst_inv is None:
        return []
    return dest_checks(
        f.dst_inv,
        draft.vms,
        draft.power_after,
        needs_ha_off=f.policy.needs_ha_off,
        disable_ha=f.options.disable_ha,
        has_apps=bool(draft.appliances),
    )


def networks(draft: Plan, f: PlanFacts) -> list[Check]:
    """Where each network lands; a missing one names the pair whose map would fix it."""
    if f.dst_inv is None:
        return []
    protected = f.dest.name if f.policy.into_protected_site else f.source.name
    return network_checks(draft.network_map, dest=f.dest.name, protected=protected)


SITE_CHECKS: list[SiteCheck] = [dest_reachable, source_reachable, planned_needs_source]
SOURCE_CHECKS: list[SiteCheck] = [metadata]
RECORD_CHECKS: list[SiteCheck] = [missing_from_metadata]
VM_CHECKS: list[VMCheck] = [
    existing_copy,
    split_brain,
    name_conflict,
    test_duplicate,
    suspended,
    inside_lag,
]
LUN_CHECKS: list[LunCheck] = [lun_state, metadata_in_flight, rpo]
PLAN_CHECKS: list[PlanCheck] = [fate_sharing, known_srs, destination, networks]


def lun_checks(luns: list[LunPlan], f: PlanFacts) -> list[Check]:
    """`no_luns`, then `LUN_CHECKS` LUN by LUN."""
    return no_luns(luns) + [c for lp in luns for rule in LUN_CHECKS for c in rule(lp, f)]
