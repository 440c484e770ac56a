"""The storage team's Done button, end to end: a failover with the manual storage adapter
pauses at each storage step; the bot posts the step in the run's thread with Done; the storage
team acts on the array (sim/xapi's control API) and clicks Done; the run goes on. Who may
click, a second click, a click on an older step's message and a click after an abort are each
refused without touching the run, and a message whose step is over loses its button."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from bot.demo import DemoWorld, demo_world, wait_until
from sim.slack.record import Seen
from tests.bot.conftest import OPS, SPEED, ask, bot_said, click, started_run

OLIVIA, VICTOR = "U0ONCALL01", "U0VIEWER01"
FAILOVER = "failover all --reason the primary site is lost"
DONE = "dr_storage_done"
LUNS = 2  # the mini scenario replicates Gold and Silver: one promote each


@pytest.fixture
def manual_world(tmp_path: Path, mode: str) -> Iterator[DemoWorld]:
    with demo_world(
        tmp_path / "w", scenario="mini", speed=SPEED, mode=mode, storage="manual"
    ) as world:
        yield world


@pytest.fixture
def manual_socket_world(tmp_path: Path) -> Iterator[DemoWorld]:
    with demo_world(tmp_path / "w", scenario="mini", speed=SPEED, storage="manual") as world:
        yield world


def _paused_failover(world: DemoWorld) -> tuple[Seen, int]:
    """The primary is lost; olivia's failover, approved by alex and priya: its approval
    message (the run's thread) and the run, once paused at its first storage step."""
    world.control("/sites/primary/fail")
    approval = ask(world, "olivia", FAILOVER)
    click(world, "alex", approval.ts, "dr_approve")
    click(world, "priya", approval.ts, "dr_approve")
    run_id = started_run(world, approval)
    wait_until(lambda: _step(world, run_id), timeout=60)
    return approval, run_id


def _step(world: DemoWorld, run_id: int) -> tuple[str, str] | None:
    """(lun, action) of the step the run waits for, read from the store."""
    step = world.service.wiring.store.runs.get(run_id).paused_step
    return (step.lun, step.action) if step else None


def _step_message(world: DemoWorld, since: int, thread_ts: str, lun: str) -> Seen:
    """The bot's message in the run's thread asking the storage team for `lun`'s step (the
    one with Done: the progress message may name the step too)."""
    return world.slack.record.wait_for(
        lambda e: (
            e.user == world.bot_user
            and e.kind == "thread_reply"
            and e.thread_ts == thread_ts
            and lun in e.text
            and DONE in str(e.blocks)
        ),
        since=since,
        timeout=30,
    )


def _first_step(world: DemoWorld) -> tuple[Seen, int, tuple[str, str], Seen]:
    """A paused failover: its approval, the run, its first step and that step's message."""
    since = world.slack.record.last_seq()
    approval, run_id = _paused_failover(world)
    step = _step(world, run_id)
    assert step is not None
    return approval, run_id, step, _step_message(world, since, approval.ts or "", step[0])


def _confirmations(world: DemoWorld) -> list[dict]:
    entries = world.service.wiring.store.audit.entries()
    return [e for e in entries if e["event_type"] == "StorageStepConfirmed"]


def test_done_by_the_storage_team_resumes_the_failover_step_by_step(manual_world):
    """Each storage step is posted in the run's thread with Done; a viewer's Done is refused
    and the run keeps waiting; once the LUN is promoted on the array, olivia's Done takes
    the button off (naming her) and the run goes on, to its summary."""
    world = manual_world
    since = world.slack.record.last_seq()
    approval, run_id = _paused_failover(world)
    seen: list[tuple[str, str]] = []
    refused_viewer = False
    while (step := _step(world, run_id)) is not None or not seen:
        assert step is not None
        lun, action = step
        assert action == "promote"
        assert step not in seen, "the run paused twice at one step"
        seen.append(step)
        message = _step_message(world, since, approval.ts or "", lun)
        assert [b.action_id for b in world.slack.person("olivia").buttons(OPS, message.ts)] == [
            DONE
        ]
        if not refused_viewer:
            before = click(world, "victor", message.ts, DONE)
            bot_said(world, before, kind="ephemeral", to=VICTOR, text="may not use")
            assert _step(world, run_id) == step
            refused_viewer = True
        world.control(f"/replication/{lun}/{action}")  # the storage team promotes the LUN
        since = click(world, "olivia", message.ts, DONE)
        closed = bot_said(world, since, kind="edit", text="confirmed")
        assert closed.ts == message.ts
        assert f"<@{OLIVIA}>" in closed.text
        assert world.slack.person("olivia").buttons(OPS, message.ts) == []
        wait_until(
            lambda: (
                _step(world, run_id) not in (step,)
                and world.service.wiring.store.runs.get(run_id).state != "running"
            ),
            timeout=120,
        )
    run = world.finished(run_id)
    assert run.state in ("succeeded", "partially-succeeded"), run.error
    assert len(seen) == LUNS
    confirmed = _confirmations(world)
    assert [(e["payload"]["lun"], e["actor"]) for e in confirmed] == [
        (lun, f"slack:{OLIVIA}") for lun, _ in seen
    ]


def test_a_done_from_an_older_step_never_confirms_the_next_one(manual_socket_world):
    """Gold's Done clicked again from a screen that still shows it (a second device), once
    the run waits for Silver, is refused: Silver stays unconfirmed and the run keeps
    waiting for it."""
    world = manual_socket_world
    _, run_id, first, message = _first_step(world)
    world.control(f"/replication/{first[0]}/{first[1]}")
    click(world, "olivia", message.ts, DONE)
    second = wait_until(lambda: (s := _step(world, run_id)) != first and s, timeout=120)
    assert second[0] != first[0]
    since = click(world, "olivia", message.ts, DONE, as_of=message.seq)
    refusal = bot_said(world, since, kind="ephemeral", to=OLIVIA)
    assert first[0] in refusal.text
    assert second[0] in refusal.text
    assert _step(world, run_id) == second
    assert world.service.wiring.store.runs.get(run_id).state == "paused"
    assert [e["payload"]["lun"] for e in _confirmations(world)] == [first[0]]


def test_after_an_abort_the_done_button_goes_and_a_late_click_is_refused(manual_socket_world):
    """The paused failover is aborted (olivia asks, alex agrees): the step's message says it
    is no longer waited for and loses Done; a click from an old screen is refused and
    confirms nothing."""
    world = manual_socket_world
    approval, run_id, _, message = _first_step(world)
    asked = world.command("olivia", f"abort {run_id}")
    abort = bot_said(world, asked, kind="thread_reply", text="approval needed")
    assert abort.thread_ts == approval.ts
    since = click(world, "alex", abort.ts, "dr_approve")
    closed = bot_said(world, since, kind="edit", text="no longer waited for")
    assert closed.ts == message.ts
    assert world.slack.person("olivia").buttons(OPS, message.ts) == []
    world.service.wait(run_id, 60)
    state = world.service.wiring.store.runs.get(run_id).state
    assert state == "aborted"
    since = click(world, "olivia", message.ts, DONE, as_of=message.seq)
    bot_said(world, since, kind="ephemeral", to=OLIVIA, text="waits for no storage step")
    assert world.service.wiring.store.runs.get(run_id).state == "aborted"
    assert _confirmations(world) == []


def _resumes(world: DemoWorld, run_id: int) -> int:
    """How many times the run was resumed (audited transitions to running by a person)."""
    return sum(
        1
        for e in world.service.wiring.store.audit.entries()
        if e["event_type"] == "RunTransitioned"
        and {k: v for k, v in e["payload"].items() if k != "actor_name"}
        == {"run_id": run_id, "to": "running", "reason": "resumed"}
    )


def test_a_double_click_on_done_confirms_the_step_once(manual_socket_world):
    """olivia clicks Gold's Done twice in a row (a double click: both reach the bot before
    either is answered): the step is confirmed, audited and resumed once, the extra click
    changes nothing, and the failover still finishes."""
    world = manual_socket_world
    _, run_id, first, message = _first_step(world)
    world.control(f"/replication/{first[0]}/{first[1]}")
    olivia = world.slack.person("olivia")
    clicks = [
        olivia.click(OPS, message.ts, action_id=DONE, as_of=message.seq, wait=False)
        for _ in range(2)
    ]
    for delivery in clicks:
        assert delivery is not None
        delivery.wait(10)
    world.serving.bot.worker.wait_idle(30)
    wait_until(lambda: _step(world, run_id) != first, timeout=120)
    assert [e["payload"]["lun"] for e in _confirmations(world)] == [first[0]]
    assert _resumes(world, run_id) == 1
    second = _step(world, run_id)
    if second is not None:  # the run waits for Silver now: confirm it as the team would
        world.control(f"/replication/{second[0]}/{second[1]}")
        shown = _step_message(world, message.seq, message.thread_ts or "", second[0])
        click(world, "olivia", shown.ts, DONE)
    run = world.finished(run_id)
    assert run.state in ("succeeded", "partially-succeeded"), run.error
    assert len(_confirmations(world)) == LUNS
    assert _resumes(world, run_id) == LUNS


def test_a_storage_step_met_while_slack_is_down_gets_its_done_when_slack_is_back(
    manual_socket_world,
):
    """Slack is down (503) from the moment the failover is approved: the run pauses at its
    first storage step and nothing can be posted; once Slack answers again the step's
    message with Done appears in the run's thread, and Done goes on with the run."""
    world = manual_socket_world
    world.control("/sites/primary/fail")
    approval = ask(world, "olivia", FAILOVER)
    click(world, "alex", approval.ts, "dr_approve")
    world.slack.world.outage = True
    since = click(world, "priya", approval.ts, "dr_approve")
    run_id = started_run(world, approval)
    step = wait_until(lambda: _step(world, run_id), timeout=60)
    wait_until(lambda: any(c.status == 503 for c in world.slack.calls("chat.postMessage")))
    world.serving.bot.worker.wait_idle(30)
    world.slack.world.outage = False
    message = _step_message(world, since, approval.ts or "", step[0])
    world.control(f"/replication/{step[0]}/{step[1]}")
    click(world, "olivia", message.ts, DONE)
    wait_until(lambda: _step(world, run_id) != step, timeout=120)
    assert [e["payload"]["lun"] for e in _confirmations(world)] == [step[0]]
    notices = world.serving.bot.storage.of(run_id)
    assert [n.step.lun for n in notices].count(step[0]) == 1  # posted once
