"""VM.recover imports snapshots and suspend images too (docs/xapi-behaviours.md §7): the plan
attaches their LUNs and names what is not replicated."""

from __future__ import annotations

from collections.abc import Callable

from sim.xapi.scenario import parse_scenario
from tests.engine.runs_support import Harness
from tests.sim_xapi.test_xapi_fidelity import SNAPSHOTTED


def test_snapshot_and_suspend_disks_are_planned_and_named(runs: Callable[..., Harness]) -> None:
    """A snapshot on Silver brings Silver's LUN into the plan and the VM is recovered; a
    snapshot or a suspend image on non-replicated storage leaves its VM out, naming it."""
    h = runs(parse_scenario(SNAPSHOTTED))
    plan = h.plan("test-failover", "all")
    assert {lun.sr_name for lun in plan.luns} == {"Gold", "Silver"}
    assert {vm.name for vm in plan.vms} == {"snap-on-silver"}
    warned = {(c.name, c.subject): c.message for c in plan.warnings}
    nightly = warned[("storage-snapshot-not-replicated", "snap-on-scratch")]
    assert "'nightly'" in nightly
    assert "'Scratch'" in nightly
    assert "'Scratch'" in warned[("storage-suspend-not-replicated", "suspended")]
    run = h.run(plan)
    assert {o.name: o.status for o in run.outcome.vms.values()} == {
        "snap-on-silver": "started-paused"
    }, run.error
