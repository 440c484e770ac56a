"""The estate dry run in Slack (`/dr plan KIND site:NAME`, `... 'all pools'`): each pool's plan
counts on its line, its blockers and warnings grouped under it, and whether a real run would
start (naming what would stop it), within Slack's limits however many pools there are."""

from __future__ import annotations

import json
from pathlib import Path

from bot.demo import demo_world
from bot.slack.estate_blocks import estate_message
from commands.results import EstateItem, EstateResult
from engine.models import Check
from tests.bot import estate
from tests.bot.conftest import SPEED, bot_said
from tests.bot.test_blocks import assert_slack_accepts
from tests.estate.conftest import ESTATE


def _item(n: int, *, blockers: int = 0, warnings: int = 3) -> EstateItem:
    plan = estate.big_plan(apps=2, per_app=4, luns=2, warnings=warnings)
    plan = plan.model_copy(
        update={
            "checks": plan.checks
            + [
                Check(name="sr-reachable", status="blocker", subject=f"vm-{v}", message="SR gone")
                for v in range(blockers)
            ]
        }
    )
    return EstateItem(
        protected=f"prod-{n}",
        dr=f"dr-{n}",
        plan_hash=f"{n:064x}",
        vms=8,
        vapps=2,
        srs=2,
        estimated_rto_seconds=1260.0,
        blockers=1 if blockers else 0,
        warnings=1 if warnings else 0,
        plan=plan,
    )


def _result(items: list[EstateItem], would_block: list[str]) -> EstateResult:
    return EstateResult(
        request_id="r1",
        kind="failover",
        scope="all pools",
        phase="planned",
        items=items,
        plan_hash="a" * 64,
        would_block=would_block,
    )


def test_a_dry_run_shows_counts_grouped_blockers_and_that_a_run_would_not_start():
    """prod-1's 5 blockers of one check show as one grouped line under it; each pool's line
    has its counts; the message says a real run would not start and why; Slack accepts it."""
    result = _result([_item(0), _item(1, blockers=5)], ["prod-1: sr-reachable (5 VMs): SR gone"])
    message = estate_message(result)
    assert_slack_accepts(message)
    shown = json.dumps(message.blocks, ensure_ascii=False)
    assert "8 VMs, 2 vApps, 2 SRs, RTO ~21 min" in shown
    assert "1 blocker(s), 1 warning(s)" in shown
    assert shown.count("sr-reachable") == 2  # one grouped check line, one would-block line
    assert "A real run would not start" in shown
    assert "prod-1: sr-reachable (5 VMs): SR gone" in shown
    assert "nothing was started" in shown


def test_a_dry_run_with_no_blocker_says_a_run_would_start():
    """No pool blocked: the message says a real run would start."""
    shown = json.dumps(estate_message(_result([_item(0, warnings=0)], [])).blocks)
    assert "A real run would start" in shown
    assert "no blockers or warnings" in shown


def test_a_dry_run_of_forty_pools_each_with_sixty_warnings_stays_within_slacks_limits():
    """40 pools, half blocked, 60 warnings each: one message Slack accepts."""
    items = [_item(n, blockers=n % 2, warnings=60) for n in range(40)]
    would = [f"prod-{n}: sr-reachable: SR gone" for n in range(1, 40, 2)]
    assert_slack_accepts(estate_message(_result(items, would)))


def test_olivias_plan_of_a_site_in_slack_shows_each_pools_counts_and_that_a_run_would_start(
    tmp_path: Path,
):
    """Through the running bot and sim/slack: `/dr plan test-failover site:east` answers with
    east-a's and east-b's counts and that a real run would start; nothing is started."""
    with demo_world(tmp_path / "world", scenario=str(ESTATE), speed=SPEED) as world:
        since = world.command("olivia", "plan test-failover site:east")
        said = bot_said(world, since, text="would start")
        shown = str(said.blocks)
        assert "east-a" in shown
        assert "east-b" in shown
        assert shown.count(" VMs, ") == 2
        assert world.service.wiring.store.runs.list() == []
