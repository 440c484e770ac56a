"""End-to-end fixtures: sim/xapi (the `mini` scenario, fast), sim/slack and the real bot
(Bolt, in Socket Mode or HTTP mode) on loopback, with the real commands service over a real
store file. People act through the Slack double; the tests wait (bounded) for what the bot
shows them."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from bot.demo import DemoWorld, demo_world
from engine.clock import SystemClock
from sim.slack.record import Seen
from store.records import RunRecord

OPS = "C0DROPS001"
SPEED = 1000.0


@pytest.fixture(params=["socket", "http"])
def mode(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def world(tmp_path: Path, mode: str) -> Iterator[DemoWorld]:
    """The whole product in one mode (both modes run each test that uses it)."""
    with demo_world(tmp_path / "world", scenario="mini", speed=SPEED, mode=mode) as w:
        yield w


@pytest.fixture
def socket_world(tmp_path: Path) -> Iterator[DemoWorld]:
    """The whole product in Socket Mode only (for tests about one mode's transport)."""
    with demo_world(tmp_path / "world", scenario="mini", speed=SPEED) as w:
        yield w


class ShiftedClock(SystemClock):
    """The machine's clock, shifted forward by `shift()`: the service sees 30 minutes pass
    (approval expiry) or a dead process's lease run out, while sim/xapi and the engine keep
    running in real time (a ManualClock would stop the engine's waits)."""

    def __init__(self, offset: float = 0.0) -> None:
        self.offset = timedelta(seconds=offset)

    def shift(self, seconds: float) -> None:
        self.offset += timedelta(seconds=seconds)

    def now(self) -> datetime:
        return super().now() + self.offset


def bot_said(
    world: DemoWorld,
    since: int,
    *,
    kind: Any = None,
    text: str = "",
    to: str | None = None,
    thread_ts: str | None = None,
    timeout: float = 30.0,
) -> Seen:
    """The first thing the bot showed after `since` matching every given condition."""
    kinds = (kind,) if isinstance(kind, str) else kind

    def match(e: Seen) -> bool:
        return (
            e.user == world.bot_user
            and (kinds is None or e.kind in kinds)
            and text.lower() in (e.text + str(e.blocks or "")).lower()
            and (to is None or e.to_user == to)
            and (thread_ts is None or e.thread_ts == thread_ts)
        )

    return world.slack.record.wait_for(match, timeout=timeout, since=since)


def ask(world: DemoWorld, who: str, text: str) -> Seen:
    """`who` asks for a run; the approval message the bot posted for it."""
    since = world.command(who, text)
    return bot_said(world, since, kind=("message", "thread_reply"), text="approval needed")


def click(world: DemoWorld, who: str, ts: str, action_id: str, **kw: Any) -> int:
    """`who` clicks a button of message `ts` in #dr-ops; the record position before it."""
    since = world.slack.record.last_seq()
    world.slack.person(who).click(OPS, ts, action_id=action_id, **kw)
    return since


def started_run(world: DemoWorld, approval: Seen, timeout: float = 30.0) -> int:
    """The run the approval started, once it started."""
    return world.started_run(approval, timeout)


def finished(world: DemoWorld, run_id: int, timeout: float = 120.0) -> RunRecord:
    """The run once it ended and its summary was posted in its thread."""
    return world.finished(run_id, timeout)
