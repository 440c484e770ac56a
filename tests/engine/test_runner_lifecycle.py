"""The runner's lifecycle: leases, refusals, events, pause/resume/abort, and faults mid-run."""

from __future__ import annotations

import pytest

from engine.errors import PlanChanged, RunConflict, RunStateError
from engine.runner import PlanBlocked
from engine.storage.manual import ManualStorageAdapter
from tests.engine.dropping_proxy import DroppingProxy
from tests.engine.runs_support import make_harness


@pytest.fixture
def h(sim, tmp_path):
    harness = make_harness(sim("demo"), tmp_path)
    yield harness
    harness.store.close()


def _left_in_dr(h, plan):
    dr = plan.dest_pool
    return {
        "vms": set(h.vms(dr)) & {vm.uuid for vm in plan.vms},
        "dr_tasks": h.uuids(dr, "DR_task"),
        "srs": h.uuids(dr, "SR") & {lun.sr_uuid for lun in plan.luns},
    }


NOTHING = {"vms": set(), "dr_tasks": set(), "srs": set()}


def test_a_blocked_plan_never_starts(h):
    """A plan with a blocker (HA on for a test failover) is refused and no run is created."""
    plan = h.plan("test-failover", "payments")
    assert [c.name for c in plan.blockers] == ["ha"]
    with pytest.raises(PlanBlocked, match="ha"):
        h.runner.start(plan, requested_by="U1")
    assert h.store.runs.list() == []


def test_an_edited_plan_never_starts(h):
    """A plan changed after it was sealed (and approved) is refused: its hash no longer fits."""
    plan = h.plan("test-failover", "payments", disable_ha=True)
    edited = plan.model_copy(update={"power_after": "start"})
    with pytest.raises(PlanChanged, match="Plan again"):
        h.runner.start(edited, requested_by="U1")
    assert h.store.runs.list() == []


def test_one_run_per_pool_at_a_time(h):
    """While a run holds the DR pool, a second run on it is refused with a clear message."""
    plan = h.plan("test-failover", "payments", disable_ha=True)
    h.world.control("POST", "/faults", {"kind": "task_stall", "method": "VM_appliance.recover"})
    stalled = []
    h.runner.subscribe(
        lambda ev: (
            stalled.append(ev)
            if ev.type == "step-started" and (ev.step_key or "").startswith("recover:")
            else None
        )
    )
    first = h.runner.start(plan, requested_by="U1")
    with pytest.raises(RunConflict, match=f"busy with run {first}"):
        h.runner.start(plan, requested_by="U2")
    h.world.control("DELETE", "/faults")
    assert h.runner.wait(first, 60).state in ("succeeded", "partially-succeeded")
    second = h.runner.start(h.plan("test-failover", "web-shop", disable_ha=True), "U2")
    assert h.runner.wait(second, 60).state == "succeeded"
    states = [r.state for r in h.store.runs.list()]
    assert states.count("failed") == 1  # the refused one is recorded, never run
    assert h.store.audit.verify()


def test_subscribers_see_the_run_and_a_broken_one_harms_nothing(h):
    """Events report state changes, steps and VM outcomes; a raising subscriber is ignored."""

    def broken(_ev):
        raise RuntimeError("listener bug")

    h.runner.subscribe(broken)
    run = h.run(h.plan("test-failover", "web-shop", disable_ha=True))
    assert run.state == "succeeded"
    mine = [e for e in h.events if e.run_id == run.id]
    states = [e.state for e in mine if e.type == "state"]
    assert states[0] == "running"
    assert states[-1] == "succeeded"
    assert {e.vm_status for e in mine if e.type == "vm"} >= {"recovered", "started-paused"}
    assert any(e.type == "step-finished" and e.step_key.startswith("start:vm:") for e in mine)
    last = [e for e in mine if e.type == "vm"][-1]
    assert last.done == last.total == 7  # shop-db, 2 caches, 4 web servers


