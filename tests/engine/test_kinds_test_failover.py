"""Test failover end to end against sim/xapi: recover, start paused, measure, clean up all."""

from __future__ import annotations

import pytest

from tests.engine.runs_support import make_harness


@pytest.fixture
def h(sim, tmp_path):
    world = sim("demo")
    harness = make_harness(world, tmp_path)
    yield harness
    harness.store.close()


def _nothing_left(h, plan, before_srs, before_apps):
    dr = plan.dest_pool
    assert not set(h.vms(dr)) & {vm.uuid for vm in plan.vms}
    assert h.uuids(dr, "SR") == before_srs
    assert h.uuids(dr, "VM_appliance") == before_apps
    assert h.uuids(dr, "DR_task") == set()
    assert all(lun.test_copy_device_config is None for lun in h.world.storage().state())


def test_test_failover_of_the_demo_recovers_starts_paused_and_leaves_nothing(h):
    """Testing everything recovers and starts each VM paused, then removes all it made."""
    plan = h.plan("test-failover", "all", disable_ha=True)
    assert not plan.blockers, plan.blockers
    dr = plan.dest_pool
    before_srs, before_apps = h.uuids(dr, "SR"), h.uuids(dr, "VM_appliance")
    run = h.run(plan)
    outcome = run.outcome.vms
    assert set(outcome) == {vm.uuid for vm in plan.vms}
    statuses = {o.name: o.status for o in outcome.values()}
    late = [vm.name for vm in plan.vms if vm.name == "pay-app-04"]
    for name, status in statuses.items():
        expected = "not-in-metadata" if name in late else "started-paused"
        assert status == expected, (name, status)
    assert run.state == ("partially-succeeded" if late else "succeeded")
    _nothing_left(h, plan, before_srs, before_apps)
    pool = h.client(dr).get_all_records("pool")
    assert next(iter(pool.values()))["ha_enabled"] is True
    drill = h.store.drills.into(dr)[0]
    assert drill["run_id"] == run.id
    assert drill["rto_seconds"] is not None


def test_leave_off_recovers_without_starting_and_cleans_up(h):
    """With power-after leave-off, VMs are recovered but never started, and then removed."""
    plan = h.plan("test-failover", "payments", disable_ha=True, power_after="leave-off")
    dr = plan.dest_pool
    before_srs, before_apps = h.uuids(dr, "SR"), h.uuids(dr, "VM_appliance")
    since = h.world.calls()[-1]["seq"]
    run = h.run(plan)
    assert not [c for c in h.world.calls(since) if "VM.start" in c["method"]]
    assert {o.status for o in run.outcome.vms.values()} <= {
        "recovered",
        "not-in-metadata",
    }
    _nothing_left(h, plan, before_srs, before_apps)


def test_a_vm_that_will_not_start_fails_alone(h):
    """One VM failing to start gets its error; the others start and cleanup is complete."""
    plan = h.plan("test-failover", "web-shop", disable_ha=True)
    h.world.control(
        "POST",
        "/faults",
        {
            "kind": "vm_start",
            "vm": "shop-cache-01",
            "error": ["HOST_NOT_ENOUGH_FREE_MEMORY", "1", "0"],
        },
    )
    dr = plan.dest_pool
    before_srs, before_apps = h.uuids(dr, "SR"), h.uuids(dr, "VM_appliance")
    run = h.run(plan)
    by_name = {o.name: o for o in run.outcome.vms.values()}
    assert by_name["shop-cache-01"].status == "start-failed"
    assert "HOST_NOT_ENOUGH_FREE_MEMORY" in by_name["shop-cache-01"].error
    assert by_name["shop-db"].status == "started-paused"
    assert by_name["shop-web-01"].status == "started-paused"
    assert run.state == "partially-succeeded"
    _nothing_left(h, plan, before_srs, before_apps)


def test_cancel_stops_new_steps_and_still_cleans_up(h):
    """A cancelled test failover ends cancelled, no VM left pending, nothing it created left."""
    plan = h.plan("test-failover", "all", disable_ha=True)
    dr = plan.dest_pool
    before_srs, before_apps = h.uuids(dr, "SR"), h.uuids(dr, "VM_appliance")
    cancelled = []

    def cancel_on_first_recover(ev):
        if (
            ev.type == "step-finished"
            and (ev.step_key or "").startswith("recover:")
            and not cancelled
        ):
            cancelled.append(ev.run_id)
            h.runner.cancel(ev.run_id)

    h.runner.subscribe(cancel_on_first_recover)
    run = h.run(plan)
    assert cancelled
    assert run.state == "cancelled"
    statuses = {o.status for o in run.outcome.vms.values()}
    assert "pending" not in statuses
    _nothing_left(h, plan, before_srs, before_apps)
