"""The audit channel through the running bot: a run's step entries reach it collapsed, one line
per run and message naming the entries it covers (so `drbot audit verify`/export can be
matched), every other entry on its own line, each naming the person by id and name (priya
never set a display name: her real name is shown); entries written while Slack is down are
posted, none lost, when it is back."""

from __future__ import annotations

import re
from pathlib import Path

from bot.demo import DemoWorld, demo_world, wait_until
from store.audit import STEP_EVENTS, STEP_SKIPPED
from tests.bot.conftest import SPEED, ask, click, finished, started_run

PRIYA = "slack:U0APPROV02"
SINGLE = re.compile(r"^`#(\d+)` ")
STEPS = re.compile(r"^`#(\d+)`-`#(\d+)` \S+ \*run (\d+): ([\d,]+) steps\* by (.+?): \d")


def _audit_lines(world: DemoWorld) -> list[str]:
    channel = world.serving.bot.config.channels.audit
    return [
        line
        for e in world.slack.record.entries(channel=channel)
        if e.user == world.bot_user and e.kind == "message"
        for block in e.blocks or []
        if block.get("type") == "section"
        for line in block["text"]["text"].splitlines()
    ]


def test_a_runs_steps_are_posted_collapsed_and_none_is_lost_while_slack_is_down(tmp_path: Path):
    """priya's test failover, approved by alex, runs while Slack answers 503: once Slack is
    back every entry of the trail is in the channel, either on its own line or inside its
    run's step line, whose count matches the step entries of that range; step entries never get
    lines of their own; the steps and transitions name priya as `slack:U0APPROV02 (Priya
    Patel)`; and the channel took far fewer messages than entries."""
    with demo_world(
        tmp_path / "w",
        scenario="mini",
        speed=SPEED,
        slack_settings={"audit_batch_seconds": 0.05},
    ) as world:
        store = world.service.wiring.store
        approval = ask(world, "priya", "test-failover all --disable-ha")
        click(world, "alex", approval.ts, "dr_approve")
        run_id = started_run(world, approval)
        world.slack.world.outage = True
        ended = ("succeeded", "partially-succeeded", "failed")
        wait_until(lambda: store.runs.get(run_id).state in ended, timeout=60)
        wait_until(lambda: any(c.status == 503 for c in world.slack.calls("chat.postMessage")))
        world.slack.world.outage = False
        finished(world, run_id)
        entries = store.audit.entries()
        head = entries[-1]["seq"]
        wait_until(lambda: any(f"`#{head}`" in line for line in _audit_lines(world)), timeout=60)
        lines = _audit_lines(world)

        by_seq = {e["seq"]: e for e in entries}
        covered: list[int] = []
        step_lines = 0
        for line in lines:
            if m := STEPS.match(line):
                first, last, run, count = (
                    int(m[1]),
                    int(m[2]),
                    int(m[3]),
                    int(m[4].replace(",", "")),
                )
                inside = [
                    s
                    for s in range(first, last + 1)
                    if by_seq[s]["event_type"] in STEP_EVENTS
                    and by_seq[s]["payload"]["run_id"] == run
                ]
                assert len(inside) == count, line
                covered += inside
                step_lines += 1
                assert m[5] == f"{PRIYA} (Priya Patel)"
            elif m := SINGLE.match(line):
                assert by_seq[int(m[1])]["event_type"] not in STEP_EVENTS, line
                covered.append(int(m[1]))
        assert sorted(covered) == [e["seq"] for e in entries]  # each entry once, none lost
        steps = [e for e in entries if e["event_type"] in STEP_EVENTS]
        journaled = [e for e in steps if e["event_type"] != STEP_SKIPPED]
        ended = [r for r in store.steps.for_run(run_id) if r.status.value in ("done", "failed")]
        assert len(journaled) == len(ended)
        assert step_lines >= 1
        assert {e["payload"]["actor_name"] for e in steps} == {"Priya Patel"}
        transitions = [
            e
            for e in entries
            if e["event_type"] == "RunTransitioned"
            and e["payload"]["run_id"] == run_id
            and e["actor"] == PRIYA  # the run's end is drbot's, and nameless
        ]
        assert transitions
        assert {e["payload"].get("actor_name") for e in transitions} == {"Priya Patel"}
        assert store.audit.verify()
