"""The audit channel through the running bot: its feed anchors the audit chain's head at
intervals ([slack] audit_anchor_minutes) and posts the anchor after the entries it covers; an
anchor made while Slack is down is posted once Slack is back. The hour passes on a shifted
clock (the bot's wall and monotonic time), never waited for."""

from __future__ import annotations

import re
from pathlib import Path

from bot.demo import DemoWorld, demo_world, wait_until
from sim.slack.record import Seen
from store.audit import Anchor, read_anchors
from tests.bot.conftest import SPEED, ShiftedClock, bot_said

HOUR = 3_600.0


class ShiftedEverywhere(ShiftedClock):
    """ShiftedClock whose monotonic time jumps too: the feed measures its interval on it."""

    def monotonic(self) -> float:
        return super().monotonic() + self.offset.total_seconds()


def _audit_messages(world: DemoWorld) -> list[Seen]:
    channel = world.serving.bot.config.channels.audit
    return [
        e
        for e in world.slack.record.entries(channel=channel)
        if e.user == world.bot_user and e.kind == "message"
    ]


def _anchor_seqs(world: DemoWorld) -> list[int]:
    return [
        int(re.search(r"entry (\d+) has hash", e.text).group(1))  # type: ignore[union-attr]  # only anchors' text says "Audit anchor"
        for e in _audit_messages(world)
        if "Audit anchor" in e.text
    ]


def _anchors(world: DemoWorld) -> list[Anchor]:
    """The anchors in the store's anchor file (none before the first)."""
    path = world.service.wiring.store.audit.anchor_file
    return read_anchors(path) if path.exists() else []


def _posted_seqs(world: DemoWorld) -> set[int]:
    return {int(s) for e in _audit_messages(world) for s in re.findall(r"`#(\d+)`", str(e.blocks))}


def test_the_bot_anchors_hourly_and_posts_an_anchor_made_while_slack_was_down(tmp_path: Path):
    """olivia's `/dr status` reaches the audit channel; Slack goes down and an hour passes:
    the bot anchors the head (anchor file) and posts nothing; Slack comes back: the anchor
    is posted once, after the entry it names."""
    clock = ShiftedEverywhere()
    with demo_world(
        tmp_path / "w",
        scenario="mini",
        speed=SPEED,
        clock=clock,
        slack_settings={"audit_batch_seconds": 0.05, "audit_anchor_minutes": 60},
    ) as world:
        store = world.service.wiring.store
        since = world.command("olivia", "status")
        bot_said(world, since, text="DR readiness")
        head = wait_until(lambda: (e := store.audit.entries()) and e[-1]["seq"])
        wait_until(lambda: head in _posted_seqs(world))
        before = {a.seq for a in _anchors(world)}
        world.slack.world.outage = True
        clock.shift(HOUR)
        anchored = wait_until(lambda: [a for a in _anchors(world) if a.seq not in before])
        wait_until(lambda: any(c.status == 503 for c in world.slack.calls("chat.postMessage")))
        assert _anchor_seqs(world) == []  # tried, refused: kept for later
        world.slack.world.outage = False
        wait_until(lambda: _anchor_seqs(world))
        world.serving.bot.worker.wait_idle(10)
        assert _anchor_seqs(world) == [anchored[0].seq]
        messages = _audit_messages(world)
        where = next(n for n, e in enumerate(messages) if "Audit anchor" in e.text)
        assert anchored[0].seq in {
            int(s) for e in messages[:where] for s in re.findall(r"`#(\d+)`", str(e.blocks))
        }
