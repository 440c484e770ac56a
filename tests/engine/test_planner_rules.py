"""Planning has no side effects, the hash is canonical, and the RTO estimate has a basis."""

from __future__ import annotations

from engine.models import Plan
from engine.planner import PlanOptions, plan
from tests.engine.estate import build_estate


def _plan(estate, kind="test-failover", target="all", history=None, luns=None, **opts):
    src, dst = estate.sites()
    return plan(
        kind,
        target,
        source=src,
        dest=dst,
        storage=luns if luns is not None else estate.luns,
        options=PlanOptions(**opts),
        history=history,
    )


def test_planning_changes_nothing_in_either_pool(core_sim):
    """Both pools' databases hold the same records before and after planning every kind (the
    generation moves only by event.inject, which XAPI counts and which changes no field)."""
    estate = build_estate(core_sim)
    before = (estate.prod.db.tables(), estate.dr.db.tables())
    for kind in ("test-failover", "failover"):
        _plan(estate, kind)
    assert (estate.prod.db.tables(), estate.dr.db.tables()) == before


def test_same_world_same_hash_and_a_choice_changes_it(core_sim):
    """Two plans of an unchanged world share a hash; a different power choice does not."""
    estate = build_estate(core_sim)
    first, second = _plan(estate), _plan(estate)
    assert first.hash == second.hash
    assert len(first.hash) == 64
    assert _plan(estate, power_after="leave-off").hash != first.hash


def test_hash_ignores_measurements_that_move_on_their_own(core_sim):
    """Replication lag and the RTO estimate do not move the hash; a renamed VM does."""
    estate = build_estate(core_sim)
    first = _plan(estate)
    lagging = [estate.luns[0].model_copy(update={"lag_seconds": 120.0})]
    assert _plan(estate, luns=lagging, history=lambda *_: [42.0]).hash == first.hash
    estate.prod.db.set("VM", estate.vm("vm-00004"), name_label="renamed")
    assert _plan(estate).hash != first.hash


def test_plan_survives_a_json_round_trip(core_sim):
    """A plan serialised to JSON and read back is equal, hash included."""
    estate = build_estate(core_sim)
    p = _plan(estate)
    again = Plan.model_validate_json(p.model_dump_json())
    assert again == p
    assert again.compute_hash() == p.hash


def test_rto_comes_from_history_else_from_the_model(core_sim):
    """With drill history the estimate is its median; without, the model says so."""
    estate = build_estate(core_sim)
    modelled = _plan(estate)
    assert modelled.estimated_rto_seconds > 0
    assert "model" in modelled.rto_basis
    seen = []

    def history(kind, source, dest):
        seen.append((kind, source, dest))
        return [100.0, 300.0, 200.0]

    from_history = _plan(estate, history=history)
    assert from_history.estimated_rto_seconds == 200.0
    assert "drills" in from_history.rto_basis
    assert seen == [("test-failover", "prod", "dr")]


def test_most_recent_record_wins_by_version(core_sim):
    """The recovered record carries the source's version; an older destination copy is replaced."""
    estate = build_estate(core_sim)
    db = estate.prod.db
    db.set("VM", estate.vm("vm-00004"), version=5)
    rec = db.get("VM", estate.vm("vm-00004"))
    estate.dr.db.create("VM", {"uuid": rec["uuid"], "name_label": "vm-00004", "version": 4})
    vm = next(v for v in _plan(estate).vms if v.name == "vm-00004")
    assert vm.version == 5
    assert vm.existing_in_dest == "older"


def test_plan_names_the_metadata_and_luns_it_will_use(core_sim):
    """The plan lists the latest metadata VDI (unread before the mirror is attached) and its LUN."""
    estate = build_estate(core_sim)
    p = _plan(estate, "failover", planned=True)
    assert [ms.vdi_uuid for ms in p.metadata_vdis] == [estate.metadata_vdi]
    assert p.metadata_vdis[0].latest
    assert not p.metadata_vdis[0].read
    assert [(lun.lun, lun.action, lun.holds_metadata) for lun in p.luns] == [
        ("lun-1", "promote", True)
    ]
    assert {vm.record_source for vm in p.vms} == {"source-pool"}


def test_hash_ignores_checks_that_only_grade_moving_measurements(core_sim):
    """Lag crossing its limit (an rpo warning) or writes in flight do not move the hash."""
    estate = build_estate(core_sim, lag=60)
    calm = _plan(estate, max_lag_seconds=300)
    stormy = [estate.luns[0].model_copy(update={"lag_seconds": 900.0})]
    rough = _plan(estate, luns=stormy, max_lag_seconds=300)
    assert any(c.name == "rpo" for c in rough.warnings)
    assert any(c.name == "metadata-in-flight" for c in calm.warnings)
    assert rough.hash == calm.hash