def test_resume_and_abort_refuse_a_finished_run(h):
    """A finished run cannot be resumed or aborted; the message says what is possible."""
    run = h.run(h.plan("test-failover", "web-shop", disable_ha=True))
    with pytest.raises(RunStateError, match="interrupted or paused"):
        h.runner.resume(run.id)
    with pytest.raises(RunStateError, match="can be aborted"):
        h.runner.abort(run.id)


def test_cancelled_failover_keeps_its_vms_until_aborted(h):
    """A cancelled failover keeps what it recovered; aborting it removes that and its SRs."""
    h.plan("failover", "all")
    h.world.control("POST", "/sites/primary/fail")
    plan = h.plan("failover", "all", source_up=False)

    def cancel_once(ev):
        started = ev.type == "step-finished" and (ev.step_key or "").startswith("start:vm:")
        if started and h.store.runs.get(ev.run_id).state == "running":
            try:
                h.runner.cancel(ev.run_id)
            except RunStateError:
                pass

    h.runner.subscribe(cancel_once)
    run = h.run(plan)
    assert run.state == "cancelled"
    assert _left_in_dr(h, plan)["vms"]
    h.runner.abort(run.id)
    aborted = h.runner.wait(run.id, 60)
    assert aborted.state == "aborted", aborted.error
    assert _left_in_dr(h, plan) == NOTHING
    assert "promoted" in " ".join(aborted.outcome.notes)


def test_manual_storage_step_pauses_the_run_and_abort_restores_the_pool(h, tmp_path):
    """With the manual adapter the run pauses at the storage step; cancel undoes it (HA on)."""
    manual = ManualStorageAdapter(h.world.storage().state())
    h.runner.adapter = manual
    plan = h.plan("test-failover", "payments", disable_ha=True)
    run = h.run(plan)
    assert run.state == "paused"
    (paused,) = [e for e in h.events if e.type == "paused"]
    assert "test copy" in paused.message
    dr_pool = next(iter(h.client(plan.dest_pool).get_all_records("pool").values()))
    assert dr_pool["ha_enabled"] is False
    with pytest.raises(RunConflict):
        h.runner.start(plan, requested_by="U2")
    h.runner.cancel(run.id)  # a paused run has nothing in flight: cancelling aborts it
    assert h.runner.wait(run.id, 60).state == "aborted"
    dr_pool = next(iter(h.client(plan.dest_pool).get_all_records("pool").values()))
    assert dr_pool["ha_enabled"] is True
    assert _left_in_dr(h, plan) == NOTHING


def test_sessions_expiring_mid_run_do_not_stop_it(h):
    """Every session of the DR pool expires mid-run; the run logs in again and finishes."""
    plan = h.plan("test-failover", "all", disable_ha=True)
    expired = []

    def expire_once(ev):
        if (
            ev.type == "step-finished"
            and (ev.step_key or "").startswith("recover:")
            and not expired
        ):
            expired.append(h.world.control("POST", "/faults", {"kind": "expire_sessions"}))

    h.runner.subscribe(expire_once)
    run = h.run(plan)
    assert expired
    assert expired[0]["expired"] > 0
    assert run.state == "partially-succeeded"  # pay-app-04 alone: not replicated yet
    assert _left_in_dr(h, plan) == NOTHING


def test_a_failed_mirror_fails_the_run_with_the_reason_and_leaves_nothing(h):
    """A LUN whose mirror failed makes the run fail saying so, and nothing is left behind."""
    plan = h.plan("test-failover", "payments", disable_ha=True)
    lun = next(lun.lun for lun in plan.luns if lun.sr_name == "Gold iSCSI 01")
    h.world.control("POST", "/faults", {"kind": "lun", "lun": lun, "side": "mirror"})
    run = h.run(plan)
    assert run.state == "failed"
    assert "fail" in run.error.lower()
    assert _left_in_dr(h, plan) == NOTHING


