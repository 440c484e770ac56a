"""Readiness of a protected pool: protection per VM, metadata, RPO, capacity, verdict."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from engine.capacity import start_need
from engine.config import PoolPair
from engine.inventory import Inventory
from engine.planner import PlanOptions, Site, plan
from engine.readiness import assess
from engine.storage.sim import SimStorageAdapter
from tests.engine.estate import build_estate

PAIR = PoolPair(protected="prod", dr="dr")


def _assess(estate, *, luns=None, drill=None, pair=PAIR, source_reachable=None, **kw):
    src, dst = estate.sites(source_reachable=source_reachable)
    recent = (
        drill
        if drill is not None
        else (lambda pool: {"at": datetime.now(UTC), "outcome": "succeeded", "rto_seconds": 300})
    )
    return assess(
        pair,
        protected=src,
        dr=dst,
        storage=luns if luns is not None else estate.luns,
        last_drill=recent,
        **kw,
    )


def test_a_healthy_estate_is_ready(core_sim):
    """Protected VMs, healthy metadata, low lag, room at DR and a recent drill: ready."""
    estate = build_estate(core_sim)
    r = _assess(estate)
    assert r.verdict == "ready", r.reasons
    assert r.protected_count == 6
    assert r.metadata_targets[0].latest
    assert r.metadata_targets[0].replicated
    assert r.rpo_seconds == 60
    assert r.capacity is not None
    assert r.capacity.fits
    assert r.dr_licensed
    assert r.last_drill is not None
    assert r.last_drill.rto_seconds == 300


def test_unprotected_vms_degrade_with_their_reasons(core_sim):
    """A VM on local storage is unprotected, says why, and its vApp (and so its mates) too."""
    estate = build_estate(core_sim)
    estate.put_on_local_storage("vm-00001")
    r = _assess(estate)
    assert r.verdict == "degraded"
    row = next(v for v in r.vms if v.name == "vm-00001")
    assert not row.protected
    assert "local storage" in row.reasons[0]
    app = r.appliances[0]
    assert not app.protected
    assert app.unprotected_vms == ["vm-00001"]  # the member at fault
    # Its vApp mates cannot come back without it (a vApp is recovered whole): not protected.
    mates = [v for v in r.vms if v.appliance == row.appliance and v is not row]
    assert mates
    assert not any(v.protected for v in mates)
    assert any(f"{1 + len(mates)} of 6" in reason.message for reason in r.reasons)


def test_no_metadata_or_failed_lun_is_not_ready(core_sim):
    """Without metadata replication, or with the LUN failed, the pool is not ready."""
    estate = build_estate(core_sim)
    failed = [estate.luns[0].model_copy(update={"state": "failed"})]
    assert _assess(estate, luns=failed).verdict == "not-ready"
    for ref in estate.prod.db.where("VDI", type="metadata"):
        estate.prod.db.delete("VDI", ref)
    r = _assess(estate)
    assert r.verdict == "not-ready"
    assert any("replicates no metadata" in reason.message for reason in r.reasons)


def test_lag_above_the_limit_degrades(core_sim):
    """Replication lag above max_lag_seconds is a degraded reason naming the lag."""
    estate = build_estate(core_sim, lag=900)
    r = _assess(estate, max_lag_seconds=300)
    assert r.verdict == "degraded"
    assert any("900 s" in reason.message for reason in r.reasons)


def test_drills_missing_failed_or_old_degrade(core_sim):
    """No drill, a failed drill and a drill older than 30 days each degrade readiness."""
    estate = build_estate(core_sim)
    assert _assess(estate, drill=lambda pool: None).verdict == "degraded"
    failed = _assess(estate, drill=lambda pool: [{"at": datetime.now(UTC), "outcome": "failed"}])
    assert any("failed" in reason.message for reason in failed.reasons)
    old = datetime.now(UTC) - timedelta(days=45)
    r = _assess(estate, drill=lambda pool: {"at": old.isoformat(), "outcome": "succeeded"})
    assert any("45 days" in reason.message for reason in r.reasons)


def test_capacity_short_at_dr_is_not_ready(core_sim):
    """Running VMs needing more memory than the DR pool has free make it not ready."""
    estate = build_estate(core_sim)
    for host in estate.dr.refs["hosts"]:
        metrics = estate.dr.db.get("host", host)["metrics"]
        estate.dr.db.set("host_metrics", metrics, memory_free=512 * 1024**2)
    r = _assess(estate)
    assert r.verdict == "not-ready"
    assert r.capacity is not None
    assert not r.capacity.fits


def test_missing_network_and_ha_are_reported(core_sim):
    """An unmatched network degrades; HA on at the DR pool is reported as information."""
    estate = build_estate(core_sim)
    net1 = estate.dr.refs["networks"][1]
    estate.dr.db.set("network", net1, name_label="Other", bridge="xenbr7")
    estate.dr.db.set("pool", estate.dr.refs["pool"], ha_enabled=True)
    r = _assess(estate)
    assert r.ha_enabled
    missing = [nm for nm in r.networks if nm.matched_by == "none"]
    assert [nm.source_name for nm in missing] == ["Pool-wide network associated with eth1"]
    assert r.verdict == "degraded"
    assert any(reason.severity == "info" and "HA" in reason.message for reason in r.reasons)


def test_unreadable_storage_and_drill_store_are_reasons_not_crashes(core_sim):
    """A dead storage control API and a failing drill store become reasons with advice."""
    estate = build_estate(core_sim)

    def broken(pool):
        raise RuntimeError("database is locked")

    r = _assess(estate, luns=SimStorageAdapter("http://127.0.0.1:9", timeout=2), drill=broken)
    assert r.verdict == "not-ready"
    messages = " ".join(reason.message for reason in r.reasons)
    assert "drbot sim serve" in messages
    assert "database is locked" in messages


def test_readiness_and_the_plan_count_the_same_memory_for_a_failover(sim):
    """Readiness needs what a failover of every protected VM would start, as the plan counts
    it (halted VMs too, suspended ones left off): one rule, one figure for one pool."""
    world = sim("demo")
    prod = Site("prod", Inventory.load(world.client("prod")), world.client("prod"), site="primary")
    dr = Site("dr", Inventory.load(world.client("dr")), world.client("dr"), site="dr")
    storage = world.storage()
    ready = assess(world.config.pairs[0], protected=prod, dr=dr, storage=storage)
    p = plan("failover", "all", source=prod, dest=dr, options=PlanOptions(), storage=storage)
    assert any(vm.power_state_at_source == "Halted" for vm in p.vms)  # the case that differed
    need, largest = start_need(p.vms)
    assert ready.capacity is not None
    assert (ready.capacity.needed_bytes, ready.capacity.largest_vm_bytes) == (need, largest)
