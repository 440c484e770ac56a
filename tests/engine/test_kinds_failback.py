"""A failback ends re-protected, and a LUN that fails stops only the VMs that need it, on the
small scenario of sim/xapi (app-01 on the Gold LUN, halted-vm on Silver)."""

from __future__ import annotations

import pytest

from engine.storage.manual import ManualStorageAdapter
from tests.engine.runs_support import make_harness


@pytest.fixture
def h(sim, tmp_path):
    harness = make_harness(sim("mini"), tmp_path)
    yield harness
    harness.store.close()


def _outcomes(run):
    return {o.name: o for o in run.outcome.vms.values()}


def _lun_states(h):
    return {lun.name: lun.state for lun in h.world.storage().state()}


def _as_the_storage_team(h, manual, run):
    """Do each step a paused run asks for at the (simulated) array, confirm it, and resume;
    returns the finished run and the instructions the storage team was shown."""
    array = h.world.storage()
    shown = []
    for _ in range(20):  # bounded: a run of two LUNs has far fewer storage steps
        if run.state != "paused":
            return run, shown
        step = h.runner.paused_step(run.id)
        shown.append(step.instruction)
        getattr(array, step.action)(step.lun)
        manual.confirm(step.lun, step.action)
        h.runner.resume(run.id, "U-storage")
        run = h.runner.wait(run.id, 60)
    raise AssertionError(f"run {run['id']} kept pausing")


def test_a_failback_with_the_manual_adapter_pauses_to_re_protect_then_replicates_again(h):
    """With the manual adapter, failback ends with a confirmed re-protect; Gold replicates again."""
    manual = ManualStorageAdapter(h.world.storage().state())
    h.runner.adapter = manual
    over, _ = _as_the_storage_team(h, manual, h.run(h.plan("failover", "app-01", planned=True)))
    assert over.state == "succeeded", over
    back, shown = _as_the_storage_team(h, manual, h.run(h.plan("failback", "app-01")))
    assert back.state == "succeeded", back
    assert "Re-protect" in shown[-1]
    assert _lun_states(h)["Gold"] == "replicating"
    steps = {s.key: s.status for s in h.store.steps.for_run(back.id)}
    reprotects = {k: v for k, v in steps.items() if k.startswith("storage:reprotect:")}
    assert reprotects
    assert set(reprotects.values()) == {"done"}


def test_a_drill_after_a_failover_and_failback_succeeds(h):
    """Failover, failback, then a test failover of the same VM: the drill runs and succeeds."""
    assert h.run(h.plan("failover", "app-01", planned=True)).state == "succeeded"
    assert h.run(h.plan("failback", "app-01")).state == "succeeded"
    drill = h.run(h.plan("test-failover", "app-01", disable_ha=True))
    assert drill.state == "succeeded", drill
    assert _outcomes(drill)["app-01"].status == "started-paused"


def test_a_failover_with_a_failed_mirror_recovers_the_vms_on_the_healthy_lun(h):
    """Silver's mirror failed: halted-vm ends not-run naming the LUN, app-01 starts; partial."""
    plan = h.plan("failover", "app-01,halted-vm", planned=True)
    assert not plan.blockers, plan.blockers
    h.world.control("POST", "/faults", {"kind": "lun", "lun": "prod-silver", "side": "mirror"})
    run = h.run(plan)
    outcome = _outcomes(run)
    assert outcome["app-01"].status == "started"
    assert outcome["halted-vm"].status == "not-run"
    assert "prod-silver" in outcome["halted-vm"].error
    assert run.state == "partially-succeeded"
    assert "prod-silver" in " ".join(run.outcome.notes)


def test_a_test_failover_with_every_lun_failed_gives_each_vm_the_reason(h):
    """Both mirrors failed: the run fails and every VM ends not-run with its LUN's error."""
    plan = h.plan("test-failover", "app-01,halted-vm", disable_ha=True)
    for lun in ("prod-gold", "prod-silver"):
        h.world.control("POST", "/faults", {"kind": "lun", "lun": lun, "side": "mirror"})
    run = h.run(plan)
    assert run.state == "failed"
    outcome = _outcomes(run)
    assert {o.status for o in outcome.values()} == {"not-run"}
    assert "prod-gold" in outcome["app-01"].error
    assert "prod-silver" in outcome["halted-vm"].error


def test_a_vm_that_will_not_shut_down_stops_a_planned_failover_with_each_vm_told_why(sim, tmp_path):
    """A stalled shutdown: the run fails before the storage; each VM ends not-run saying why."""
    h = make_harness(sim("mini"), tmp_path, task_timeout=1.0)
    try:
        plan = h.plan("failover", "app-01,halted-vm", planned=True)
        assert not plan.blockers, plan.blockers
        h.world.control("POST", "/faults", {"kind": "task_stall", "method": "VM.clean_shutdown"})
        run = h.run(plan)
        assert run.state == "failed"
        assert "did not shut down" in run.error
        assert "resume" not in run.error
        outcome = _outcomes(run)
        assert outcome["app-01"].status == "not-run"
        assert "did not shut down" in outcome["app-01"].error
        assert outcome["halted-vm"].status == "not-run"
        assert outcome["halted-vm"].error
        assert {lun.name: lun.state for lun in h.world.storage().state()}["Gold"] == "replicating"
    finally:
        h.store.close()
