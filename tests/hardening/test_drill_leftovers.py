"""Leftovers of an earlier drill at the DR site (staged by the scenario's `[[leftovers]]`,
sim/xapi/leftovers.py): a failover never takes the old test copy's SR for the mirror it
promoted, and a test failover's cleanup removes only what its own journal proves it made."""

from __future__ import annotations

from pathlib import Path

import pytest

from sim.xapi.scenario import builtin_names
from tests.engine.runs_support import make_harness

DEMO = Path(__file__).resolve().parents[2] / "sim" / "xapi" / "scenarios" / "demo.toml"


def demo_with(tmp_path: Path, leftovers: str) -> str:
    """The demo scenario with `leftovers` (TOML) appended, as a file; -> its path."""
    assert "demo" in builtin_names()
    path = tmp_path / "leftovers.toml"
    path.write_text(DEMO.read_text(encoding="utf-8") + "\n" + leftovers, encoding="utf-8")
    return str(path)


OLD_DRILL = """
[[leftovers]]
sr = "Gold iSCSI 01"
pool = "dr"
attach = "dr_task"
"""


@pytest.fixture
def leftover(sim, tmp_path):
    """The demo with an earlier drill's test copy of Gold iSCSI 01 presented and attached at
    DR through its DR_task; yields the harness."""
    h = make_harness(sim(demo_with(tmp_path, OLD_DRILL)), tmp_path)
    yield h
    h.store.close()


def _gold(h):
    return next(lun for lun in h.world.storage().state() if lun.name == "Gold iSCSI 01")


def test_the_simulator_stages_an_old_drills_copy_attached_at_dr(leftover):
    """The staged leftover is what a drill leaves: the copy presented at the array (its own
    SCSIid), its SR attached at DR through a DR_task, with the mirror's SR uuid."""
    h = leftover
    gold = _gold(h)
    assert gold.test_copy_device_config is not None
    assert gold.test_copy_device_config["SCSIid"] != gold.mirror_device_config["SCSIid"]
    dr = h.client(h.pair.dr)
    sr = dr.call("SR.get_by_uuid", gold.sr_uuid)
    configs = [dr.call("PBD.get_device_config", p) for p in dr.call("SR.get_PBDs", sr)]
    assert configs
    assert {c["SCSIid"] for c in configs} == {gold.test_copy_device_config["SCSIid"]}
    assert all(dr.call("PBD.get_currently_attached", p) for p in dr.call("SR.get_PBDs", sr))
    assert len(dr.call("DR_task.get_all")) == 1


def test_a_failover_never_recovers_from_an_old_drills_copy(leftover):
    """The failover promotes the mirror of Gold iSCSI 01, finds its SR uuid already attached at
    DR through another LUN (the old copy) and stops before any recovery, saying what is
    attached and how to remove it; nothing is recovered from the stale copy."""
    h = leftover
    gold = _gold(h)
    h.world.control("POST", "/sites/primary/fail")
    plan = h.plan("failover", "all", source_up=False)
    since = len(h.world.calls())
    run = h.run(plan)
    assert run.state == "failed", run.error
    recovered = [c for c in h.world.calls(since) if "recover" in c["method"]]
    assert recovered == []
    error = run.error or ""
    assert "Gold iSCSI 01" in error
    assert gold.test_copy_device_config["SCSIid"] in error  # what is attached
    assert "xe sr-forget" in error  # how to remove it
    assert "drtask-destroy" in error
    dr = h.client(h.pair.dr)
    sr = dr.call("SR.get_by_uuid", gold.sr_uuid)  # the old copy is left as it was found
    assert dr.call("SR.get_PBDs", sr)


def test_a_test_failover_leaves_an_old_drills_copy_alone_and_says_why_it_stopped(leftover):
    """The old copy is still presented: this run's present_test_copy fails, so the copy is not
    this run's; its cleanup does not ask the array to remove it nor report a false "Cleanup
    left ... behind", and the run names the leftover and how to remove it."""
    h = leftover
    gold = _gold(h)
    before = gold.test_copy_device_config
    plan = h.plan("test-failover", "payments", disable_ha=True)
    since = len(h.world.calls())
    run = h.run(plan)
    assert run.state == "failed", run.error
    error = run.error or ""
    assert "Cleanup left" not in error
    assert "cleanup stopped" not in error
    assert "test copy" in error
    assert _gold(h).test_copy_device_config == before  # still there, untouched
    steps = {s.key for s in h.store.steps.for_run(run.id)}
    assert f"storage:remove_test_copy:{gold.lun}" not in steps
    assert not [c for c in h.world.calls(since) if "recover" in c["method"]]
