"""The last-drill gauges are per protected pool and DR pool: two protected pools drilled into
one DR pool each keep their own RTO, RPO and time on /metrics, never the DR pool's newest
drill standing for both (bot/metrics.py, read from a real store at each scrape)."""

from __future__ import annotations

from pathlib import Path

from prometheus_client import generate_latest
from prometheus_client.parser import text_string_to_metric_families

from bot.metrics import Metrics
from store import open_store


def _drill(store, protected: str, dr: str, rto: float, lags: list[float | None]) -> None:
    plan = {
        "source_pool": protected,
        "dest_pool": dr,
        "luns": [{"lun": f"lun-{i}", "lag_seconds": lag} for i, lag in enumerate(lags)],
    }
    run_id = store.runs.create("test-failover", "all", dr, "h", plan, "cli:root")
    store.drills.record(run_id, "test-failover", dr, rto, "succeeded", {})


def _scrape(metrics: Metrics) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    text = generate_latest(metrics.registry).decode()
    return {
        (s.name, frozenset(s.labels.items())): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def test_each_protected_pool_keeps_its_own_last_drill_rto_and_rpo(tmp_path: Path) -> None:
    """east-a (RTO 100 s, lags 12 and 30 s) then west (RTO 250 s, lag 5 s) drilled into dr,
    and north into dr2: one series per protected pool and DR pool; east-a's older drill is
    not replaced by west's, and a newer drill of east-a replaces its own."""
    store = open_store(tmp_path / "drbot.db")
    try:
        _drill(store, "east-a", "dr", 100.0, [12.0, 30.0])
        _drill(store, "west", "dr", 250.0, [5.0, None])
        _drill(store, "north", "dr2", 70.0, [])
        found = _scrape(Metrics(store))
        _drill(store, "east-a", "dr", 90.0, [8.0])
        again = _scrape(Metrics(store))
    finally:
        store.close()

    def rto(scrape, pool: str, dr: str) -> float | None:
        labels = frozenset({"pool": pool, "dr_pool": dr}.items())
        return scrape.get(("drbot_last_drill_rto_seconds", labels))

    def rpo(scrape, pool: str, dr: str) -> float | None:
        labels = frozenset({"pool": pool, "dr_pool": dr}.items())
        return scrape.get(("drbot_last_drill_rpo_seconds", labels))

    assert rto(found, "east-a", "dr") == 100.0
    assert rto(found, "west", "dr") == 250.0
    assert rto(found, "north", "dr2") == 70.0
    assert rpo(found, "east-a", "dr") == 30.0
    assert rpo(found, "west", "dr") == 5.0
    assert rpo(found, "north", "dr2") is None  # its plan knew no lag
    stamps = [k for k in found if k[0] == "drbot_last_drill_timestamp_seconds"]
    assert len(stamps) == 3
    assert rto(again, "east-a", "dr") == 90.0
    assert rpo(again, "east-a", "dr") == 8.0
    assert rto(again, "west", "dr") == 250.0
