"""Fixtures for schedules and reports: a real SQLite store in a temp dir on a clock the test
moves (engine.clock.ManualClock), and a way to open a second connection to the same file (a
second replica)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime

import pytest

from engine.clock import ManualClock
from store import Store, open_store


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(datetime(2026, 3, 23, 12, 0, tzinfo=UTC))


@pytest.fixture
def open_replica(tmp_path, clock) -> Iterator[Callable[[], Store]]:
    """Open a connection to the test's store file, as another process would; all closed after."""
    opened: list[Store] = []

    def open_one() -> Store:
        s = open_store(tmp_path / "drbot.db", now=clock.now)
        opened.append(s)
        return s

    yield open_one
    for s in opened:
        s.close()


@pytest.fixture
def store(open_replica) -> Store:
    return open_replica()


REPORTS = "C0DRREPORT"  # #dr-reports in sim/slack's default seed; the bot is a member
AUDIT = "G0DRAUDIT1"  # #dr-audit (private); the bot is a member


@pytest.fixture
def slack():
    """sim/slack's default workspace on loopback (wall clock), stopped after the test."""
    from sim.slack.server import SlackSim

    sim = SlackSim.start()
    yield sim
    sim.stop()


@pytest.fixture
def poster(slack):
    """The reports' poster on a real slack_sdk WebClient pointed at the double."""
    from slack_sdk import WebClient

    from bot.reports.poster import WebClientPoster

    endpoints = slack.endpoints()
    return WebClientPoster(WebClient(token=endpoints["bot_token"], base_url=endpoints["api_url"]))


@pytest.fixture
def reports_config():
    from bot.reports.config import ReportsConfig

    return ReportsConfig(
        timezone="Europe/Paris",
        channel=REPORTS,
        audit_channel=AUDIT,
        rto_target_seconds=600,
        rpo_target_seconds=300,
        metadata_stale_seconds=3600,
    )


@pytest.fixture
def demo_ops(tmp_path):
    """The engine's wiring (`commands.wiring.Wiring`) over a fresh demo simulator (both sites,
    fast hosts) and a store in the test's directory; everything stopped after the test."""
    from bot.simconfig import from_sim_endpoints
    from commands.wiring import Wiring
    from sim.xapi.serve import start_sim

    handle = start_sim("demo", speed=1000.0)
    wiring = Wiring(from_sim_endpoints(handle.endpoints), tmp_path / "drbot.db")
    yield wiring
    wiring.close()
    handle.stop()
