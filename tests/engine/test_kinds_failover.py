"""Failover and failback end to end against sim/xapi."""

from __future__ import annotations

import pytest

from engine.runner import PlanBlocked
from tests.engine.runs_support import make_harness


@pytest.fixture
def h(sim, tmp_path):
    harness = make_harness(sim("demo"), tmp_path)
    yield harness
    harness.store.close()


def _vm_outcomes(run):
    return {o.name: o for o in run.outcome.vms.values()}


def _start_order_respected(h, run, plan):
    """Each vApp group started only after every VM of the group before it had started."""
    steps = {s.key: s for s in h.store.steps.for_run(run.id)}
    for app in plan.appliances:
        for earlier, later in zip(app.order_groups, app.order_groups[1:], strict=False):
            done = [
                steps[f"start:vm:{vm.uuid}"].finished_at
                for vm in earlier
                if f"start:vm:{vm.uuid}" in steps
            ]
            begun = [
                steps[f"start:vm:{vm.uuid}"].started_at
                for vm in later
                if f"start:vm:{vm.uuid}" in steps
            ]
            if done and begun:
                assert min(begun) >= max(done), app.name


def test_failover_after_the_primary_site_is_lost_starts_everything_in_order(h):
    """With the primary site down, a failover promotes, recovers and starts every VM in order."""
    h.plan("failover", "all")  # the bot knew the primary before it was lost
    h.world.control("POST", "/sites/primary/fail")
    plan = h.plan("failover", "all", source_up=False)
    assert not plan.blockers, plan.blockers
    run = h.run(plan)
    outcomes = _vm_outcomes(run)
    assert {o.status for n, o in outcomes.items() if n != "pay-app-04"} == {"started"}
    assert outcomes["pay-app-04"].status == "not-in-metadata"
    running = {
        r["name_label"] for r in h.vms(plan.dest_pool).values() if r["power_state"] == "Running"
    }
    assert {o.name for o in outcomes.values()} - {"pay-app-04"} <= running
    _start_order_respected(h, run, plan)
    assert all(
        lun.state == "promoted"
        for lun in h.world.storage().state()
        if lun.sr_uuid in {p.sr_uuid for p in plan.luns}
    )
    assert h.uuids(plan.dest_pool, "DR_task") == set()
    assert run.state == "partially-succeeded"


def test_planned_failover_shuts_down_first_syncs_and_loses_nothing(h):
    """A planned failover halts the primary's VMs, syncs, and recovers even the newest VM."""
    plan = h.plan("failover", "payments", planned=True)
    assert not plan.blockers, plan.blockers
    run = h.run(plan)
    assert run.state == "succeeded", run.error
    outcomes = _vm_outcomes(run)
    assert outcomes["pay-app-04"].status == "started"
    primary = h.vms(plan.source_pool)
    assert all(primary[vm.uuid]["power_state"] == "Halted" for vm in plan.vms)
    steps = {s.key: s for s in h.store.steps.for_run(run.id)}
    app = plan.appliances[0]
    first = [steps[f"shutdown:{plan.source_pool}:vm:{vm.uuid}"] for vm in app.order_groups[0]]
    last = [steps[f"shutdown:{plan.source_pool}:vm:{vm.uuid}"] for vm in app.order_groups[-1]]
    assert min(s.started_at for s in first) >= max(s.finished_at for s in last)


def test_unplanned_failover_with_vms_running_at_the_source_is_refused(h):
    """Split-brain guard: a failover while the primary runs the VMs is refused unless planned."""
    plan = h.plan("failover", "payments")
    assert plan.blockers
    with pytest.raises(PlanBlocked, match="blocker"):
        h.runner.start(plan, requested_by="U1")
    assert h.store.runs.list() == []


def test_failback_returns_the_vms_to_the_primary_and_cleans_the_dr_site(h):
    """After a failover of everything, a failback runs it all on the primary and empties DR."""
    h.plan("failover", "all")
    h.world.control("POST", "/sites/primary/fail")
    over = h.run(h.plan("failover", "all", source_up=False))
    assert over.state == "partially-succeeded", over.error  # pay-app-04 never replicated
    h.world.control("POST", "/sites/primary/restore")
    # The primary comes back with its stale copies running: the operator stops them first.
    prod = h.client(h.pair.protected)
    for rec in h.vms(h.pair.protected).values():
        if rec["power_state"] == "Running":
            prod.call("VM.hard_shutdown", prod.call("VM.get_by_uuid", rec["uuid"]))
    back_plan = h.plan("failback", "all")
    assert not back_plan.blockers, back_plan.blockers
    back = h.run(back_plan)
    assert back.state == "succeeded", (back.error, h.store.steps.for_run(back.id))
    primary = h.vms(back_plan.dest_pool)
    assert all(primary[vm.uuid]["power_state"] == "Running" for vm in back_plan.vms)
    assert {vm.name for vm in back_plan.vms} >= {"pay-db-01", "shop-web-04", "backup-proxy"}
    dr = h.vms(back_plan.source_pool)
    assert not set(dr) & {vm.uuid for vm in back_plan.vms}
    assert not h.uuids(back_plan.source_pool, "SR") & {lun.sr_uuid for lun in back_plan.luns}
    _start_order_respected(h, back, back_plan)


def test_failover_of_a_site_never_seen_recovers_what_the_metadata_holds(h):
    """With the source unknown and down, the run reads the attached metadata and recovers it."""
    h.world.control("POST", "/sites/primary/fail")
    plan = h.plan("failover", "all", source_up=False)
    assert plan.vms == []
    assert not plan.blockers, plan.blockers
    run = h.run(plan)
    outcomes = _vm_outcomes(run)
    assert outcomes["pay-db-01"].status == "started"
    assert outcomes["shop-web-04"].status == "started"
    assert "pay-app-04" not in outcomes  # never reached the mirror
    # Disks on local or unreplicated storage cannot come back: said per VM, the rest runs.
    assert outcomes["build-cache"].status == "not-protected"
    assert run.state == "partially-succeeded"
    steps = {s.key for s in h.store.steps.for_run(run.id)}
    assert "expand:metadata" in steps
