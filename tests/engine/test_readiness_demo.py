"""Readiness of the demo estate, and how it reads when the primary site is lost."""

from __future__ import annotations

from engine.inventory import Inventory
from engine.planner import Site
from engine.readiness import assess


def _assess(world, **kw):
    prod = Site("prod", Inventory.load(world.client("prod")), site="primary")
    dr = Site("dr", Inventory.load(world.client("dr")), site="dr")
    return assess(world.config.pairs[0], protected=prod, dr=dr, storage=world.storage(), **kw), prod


def test_demo_readiness_lists_unprotected_vms_lag_networks_and_metadata(sim):
    """The demo is degraded: three unprotected VMs (pay-app-04 was made inside the replication
    lag, in the same second as the last sync), 900 s of lag, a missing VLAN, no drill."""
    world = sim("demo")
    r, _ = _assess(world)
    assert r.verdict == "degraded"
    assert sorted(v.name for v in r.unprotected) == ["build-cache", "pay-app-04", "report-01"]
    assert r.rpo_seconds == 900
    assert sorted(t.sr_name for t in r.metadata_targets) == ["Gold iSCSI 01", "Gold iSCSI 02"]
    assert all(t.latest and t.replicated for t in r.metadata_targets)
    assert r.ha_enabled
    assert r.dr_licensed
    assert r.capacity is not None
    assert r.capacity.fits
    missing = [nm.source_name for nm in r.networks if nm.matched_by == "none"]
    assert missing == ["Backup VLAN 300"]
    subjects = {reason.subject for reason in r.reasons}
    assert {"drills", "Backup VLAN 300", "Gold iSCSI 01"} <= subjects


def test_primary_site_loss_is_reported_from_the_followed_inventory(sim):
    """After the primary fails, readiness still answers from memory and says the site is down."""
    world = sim("demo")
    r, prod = _assess(world)
    world.control("POST", "/sites/primary/fail")
    prod.reachable = None
    dr = Site("dr", Inventory.load(world.client("dr")), site="dr")
    after = assess(world.config.pairs[0], protected=prod, dr=dr, storage=world.storage())
    assert not after.source_reachable
    assert any("does not answer" in reason.message for reason in after.reasons)
    assert len(after.vms) == len(r.vms)


def test_failed_lun_makes_the_pool_not_ready_and_blocks_a_plan(sim):
    """A failed replicated LUN is a not-ready reason and a blocker of any plan needing it."""
    from engine.planner import PlanOptions, plan

    world = sim("demo")
    gold = next(lun for lun in world.storage().state() if lun.name == "Gold iSCSI 01")
    world.control("POST", "/faults", {"kind": "lun", "lun": gold.lun, "side": "mirror"})
    r, prod = _assess(world)
    assert r.verdict == "not-ready"
    assert any(gold.lun in reason.message for reason in r.reasons)
    dr = Site("dr", Inventory.load(world.client("dr")), site="dr")
    p = plan(
        "failover",
        "app:payments",
        source=prod,
        dest=dr,
        storage=world.storage(),
        options=PlanOptions(planned=True),
    )
    assert any(c.name == "lun-state" and c.subject == "Gold iSCSI 01" for c in p.blockers)


def test_warm_readiness_is_answered_from_memory(sim):
    """With both inventories following events, assessing makes no XAPI call but event.from."""
    world = sim("demo")
    prod = Site(
        "prod", Inventory.load(world.client("prod")).follow(poll_seconds=0.5), site="primary"
    )
    dr = Site("dr", Inventory.load(world.client("dr")).follow(poll_seconds=0.5), site="dr")
    try:
        since = max((c["seq"] for c in world.calls()), default=0)
        r = assess(world.config.pairs[0], protected=prod, dr=dr, storage=world.storage())
        made = {c["method"] for c in world.calls(since)}
        assert r.verdict == "degraded"
        assert r.source_reachable
        assert made <= {"event.from"}
    finally:
        prod.inventory.stop()
        dr.inventory.stop()


def test_a_failing_follower_marks_readiness_as_stale(sim):
    """When the followed pool stops answering, readiness says how old its view is and why."""
    world = sim("demo")
    prod = Site(
        "prod", Inventory.load(world.client("prod")).follow(poll_seconds=0.5), site="primary"
    )
    dr = Site("dr", Inventory.load(world.client("dr")), site="dr")
    try:
        world.control("POST", "/sites/primary/fail")
        assert prod.inventory.wait_for(lambda inv: inv.last_error is not None, timeout=10)
        r = assess(world.config.pairs[0], protected=prod, dr=dr, storage=world.storage())
        assert not r.source_reachable
        assert any("following its changes fails" in reason.message for reason in r.reasons)
        assert r.vms
    finally:
        prod.inventory.stop()
