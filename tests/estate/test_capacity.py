"""Estate-wide capacity: the loss of a whole site sends all its pools into their DR pools at
once; readiness checks the sum (memory, and room for HA to restart the VMs of the hosts it
plans to lose) and names the pools that would not fit."""

from __future__ import annotations

from pathlib import Path

from bot.reports.probe import engine_probe
from bot.reports.readiness import record
from commands.requests import PlanRequest, StatusRequest
from commands.results import PlanResult, StatusResult
from commands.service import Service
from commands.wiring import Wiring
from tests.commands.conftest import CLI, GROUPS, OLIVIA, policy
from tests.estate.conftest import estate_text

# Two 64 GiB hosts at dr: each east pool (30 GiB running) fits alone, and the two together.
SMALL_DR = {
    'name = "dr-h1", memory_gb = 64': 'name = "dr-h1", memory_gb = 32',
    'name = "dr-h2", memory_gb = 64': 'name = "dr-h2", memory_gb = 32',
}
HA_DR = {'name = "dr"\nha_enabled = false': 'name = "dr"\nha_enabled = true'}


def _status(sim, tmp_path: Path, **replace: str) -> dict[str, object]:
    path = tmp_path / "estate.toml"
    path.write_text(estate_text(**replace))
    world = sim(str(path))
    svc = Service(
        Wiring(world.config, tmp_path / "drbot.db"), policy(), members=lambda g: GROUPS.get(g, [])
    )
    try:
        report = svc.dispatch(StatusRequest(), OLIVIA)
    finally:
        svc.close()
    assert isinstance(report, StatusResult)
    return {p.protected: p for p in report.pairs}


def test_two_pools_that_fit_dr_alone_but_not_together_are_named(sim, tmp_path):
    """With 2 x 32 GiB at dr, east-a and east-b (site east) each fit alone but not together:
    both say so and name east-b as the pool that would not fit; west (alone at its site into
    the same DR pool) and north are not told."""
    pairs = _status(sim, tmp_path, **SMALL_DR)
    for pool in ("east-a", "east-b"):
        lines = [r for r in pairs[pool].reasons if "If site east is lost" in r]
        assert len(lines) == 1, pairs[pool].reasons
        assert "east-b would not fit" in lines[0]
        assert pairs[pool].verdict != "ready"
    assert not any("is lost" in r for r in pairs["west"].reasons)
    assert not any("is lost" in r for r in pairs["north"].reasons)
    # Each alone fits: no pair's own capacity check complains.
    assert not any("free" in r and "need" in r and "lost" not in r for r in pairs["east-a"].reasons)


def test_the_sum_fits_memory_but_not_the_room_ha_keeps_for_a_lost_host(sim, tmp_path):
    """With HA on at dr (one host failure tolerated), east's 60 GiB fit the free memory but not
    what is left once the largest host is lost: east-a and east-b say HA could not restart
    them all; west's 30 GiB leave room, and nothing is said of memory."""
    pairs = _status(sim, tmp_path, **HA_DR)
    for pool in ("east-a", "east-b"):
        lines = [r for r in pairs[pool].reasons if "If site east is lost" in r]
        assert len(lines) == 1, pairs[pool].reasons
        assert "HA could not restart them all" in lines[0]
    assert not any("is lost" in r for r in pairs["west"].reasons)


def test_with_room_enough_nothing_is_said(estate_service):
    """The estate as built (2 x 64 GiB at dr, no HA): no site loss is short anywhere."""
    report = estate_service().dispatch(StatusRequest(), OLIVIA)
    assert isinstance(report, StatusResult)
    assert not [r for p in report.pairs for r in p.reasons if "is lost" in r]


def test_one_pools_failover_plan_warns_when_its_site_would_not_fit_together(sim, tmp_path):
    """With readiness samples kept and 2 x 32 GiB at dr, the failover plan of east-a alone
    carries a warning that the loss of site east (east-a and east-b) would not fit dr, naming
    east-b; west's plan (alone at its site) carries none."""
    path = tmp_path / "estate.toml"
    path.write_text(estate_text(**SMALL_DR))
    world = sim(str(path))
    svc = Service(
        Wiring(world.config, tmp_path / "drbot.db"), policy(), members=lambda g: GROUPS.get(g, [])
    )
    try:
        record(svc.wiring.store, engine_probe(svc.wiring)())
        east = svc.dispatch(PlanRequest(kind="failover", target="all", pool="east-a"), CLI)
        west = svc.dispatch(PlanRequest(kind="failover", target="all", pool="west"), CLI)
    finally:
        svc.close()
    assert isinstance(east, PlanResult)
    assert isinstance(west, PlanResult)
    warned = [c.message for c in east.plan.warnings if c.name == "site-capacity"]
    assert len(warned) == 1
    assert "east-b would not fit" in warned[0]
    assert east.plan.hash == east.plan.compute_hash()
    assert not [c for c in west.plan.checks if c.name == "site-capacity"]
