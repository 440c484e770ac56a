"""A pool lost since drbot last read it is planned from that read, not blind: the plan lists
its VMs (what a running bot knew before the night), so the run need not first read them from
the replicated metadata. A read older than the replication lag allowed could miss VMs the
mirror already holds: then the plan is blind, as for a pool never read."""

from __future__ import annotations

from datetime import UTC, datetime

from commands.requests import PlanRequest, StatusRequest
from commands.results import PlanResult
from engine.clock import ManualClock
from tests.commands.conftest import CLI


def _plan(svc) -> PlanResult:
    result = svc.dispatch(PlanRequest(kind="failover", target="all", pool="east-a"), CLI)
    assert isinstance(result, PlanResult), result
    return result


def test_a_lost_pool_is_planned_from_its_last_read_while_it_is_recent(estate, estate_service):
    """east-a read by `status`, then site east lost: the failover plan names east-a's three
    VMs (its last read), source unreachable; once that read is older than
    storage.max_lag_seconds the plan is blind again (no VM, the records-unread warning)."""
    clock = ManualClock(datetime.now(UTC))
    svc = estate_service(clock=clock)
    svc.dispatch(StatusRequest(), CLI)  # a running bot reads its pools before the night
    estate.control("POST", "/sites/east/fail")
    known = _plan(svc).plan
    assert not known.source_reachable
    assert sorted(v.name for v in known.vms) == ["east-a-db", "east-a-web-01", "east-a-web-02"]
    assert not known.blockers, known.blockers
    clock.advance(svc.wiring.config.storage.max_lag_seconds + 1)
    blind = _plan(svc).plan
    assert blind.vms == []
    assert "records" in {c.name for c in blind.checks}
