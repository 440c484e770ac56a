"""A site's drill asked in Slack: one message naming each pool and its place, one approval for
the whole request, and one summary in its thread when both pools' runs have ended."""

from __future__ import annotations

from pathlib import Path

from bot.demo import demo_world
from tests.bot.conftest import OPS, SPEED, bot_said, click
from tests.estate.conftest import ESTATE

BLOCKS_APPROVE = "dr_approve"


def test_a_site_drill_in_slack_has_one_approval_and_one_summary(tmp_path: Path):
    """olivia asks `/dr test-failover site:east`: the bot lists east-a and east-b waiting for
    approval, with one approval message; alex approves once; both pools' runs end and one
    summary says 2 of 2 pools succeeded."""
    with demo_world(tmp_path / "world", scenario=str(ESTATE), speed=SPEED) as world:
        since = world.command("olivia", "test-failover site:east")
        asked = bot_said(world, since, kind="message", text="waiting for approval")
        assert "east-a" in str(asked.blocks)
        assert "east-b" in str(asked.blocks)
        approval = bot_said(world, since, kind="thread_reply", text="approval needed")
        approvals = world.service.desk.pending()
        assert len(approvals) == 1
        after = click(world, "alex", approval.ts, BLOCKS_APPROVE, value=str(approvals[0].id))
        summary = bot_said(world, after, text="2 of 2 pools succeeded", timeout=120.0)
        assert summary.channel == OPS
        runs = world.service.wiring.store.runs.list()
        assert sorted(r.state for r in runs) == ["succeeded", "succeeded"]
