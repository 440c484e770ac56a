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


def test_a_vm_moved_out_of_its_vapp_after_replication_is_reported_recovered_with_it(sim, tmp_path):
    """pay-web-01 leaves vApp payments at the source after the last replication: the plan
    (from the live records) recovers it alone, the metadata still has it in payments, so
    VM.recover refuses it and the vApp's recovery brings it back. The run says so (recovered
    with vApp payments, from the metadata as of the mirror's time) and starts it; it is not
    reported `recover-failed VM_IS_PART_OF_AN_APPLIANCE`."""
    h = make_harness(sim("demo"), tmp_path)
    try:
        prod = h.client(h.pair.protected)
        vm = prod.call("VM.get_by_name_label", "pay-web-01")[0]
        prod.call("VM.set_appliance", vm, "OpaqueRef:NULL")
        plan = h.plan("test-failover", "payments,pay-web-01", disable_ha=True)
        assert "pay-web-01" in {v.name for v in plan.standalone_vms}
        run = h.run(plan)
        outcome = next(o for o in run.outcome.vms.values() if o.name == "pay-web-01")
        assert outcome.status == "started-paused", outcome
        assert "VM_IS_PART_OF_AN_APPLIANCE" not in (outcome.code or "")
        note = next(n for n in run.outcome.notes if "pay-web-01" in n)
        assert "recovered with vApp payments" in note
        as_of = _gold(h).last_replicated_at
        assert as_of is not None
        assert as_of.isoformat(timespec="seconds")[:16] in note  # the mirror's time, to the minute
    finally:
        h.store.close()


def test_a_vm_missing_from_a_leftover_copys_metadata_is_a_conflict_not_unknown(leftover):
    """With the old copy of Gold iSCSI 01 attached at DR, the planner reads its (older)
    metadata, which lacks pay-app-04 (created since): asking for pay-app-04, which exists at
    the source, gives a plan blocked by a conflict naming the attached SR, not "Nothing called
    'pay-app-04' is protected"."""
    h = leftover
    plan = h.plan("test-failover", "pay-app-04", disable_ha=True)
    conflicts = [c for c in plan.blockers if c.name == "target-conflict"]
    assert [c.subject for c in conflicts] == ["pay-app-04"]
    assert "Gold iSCSI 01" in conflicts[0].message
    assert "Nothing called" not in conflicts[0].message
