"""Aborting a planned failover undoes its shutdown at the primary (or says why it cannot),
against sim/xapi on loopback, with the manual storage adapter pausing the run."""

from __future__ import annotations

import pytest

from engine.storage.manual import ManualStorageAdapter
from tests.engine.runs_support import make_harness


@pytest.fixture
def h(sim, tmp_path):
    harness = make_harness(sim("demo"), tmp_path)
    harness.runner.adapter = ManualStorageAdapter(harness.world.storage().state())
    yield harness
    harness.store.close()


def _paused_planned_failover(h, target="web-shop"):
    plan = h.plan("failover", target, planned=True)
    assert not plan.blockers, plan.blockers
    run = h.run(plan)
    assert run.state == "paused", run.error
    source = h.vms(plan.source_pool)
    assert {source[vm.uuid]["power_state"] for vm in plan.vms} == {"Halted"}
    return plan, run


def _abort(h, run_id):
    h.runner.abort(run_id)
    return h.runner.wait(run_id, 60), h.store.runs.history(run_id)[-1].reason


def test_aborting_a_paused_planned_failover_starts_the_primary_again_in_vapp_order(h):
    """Paused before promotion, an abort starts the VMs it shut down again, in vApp order."""
    plan, run = _paused_planned_failover(h)
    assert h.runner.paused_step(run.id).action == "sync"
    aborted, reason = _abort(h, run.id)
    assert aborted.state == "aborted", reason
    source = h.vms(plan.source_pool)
    assert {source[vm.uuid]["power_state"] for vm in plan.vms} == {"Running"}
    assert reason.startswith(f"Nothing had been recovered or attached at {plan.dest_pool!r} yet.")
    assert f"Started again at {plan.source_pool!r}, in vApp order" in reason
    assert all(vm.name in reason for vm in plan.vms), reason
    # Each VM's outcome says where it stands: none is left pending.
    assert {(o.status, o.error) for o in aborted.outcome.vms.values()} == {
        ("not-run", f"not run: the run was aborted; started again at {plan.source_pool!r}")
    }
    steps = {s.key: s for s in h.store.steps.for_run(run.id)}
    for app in plan.appliances:
        for earlier, later in zip(app.order_groups, app.order_groups[1:], strict=False):
            done = max(steps[f"cleanup:restart:{vm.uuid}"].finished_at for vm in earlier)
            begun = min(steps[f"cleanup:restart:{vm.uuid}"].started_at for vm in later)
            assert begun >= done, app.name


def test_an_abort_starts_only_what_the_run_shut_down(h):
    """A VM already halted before the run stays halted after its abort."""
    plan = h.plan("failover", "web-shop", planned=True)
    src = h.client(plan.source_pool)
    off = plan.vms[0]
    src.call("VM.hard_shutdown", src.call("VM.get_by_uuid", off.uuid))
    plan, run = _paused_planned_failover(h)
    aborted, reason = _abort(h, run.id)
    assert aborted.state == "aborted", reason
    source = h.vms(plan.source_pool)
    assert source[off.uuid]["power_state"] == "Halted"
    assert {source[vm.uuid]["power_state"] for vm in plan.vms if vm.uuid != off.uuid} == {"Running"}


def test_after_a_promotion_was_asked_the_abort_leaves_the_primary_down_and_says_why(h):
    """Once promotion was asked for, the primary's VMs are not started again: said, with why."""
    adapter = h.runner.adapter
    plan = h.plan("failover", "web-shop", planned=True)
    for lun in plan.luns:
        adapter.confirm(lun.lun, "sync")
    plan, run = _paused_planned_failover(h)
    assert h.runner.paused_step(run.id).action == "promote"
    aborted, reason = _abort(h, run.id)
    assert aborted.state == "aborted", reason
    source = h.vms(plan.source_pool)
    assert {source[vm.uuid]["power_state"] for vm in plan.vms} == {"Halted"}
    assert f"Not started again at {plan.source_pool!r}" in reason
    assert "split brain" in reason
    assert {o.status for o in aborted.outcome.vms.values()} == {"not-run"}


def test_with_the_primary_gone_the_abort_says_its_vms_were_not_started_again(h):
    """The primary stops answering while paused: the abort ends and says who is left down."""
    plan, run = _paused_planned_failover(h)
    h.world.control("POST", "/sites/primary/fail")
    aborted, reason = _abort(h, run.id)
    assert aborted.state == "aborted", reason
    assert f"Not started again at {plan.source_pool!r}" in reason
    assert "does not answer" in reason


def test_aborting_a_paused_failback_starts_the_dr_site_again(sim, tmp_path):
    """A failback paused before promotion at the primary: its abort starts again at the DR
    site the VMs it shut down there, and says so."""
    h = make_harness(sim("mini"), tmp_path)
    try:
        over = h.run(h.plan("failover", "app-01", planned=True))
        assert over.state == "succeeded", over.error
        h.runner.adapter = ManualStorageAdapter(h.world.storage().state())
        plan = h.plan("failback", "app-01")
        run = h.run(plan)
        assert run.state == "paused", run.error
        dr = h.vms(plan.source_pool)
        assert {dr[vm.uuid]["power_state"] for vm in plan.vms} == {"Halted"}
        aborted, reason = _abort(h, run.id)
        assert aborted.state == "aborted", reason
        dr = h.vms(plan.source_pool)
        assert {dr[vm.uuid]["power_state"] for vm in plan.vms} == {"Running"}
        assert f"Started again at {plan.source_pool!r}" in reason
    finally:
        h.store.close()
