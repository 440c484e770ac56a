"""Per protected pool: drills, RTO history and estimates, readiness and `runs` are keyed by the
protected pool (and show it), never by the DR pool alone that several pools share."""

from __future__ import annotations

import json

from sqlite_utils import Database

from commands.requests import PlanRequest, RunsRequest, StatusRequest, TestFailoverRequest
from commands.results import PlanResult, RunsList, RunStarted, StatusResult
from store import open_store
from store.migrations import migrations
from tests.commands.conftest import CLI, OLIVIA

RUN_TIMEOUT = 120.0


def _drill(svc, pool: str) -> int:
    started = svc.dispatch(TestFailoverRequest(target="all", pool=pool), CLI)
    assert isinstance(started, RunStarted), started
    assert svc.wait(started.run.id, timeout=RUN_TIMEOUT).state == "succeeded"
    return started.run.id


def test_wests_drill_is_wests_and_not_east_as(estate_service):
    """After west's drill into dr, status shows it as west's last drill; east-a (also into dr)
    has none, and its plan's RTO is estimated from the model, not from west's drill."""
    svc = estate_service()
    run_id = _drill(svc, "west")
    report = svc.dispatch(StatusRequest(), OLIVIA)
    assert isinstance(report, StatusResult)
    by_pool = {p.protected: p for p in report.pairs}
    assert by_pool["west"].last_drill is not None
    assert by_pool["west"].last_drill.run_id == run_id
    assert by_pool["east-a"].last_drill is None
    assert any("No drill" in r for r in by_pool["east-a"].reasons)
    assert not any("No drill" in r for r in by_pool["west"].reasons)
    west = svc.dispatch(PlanRequest(kind="test-failover", target="all", pool="west"), OLIVIA)
    east = svc.dispatch(PlanRequest(kind="test-failover", target="all", pool="east-a"), OLIVIA)
    assert isinstance(west, PlanResult)
    assert isinstance(east, PlanResult)
    rto = svc.wiring.store.drills.recent("west", limit=1)[0]["rto_seconds"]
    assert west.plan.estimated_rto_seconds == rto
    assert east.plan.estimated_rto_seconds != rto
    assert "model" in east.plan.rto_basis


def test_runs_name_their_protected_pool_and_filter_by_it(estate_service):
    """`runs` shows each run's protected pool (east-a and west both recover into dr);
    `runs --pool east-a` lists east-a's only."""
    svc = estate_service()
    west = _drill(svc, "west")
    east = _drill(svc, "east-a")
    listed = svc.dispatch(RunsRequest(), OLIVIA)
    assert isinstance(listed, RunsList)
    assert [(r.id, r.protected_pool, r.pool) for r in listed.runs] == [
        (east, "east-a", "dr"),
        (west, "west", "dr"),
    ]
    only = svc.dispatch(RunsRequest(pool="east-a"), OLIVIA)
    assert [r.id for r in only.runs] == [east]


def test_the_migration_keys_recorded_drills_by_their_protected_pool(tmp_path):
    """Drills recorded before the change (under the DR pool only) get the protected pool from
    their run's plan: the source for a test failover, the destination for a failback."""
    path = tmp_path / "old.db"
    db = Database(path)
    migrations.apply(db, stop_before="m_drills_by_protected_pool")
    for run_id, kind, plan in (
        (1, "test-failover", {"source_pool": "west", "dest_pool": "dr"}),
        (2, "failback", {"source_pool": "dr", "dest_pool": "east-a"}),
    ):
        db["runs"].insert(
            {
                "id": run_id,
                "kind": kind,
                "target": "all",
                "pool": plan["dest_pool"],
                "state": "succeeded",
                "plan_json": json.dumps(plan),
                "created_at": "2026-01-01T00:00:00+00:00",
                "updated_at": "2026-01-01T00:00:00+00:00",
            }
        )
        db["drills"].insert(
            {
                "run_id": run_id,
                "kind": kind,
                "pool": plan["dest_pool"],
                "rto_seconds": 60.0,
                "outcome": "succeeded",
                "per_vm_json": "{}",
                "at": "2026-01-01T00:00:00+00:00",
            }
        )
    db.close()
    store = open_store(path)
    try:
        assert [d["run_id"] for d in store.drills.recent("west")] == [1]
        assert [d["run_id"] for d in store.drills.recent("east-a")] == [2]
        assert store.drills.recent("dr") == []
        assert [d["run_id"] for d in store.drills.into("dr")] == [1]
    finally:
        store.close()
