"""Readiness history, alerts (once when a pool gets worse, once when it clears) and the daily
summary, posted to sim/slack through a real WebClient."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from slack_sdk.errors import SlackApiError

from bot.reports.blocks import check_message
from bot.reports.models import PoolReadiness
from bot.reports.readiness import ReadinessReports, latest_samples, summary_message
from tests.reports.conftest import REPORTS


class Estate:
    """The readiness the test says each pool has now (the probe the jobs call)."""

    def __init__(self, clock) -> None:
        self.clock = clock
        self.pools: dict[str, dict] = {}

    def set(self, pool: str, verdict: str, **figures) -> None:
        self.pools[pool] = {"verdict": verdict, **figures}

    def __call__(self) -> list[PoolReadiness]:
        return [
            PoolReadiness(pool=p, dr_pool=f"{p}-dr", at=self.clock.now(), **f)
            for p, f in sorted(self.pools.items())
        ]


def _bot_messages(slack, channel=REPORTS):
    return [e for e in slack.record.entries(channel=channel, kind="message")]


def test_alert_is_posted_once_when_readiness_drops_and_once_when_it_clears(
    store, clock, slack, poster, reports_config
):
    """Ten checks while degraded post one alert; the checks after it clears post one notice."""
    estate = Estate(clock)
    estate.set("prod", "ready", lag_seconds=20)
    jobs = ReadinessReports(store, estate, poster, reports_config)
    jobs.check(clock.now())
    assert _bot_messages(slack) == []
    estate.set("prod", "degraded", lag_seconds=900, reasons=["degraded: LUN lag 900 s"])
    for _ in range(10):
        clock.advance(300)
        jobs.check(clock.now())
    estate.set("prod", "ready", lag_seconds=30)
    for _ in range(5):
        clock.advance(300)
        jobs.check(clock.now())
    posted = _bot_messages(slack)
    assert len(posted) == 2
    assert "dropped to degraded" in posted[0].text
    assert "LUN lag 900 s" in str(posted[0].blocks)
    assert "ready again" in posted[1].text
    assert len(store.history.samples("prod")) == 16


def test_a_further_drop_is_news_but_a_partial_recovery_is_not(
    store, clock, slack, poster, reports_config
):
    """degraded -> not-ready alerts again; not-ready -> degraded says nothing; degraded ->
    not-ready after that alerts again."""
    estate = Estate(clock)
    jobs = ReadinessReports(store, estate, poster, reports_config)
    for verdict in ("degraded", "not-ready", "degraded", "degraded", "not-ready"):
        estate.set("prod", verdict)
        clock.advance(300)
        jobs.check(clock.now())
    texts = [e.text for e in _bot_messages(slack)]
    assert texts == [
        "prod readiness dropped to degraded",
        "prod readiness dropped to not-ready",
        "prod readiness dropped to not-ready",
    ]


def test_a_second_replica_does_not_repeat_an_alert(
    open_replica, clock, slack, poster, reports_config
):
    """What was announced is in the store: a replica taking over says nothing again."""
    estate = Estate(clock)
    estate.set("prod", "not-ready")
    ReadinessReports(open_replica(), estate, poster, reports_config).check(clock.now())
    clock.advance(300)
    ReadinessReports(open_replica(), estate, poster, reports_config).check(clock.now())
    assert len(_bot_messages(slack)) == 1


def test_history_keeps_thirty_days_and_drops_older(store, clock, slack, poster, reports_config):
    """Samples older than history_days (35) are pruned at each check; 30+ days of them stay."""
    estate = Estate(clock)
    estate.set("prod", "ready", lag_seconds=10)
    jobs = ReadinessReports(store, estate, poster, reports_config)
    start = clock.now()
    for _ in range(40):
        jobs.check(clock.now())
        clock.advance(86400)
    kept = store.history.samples("prod")
    # The last check (day 39) dropped what was older than day 39 - 35 = day 4.
    assert [k["at"] for k in kept] == [start + timedelta(days=d) for d in range(4, 40)]


def test_summary_says_what_changed_since_the_last_one(store, clock, slack, poster, reports_config):
    """The second summary names the verdict change, newly unprotected VMs, stale metadata,
    lag over the RPO target, a capacity shortfall and missing networks."""
    estate = Estate(clock)
    estate.set("prod", "ready", lag_seconds=30, metadata_age_seconds=60, unprotected=["old-vm"])
    jobs = ReadinessReports(store, estate, poster, reports_config)
    jobs.summary(clock.now())
    estate.set(
        "prod",
        "degraded",
        lag_seconds=1200,
        metadata_age_seconds=7200,
        unprotected=["old-vm", "new-db-01"],
        capacity_needed_bytes=300 * 2**30,
        capacity_free_bytes=200 * 2**30,
        capacity_fits=False,
        missing_networks=["Backup VLAN 300"],
    )
    clock.advance(86400)
    jobs.summary(clock.now())
    first, second = _bot_messages(slack)
    assert "First summary" in str(first.blocks)
    body = str(second.blocks)
    assert "verdict ready → degraded" in body
    assert "newly unprotected: new-db-01" in body
    assert "old-vm" not in body.split("newly unprotected")[1].split("•")[0]
    assert "metadata 2.0 h old (over 60 min)" in body
    assert "replication lag 20 min (RPO target 5 min)" in body
    assert "300 GiB needed, 200 GiB free" in body
    assert "Backup VLAN 300" in body
    assert [s.pool for s in latest_samples(store)] == ["prod"]


def test_summary_of_many_pools_fits_slack(reports_config):
    """300 pools, each with 1,000 unprotected VMs, make a summary within Slack's limits that
    still counts every pool."""
    at = datetime(2026, 3, 2, 7, 0, tzinfo=UTC)
    samples = [
        PoolReadiness(
            pool=f"pool-{i:03}",
            verdict=("ready", "degraded", "not-ready")[i % 3],
            at=at,
            unprotected=[f"vm-{i}-{j:04}-with-a-long-name" for j in range(1000)],
            reasons=["x" * 500] * 20,
        )
        for i in range(300)
    ]
    text, blocks = summary_message(samples, {}, reports_config, at)
    check_message(text, blocks)
    assert text == "DR readiness: 100 ready, 100 degraded, 100 not-ready"
    shown = [b for b in blocks if b["type"] == "section" and "→" in b["text"]["text"]]
    assert shown, "the worst pools are shown"
    assert all("not-ready" in b["text"]["text"] for b in shown)
    assert f"{300 - len(shown)} more pools" in str(blocks[-1])


def test_rpo_series_keeps_the_worst_lag_and_age_of_each_hour(store, clock):
    """Twelve checks an hour for three hours: the series has one point per pool and hour, at
    the hour's start, with that hour's highest lag and metadata age."""
    from bot.reports.readiness import record, rpo_series

    start = datetime(2026, 4, 1, 10, 0, tzinfo=UTC)
    lags = {h: [10.0 * h + i for i in range(12)] for h in range(3)}
    for h in range(3):
        for i in range(12):
            at = start + timedelta(hours=h, minutes=5 * i)
            record(
                store,
                [
                    PoolReadiness(
                        pool="prod",
                        verdict="ready",
                        at=at,
                        lag_seconds=lags[h][(i * 5) % 12],
                        metadata_age_seconds=100.0 - i,
                    )
                ],
            )
    series = rpo_series(store, start)
    assert [(p.at, p.lag_seconds, p.metadata_age_seconds) for p in series] == [
        (start + timedelta(hours=h), max(lags[h]), 100.0) for h in range(3)
    ]


def test_an_alert_slack_refused_is_posted_at_the_next_check(
    store, clock, slack, poster, reports_config
):
    """Slack answers a 429 (the poster not retrying) at one check: the alert is not
    remembered as posted, so the next check posts it, once."""
    estate = Estate(clock)
    estate.set("prod", "not-ready")
    jobs = ReadinessReports(store, estate, poster, reports_config)
    poster.client.retry_handlers.clear()  # no waiting out the 429 in this test
    slack.world.limiter.force("chat.postMessage", count=1)
    with pytest.raises(SlackApiError):
        jobs.check(clock.now())
    clock.advance(300)
    jobs.check(clock.now())
    clock.advance(300)
    jobs.check(clock.now())
    assert [e.text for e in _bot_messages(slack)] == ["prod readiness dropped to not-ready"]