def test_a_stalled_task_times_out_for_its_vm_only(sim, tmp_path):
    """A start that never ends fails its VM after the task timeout; the rest go on."""
    h = make_harness(sim("demo"), tmp_path, task_timeout=1.0)
    plan = h.plan("test-failover", "web-shop", disable_ha=True)
    h.world.control("POST", "/faults", {"kind": "task_stall", "method": "VM.start"})

    def release(ev):
        if ev.type == "step-failed":
            h.world.control("DELETE", "/faults")

    h.runner.subscribe(release)
    run = h.run(plan)
    statuses = {o.status for o in run.outcome.vms.values()}
    assert "start-failed" in statuses
    assert "did not finish within" in str(run.outcome)
    h.store.close()


def test_losing_the_dr_pool_mid_run_interrupts_and_resume_finishes(h):
    """The DR site stops answering mid-failover: the run is interrupted, then resumed once back."""
    h.plan("failover", "all")
    h.world.control("POST", "/sites/primary/fail")
    plan = h.plan("failover", "all", source_up=False)
    lost = []

    def cut(ev):
        if ev.type == "step-finished" and (ev.step_key or "").startswith("start:") and not lost:
            lost.append(h.world.control("POST", "/sites/dr/fail"))

    unsubscribe = h.runner.subscribe(cut)
    run = h.run(plan)
    unsubscribe()
    assert lost
    assert run.state == "interrupted"
    assert "resume" in h.store.runs.history(run.id)[-1].reason
    h.world.control("POST", "/sites/dr/restore")
    h.runner.resume(run.id)
    done = h.runner.wait(run.id, 60)
    assert done.state == "partially-succeeded", done.error  # pay-app-04 only
    assert set(h.recover_counts().values()) == {1}


def test_a_pool_that_drops_the_connection_mid_call_interrupts_and_resume_finishes(sim, tmp_path):
    """A DR host that reads a call and closes without answering (RemoteDisconnected) is lost
    contact: the run is interrupted, not failed, and a resume finishes it."""
    world = sim("demo")
    dr = world.config.pairs[0].dr
    proxy = DroppingProxy(world.config.pool(dr).urls[0])
    h = make_harness(world, tmp_path, urls={dr: [proxy.url]})
    try:
        plan = h.plan("test-failover", "payments", disable_ha=True)

        def cut(ev):
            if ev.type == "step-finished" and (ev.step_key or "").startswith("recover:"):
                proxy.dropping.set()

        unsubscribe = h.runner.subscribe(cut)
        run = h.run(plan)
        unsubscribe()
        assert proxy.dropped > 0
        assert run.state == "interrupted", run.error
        assert "CONNECTION_LOST" in h.store.runs.history(run.id)[-1].reason
        proxy.dropping.clear()
        h.runner.resume(run.id)
        done = h.runner.wait(run.id, 60)
        assert done.state == "partially-succeeded", done.error  # pay-app-04 never starts
        assert set(h.recover_counts().values()) == {1}
        assert _left_in_dr(h, plan) == NOTHING
    finally:
        h.store.close()
        proxy.close()


def test_stop_on_failure_stops_starting_after_the_first_failed_vm(h):
    """With stop_on_failure, a VM that fails stops the run from starting anything more."""
    plan = h.plan("test-failover", "payments", disable_ha=True, stop_on_failure=True)
    assert plan.stop_on_failure
    h.world.control(
        "POST", "/faults", {"kind": "vm_start", "vm": "pay-db-01", "error": ["VM_CRASHED", "x"]}
    )
    run = h.run(plan)
    statuses = run.outcome.statuses()
    assert statuses["pay-db-01"] == "start-failed"
    assert statuses["pay-web-01"] in ("not-run", "skipped")
    assert "started-paused" not in {statuses[n] for n in ("pay-web-01", "pay-web-02")}
    assert _left_in_dr(h, plan) == NOTHING
