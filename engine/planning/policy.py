"""What each kind of run is, as data: one `KindPolicy` per `Kind`.

The planner and its checks never ask "is this a failover?"; they ask the policy the question
they mean ("does it guard against split brain?", "does it recover into the protected site?").
A new difference between kinds is a new field here, set for each kind, so the three kinds can
be compared side by side in one table.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from engine import messages as m
from engine.models import CheckStatus, Kind, LunAction, PowerAfter


@dataclass(frozen=True)
class KindPolicy:
    """How one kind of run plans.

    What it reads:
        attaches: which copy of each replicated LUN the run attaches: a presented "test-copy"
            (the mirror keeps replicating) or the "mirror" itself.
        lun_action: what the storage adapter does to each LUN first.
        lun_states: the LUN states the run can start from; any other is a blocker.
    Where it recovers to:
        recovers_into: "dr-site" (the source is the protected pool) or "protected-site" (a
            failback: the source is the DR pool, the destination the original one).
    What power state ends it:
        power_after: the VMs' power after recovery unless the person chose otherwise.
    Which checks apply:
        source_unusable / source_unusable_message: the check's status when drbot cannot use
            the source (it may still be running the VMs), and what it says.
        source_unreachable: the check's status when the source does not answer.
        split_brain_guard: a VM live at a reachable source is a blocker (unless planned).
        warns_test_duplicate: a VM started from a test copy duplicates one running at the
            source (its addresses, its jobs): warn.
        syncs_when_planned: a planned run shuts the source down and syncs the mirrors first,
            so the source must answer, and replication lag will be caught up.
        watches_lag: replication lag and metadata writes in flight are reported.
        needs_ha_off: HA on at the destination blocks the run unless the run turns it off
            (reference §5.2.6 a).
        only_failed_over_vms: of the target, only VMs whose disks are all on the replicated
            LUNs go (the destination's own VMs stay where they are).
    """

    kind: Kind
    attaches: Literal["test-copy", "mirror"]
    lun_action: LunAction
    lun_states: frozenset[str]
    recovers_into: Literal["dr-site", "protected-site"]
    power_after: PowerAfter
    source_unusable: CheckStatus
    source_unusable_message: str
    source_unreachable: CheckStatus
    split_brain_guard: bool
    warns_test_duplicate: bool
    syncs_when_planned: bool
    watches_lag: bool
    needs_ha_off: bool
    only_failed_over_vms: bool

    @property
    def into_protected_site(self) -> bool:
        """Whether the destination is the protected pool (its SRs and network map are home)."""
        return self.recovers_into == "protected-site"

    @property
    def stops_replication(self) -> bool:
        """Whether the LUN action breaks or turns the mirror, for every VM on the LUN."""
        return self.lun_action in ("promote", "reverse")


POLICIES: dict[Kind, KindPolicy] = {
    Kind.TEST_FAILOVER: KindPolicy(
        kind=Kind.TEST_FAILOVER,
        attaches="test-copy",
        lun_action="present_test_copy",
        lun_states=frozenset({"replicating"}),
        recovers_into="dr-site",
        power_after="start-paused",
        source_unusable="warning",
        source_unusable_message=m.SOURCE_UNUSABLE_TEST,
        source_unreachable="warning",
        split_brain_guard=False,
        warns_test_duplicate=True,
        syncs_when_planned=False,
        watches_lag=True,
        needs_ha_off=True,
        only_failed_over_vms=False,
    ),
    Kind.FAILOVER: KindPolicy(
        kind=Kind.FAILOVER,
        attaches="mirror",
        lun_action="promote",
        lun_states=frozenset({"replicating", "promoted"}),
        recovers_into="dr-site",
        power_after="start",
        source_unusable="blocker",
        source_unusable_message=m.SOURCE_UNUSABLE,
        source_unreachable="warning",
        split_brain_guard=True,
        warns_test_duplicate=False,
        syncs_when_planned=True,
        watches_lag=True,
        needs_ha_off=False,
        only_failed_over_vms=False,
    ),
    Kind.FAILBACK: KindPolicy(
        kind=Kind.FAILBACK,
        attaches="mirror",
        lun_action="reverse",
        lun_states=frozenset({"promoted", "reversed"}),
        recovers_into="protected-site",
        power_after="start",
        source_unusable="blocker",
        source_unusable_message=m.SOURCE_UNUSABLE,
        # The source of a failback is the DR pool running the VMs: it must shut them down.
        source_unreachable="blocker",
        split_brain_guard=False,
        warns_test_duplicate=False,
        syncs_when_planned=False,
        watches_lag=False,
        needs_ha_off=False,
        only_failed_over_vms=True,
    ),
}
