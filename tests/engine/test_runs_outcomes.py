"""Runs on the small scenario's traps and faults end with a clear outcome
per VM (sim/xapi's "mini": a standalone VM created inside the replication lag, a VM on local
storage, one on an unreplicated NFS disk, a network missing at DR, HA on at DR)."""

from __future__ import annotations

import pytest

from tests.engine.runs_support import make_harness


@pytest.fixture
def h(sim, tmp_path):
    world = sim("mini")
    harness = make_harness(world, tmp_path)
    yield harness
    harness.store.close()


def _statuses(run):
    return run.outcome.statuses()


def test_a_standalone_vm_missing_from_the_metadata_fails_alone(h):
    """late-vm (inside the lag) ends not-in-metadata; the other VMs are tested; partial success."""
    plan = h.plan("test-failover", "all", disable_ha=True)
    assert not plan.blockers, plan.blockers
    run = h.run(plan)
    statuses = _statuses(run)
    assert statuses.pop("late-vm") == "not-in-metadata"
    assert set(statuses.values()) <= {"started-paused", "recovered"}
    assert run.state == "partially-succeeded"


def test_test_failover_of_the_mini_vapp_starts_it_paused_and_cleans_up(h):
    """The shop vApp is recovered and started paused, then nothing of it is left at DR."""
    plan = h.plan("test-failover", "shop", disable_ha=True)
    before = h.uuids("dr", "SR")
    run = h.run(plan)
    assert run.state == "succeeded", run
    assert set(_statuses(run).values()) == {"started-paused"}
    assert h.uuids("dr", "SR") == before
    assert not set(h.vms("dr")) & {vm.uuid for vm in plan.vms}


def test_a_coordinator_moved_before_the_run_is_followed(h):
    """The DR pool's coordinator changes after planning; the run follows it and succeeds."""
    plan = h.plan("test-failover", "app-01", disable_ha=True)
    pool = h.world.handle.world.pools["dr"]
    old = pool.coordinator_address
    pool.hosts.reverse()  # the former coordinator is now a member answering HOST_IS_SLAVE
    h.world.handle.servers.refresh()
    assert pool.coordinator_address != old
    run = h.run(plan)
    assert run.state == "succeeded", run
    assert _statuses(run) == {"app-01": "started-paused"}
    assert h.client("dr").url == h.world.handle.url(pool.coordinator_address)


def test_failover_after_site_loss_recovers_all_but_the_vm_missing_from_metadata(h):
    """With the primary lost, every protected VM but late-vm is started at DR; late-vm says why."""
    h.site("prod")  # what drbot saw of the site before it was lost
    h.world.control("POST", "/sites/primary/fail")
    plan = h.plan("failover", "all", source_up=False)
    assert not plan.blockers, plan.blockers
    run = h.run(plan)
    statuses = _statuses(run)
    assert statuses.pop("late-vm") == "not-in-metadata"
    assert set(statuses.values()) == {"started"}
    assert run.state == "partially-succeeded"


def test_a_test_failover_leaves_no_network_it_created(h):
    """After testing a VM whose network is missing at DR, no new network remains at DR."""
    plan = h.plan("test-failover", "backup-proxy", disable_ha=True)
    assert "network-missing" in {c.name for c in plan.warnings}
    before = h.uuids("dr", "network")
    run = h.run(plan)
    assert run.state == "succeeded", run
    assert h.uuids("dr", "network") == before


def test_a_planned_failover_shuts_down_a_paused_vm_too(h):
    """A VM paused at the primary is shut down there and started at DR by a planned failover."""
    prod = h.client("prod")
    prod.call("VM.pause", prod.call("VM.get_by_name_label", "app-01")[0])
    plan = h.plan("failover", "app-01", planned=True)
    assert not plan.blockers, plan.blockers
    run = h.run(plan)
    assert _statuses(run) == {"app-01": "started"}
    assert run.state == "succeeded"


def test_after_a_failover_and_failback_the_pool_is_protected_again(h):
    """A planned failover then a failback leave replication towards DR, so drills work again."""
    over = h.run(h.plan("failover", "app-01", planned=True))
    assert over.state == "succeeded", over
    back = h.run(h.plan("failback", "app-01"))
    assert back.state == "succeeded", back
    states = {lun.name: lun.state for lun in h.world.storage().state()}
    assert states["Gold"] == "replicating"
    drill = h.plan("test-failover", "app-01", disable_ha=True)
    assert "lun-state" not in {c.name for c in drill.blockers}


def test_a_failed_mirror_is_named_as_the_arrays_refusal(h):
    """The sim adapter reports the array's reason for refusing a step, not a dead control API."""
    from engine.errors import StorageError

    h.world.control("POST", "/faults", {"kind": "lun", "lun": "prod-silver", "side": "mirror"})
    with pytest.raises(StorageError) as err:
        h.world.storage().present_test_copy("prod-silver")
    assert "refused to present a test copy of LUN prod-silver" in str(err.value)
    assert "has failed" in str(err.value)
    assert "running?" not in str(err.value)


def test_a_failed_lun_gives_each_vm_a_clear_outcome(h):
    """With Silver's mirror failed, halted-vm says why it was not run; app-01 has an outcome."""
    plan = h.plan("test-failover", "app-01,halted-vm", disable_ha=True)
    h.world.control("POST", "/faults", {"kind": "lun", "lun": "prod-silver", "side": "mirror"})
    run = h.run(plan)
    outcome = {o.name: o for o in run.outcome.vms.values()}
    assert outcome["halted-vm"].status == "not-run"
    assert "prod-silver" in (outcome["halted-vm"].error or "")
    assert outcome["app-01"].status == "started-paused" or (
        outcome["app-01"].status == "not-run" and outcome["app-01"].error
    )


def test_readiness_flags_a_vm_running_at_both_sites(h):
    """After a planned failover, restarting the primary's copy makes readiness cry split brain."""
    from engine.readiness import assess

    run = h.run(h.plan("failover", "app-01", planned=True))
    assert run.state == "succeeded", run
    prod = h.client("prod")
    prod.call("VM.start", prod.call("VM.get_by_name_label", "app-01")[0], False, False)
    r = assess(h.pair, protected=h.site("prod"), dr=h.site("dr"), storage=h.world.storage())
    assert r.verdict == "not-ready"
    (twice,) = [x for x in r.reasons if x.message.startswith("Split brain")]
    assert "app-01" in twice.message
