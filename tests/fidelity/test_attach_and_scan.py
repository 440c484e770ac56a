"""Attaching replicated SRs on today's xapi and on a release whose plug still scanned."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from store.records import RunRecord
from tests.engine.runs_support import Harness
from tests.sim_xapi.world_support import RELEASES, at_release


def _outcomes(run: RunRecord) -> dict[str, str]:
    return {o.name: o.status for o in run.outcome.vms.values()}


@pytest.mark.parametrize("release", RELEASES)
def test_a_test_failover_finds_the_vms_on_either_release(
    runs: Callable[..., Harness], release: str
) -> None:
    """The run scans each SR it attached before it reads metadata, so the VMs are found and
    started whether or not the pool's plug scans; no run depends on metadata_latest."""
    h = runs(at_release("mini", release))
    plan = h.plan("test-failover", "all", disable_ha=True)
    assert not plan.blockers, plan.blockers
    run = h.run(plan)
    statuses = _outcomes(run)
    assert statuses["app-01"] == "started-paused", run.error
    assert statuses["shop-db"] == "started-paused"
    calls = h.world.calls()
    attached = [c for c in calls if c["method"].endswith("DR_task.create")]
    scans = [c for c in calls if c["method"] == "SR.scan" and c["outcome"] == "Success"]
    opened = [c for c in calls if c["method"].endswith("VDI.open_database")]
    assert len(scans) >= len(attached) == len(plan.luns)
    assert max(c["seq"] for c in scans) < min(c["seq"] for c in opened)
