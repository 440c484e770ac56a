"""Every approval rule, as people meet it in the thread: the requester and non-approvers are
refused, a double click and a click on a stale screen count once, Slack's retry of a
delivery is handled once, an expired approval loses its buttons, a plan that changed between
approval and run asks again, and two bot processes on one store start one run."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from bot.demo import DemoWorld, approval_id_of, demo_world, wait_until
from tests.bot.conftest import OPS, SPEED, ShiftedClock, ask, bot_said, click, finished, started_run

OLIVIA, ALEX, PRIYA, VICTOR = "U0ONCALL01", "U0APPROV01", "U0APPROV02", "U0VIEWER01"
ADA = "U0ADMIN001"
FAILOVER = "failover all --reason the primary site is lost"
# A test failover needing two approvals: every rule of a failover's approval, without a
# disaster to stage first (a failover with the primary up is blocked by its pre-checks).
TWO = {"quorum": {"test-failover": 2}}
DRILL = "test-failover all --disable-ha"


@pytest.fixture
def world(tmp_path: Path, mode: str) -> Iterator[DemoWorld]:
    with demo_world(tmp_path / "w", scenario="mini", speed=SPEED, mode=mode, policy=TWO) as w:
        yield w


@pytest.fixture
def socket_world(tmp_path: Path) -> Iterator[DemoWorld]:
    with demo_world(tmp_path / "w", scenario="mini", speed=SPEED, policy=TWO) as w:
        yield w


def test_the_requester_cannot_approve_their_own_request(world):
    """olivia's click on her own request is refused, privately, in the thread; no vote (she
    holds no approver role either: an approver asking is the next test)."""
    approval = ask(world, "olivia", DRILL)
    since = click(world, "olivia", approval.ts, "dr_approve")
    refusal = bot_said(world, since, kind="ephemeral", to=OLIVIA)
    assert refusal.thread_ts == approval.ts
    assert world.service.approval(approval_id_of(approval)).votes == []


def test_an_approver_who_asked_cannot_approve_it_too(world):
    """alex (an approver) asks for the test failover himself: his own Approve is refused,
    privately, naming the rule (not his role); priya's and the admin ada's approvals run it."""
    approval = ask(world, "alex", DRILL)
    since = click(world, "alex", approval.ts, "dr_approve")
    refusal = bot_said(world, since, kind="ephemeral", to=ALEX, text="cannot approve it too")
    assert refusal.thread_ts == approval.ts
    assert world.service.approval(approval_id_of(approval)).votes == []
    click(world, "priya", approval.ts, "dr_approve")
    click(world, "ada", approval.ts, "dr_approve")
    view = world.service.approval(approval_id_of(approval))
    assert [v.actor.id for v in view.votes] == [PRIYA, ADA]
    assert finished(world, started_run(world, approval)).requested_by == f"slack:{ALEX}"


def test_a_non_approver_cannot_approve(world):
    """victor (a viewer) is refused; the approval still needs two."""
    approval = ask(world, "olivia", DRILL)
    since = click(world, "victor", approval.ts, "dr_approve")
    bot_said(world, since, kind="ephemeral", to=VICTOR)
    assert world.service.approval(approval_id_of(approval)).missing == 2


def test_two_approvers_start_the_failover_and_the_message_follows(world):
    """The primary is lost. After alex the message names him and says one more is needed;
    after priya the failover starts, the buttons go, progress and summary follow in the
    thread."""
    world.control("/sites/primary/fail")
    approval = ask(world, "olivia", FAILOVER)
    since = click(world, "alex", approval.ts, "dr_approve")
    edit = bot_said(world, since, kind="edit", text="1 more approval(s) needed")
    assert edit.ts == approval.ts
    assert f"<@{ALEX}>" in str(edit.blocks)
    click(world, "priya", approval.ts, "dr_approve")
    run_id = started_run(world, approval)
    finished(world, run_id)
    thread = world.serving.bot.threads.get(run_id)
    assert thread is not None
    assert thread.thread_ts == approval.ts
    assert world.slack.person("olivia").buttons(OPS, approval.ts) == []
    # Planned blind (the primary is dark), the run's progress still shows its VMs by vApp,
    # as its summary does.
    vapps = {
        vm.appliance
        for vm in world.service.wiring.store.runs.get(run_id).outcome.vms.values()
        if vm.appliance
    }
    assert vapps, "the scenario's failover recovers vApps: the test shows nothing"
    assert thread.progress_ts is not None
    progress = world.slack.world.find_message(OPS, thread.progress_ts)
    assert progress is not None
    assert all(f"• {name}: " in str(progress.blocks) for name in vapps)


def test_a_double_click_counts_once(world):
    """alex clicking Approve twice is one vote; the second click says he already voted."""
    approval = ask(world, "olivia", DRILL)
    click(world, "alex", approval.ts, "dr_approve")
    wait_until(lambda: world.service.approval(approval_id_of(approval)).votes)
    since = click(world, "alex", approval.ts, "dr_approve")
    bot_said(world, since, kind="ephemeral", to=ALEX)
    assert len(world.service.approval(approval_id_of(approval)).votes) == 1


def test_a_click_on_a_stale_screen_after_the_run_started_starts_nothing(world):
    """ada's screen still shows the buttons after alex and priya started the run: her
    click is refused, and there is still one run."""
    approval = ask(world, "olivia", DRILL)
    click(world, "alex", approval.ts, "dr_approve")
    wait_until(lambda: world.service.approval(approval_id_of(approval)).votes)
    click(world, "priya", approval.ts, "dr_approve")
    run_id = started_run(world, approval)
    since = click(world, "ada", approval.ts, "dr_approve", as_of=approval.seq)
    bot_said(world, since, kind="ephemeral", to="U0ADMIN001")
    finished(world, run_id)
    assert len(world.service.wiring.store.runs.list(limit=50)) == 1


def test_an_expired_approval_loses_its_buttons_and_refuses_late_clicks(tmp_path: Path):
    """30 minutes on, the approval is expired: its message says so without buttons, and a
    click from a screen that still shows them is refused."""
    clock = ShiftedClock()
    with demo_world(tmp_path / "w", scenario="mini", speed=SPEED, clock=clock) as world:
        approval = ask(world, "olivia", DRILL)
        clock.shift(31 * 60)
        since = world.slack.record.last_seq()
        world.service.expire_approvals()
        edit = bot_said(world, since, kind="edit", text="expired")
        assert edit.ts == approval.ts
        assert world.slack.person("alex").buttons(OPS, approval.ts) == []
        since = click(world, "alex", approval.ts, "dr_approve", as_of=approval.seq)
        bot_said(world, since, kind="ephemeral", to=ALEX)
        assert world.service.wiring.store.runs.list(limit=10) == []


def test_reject_asks_why_and_ends_the_approval(world):
    """Reject opens a modal; the reason shows in the message, and the buttons go."""
    approval = ask(world, "olivia", DRILL)
    since = click(world, "alex", approval.ts, "dr_reject")
    world.slack.record.wait_for(lambda e: e.kind == "view_opened", since=since, timeout=10)
    world.slack.person("alex").submit({"reason": {"text": "wait for the network team"}})
    edit = bot_said(world, since, kind="edit", text="wait for the network team")
    assert edit.ts == approval.ts
    assert world.slack.person("olivia").buttons(OPS, approval.ts) == []


def test_a_plan_that_changed_before_the_run_is_approved_again(socket_world):
    """A VM is renamed at the primary and replicated between the first and the second
    approval: the re-plan's hash differs, so the old approval is superseded and the new plan
    is posted in the same thread for approval again; nothing runs."""
    world = socket_world
    approval = ask(world, "olivia", DRILL)
    click(world, "alex", approval.ts, "dr_approve")
    wait_until(lambda: world.service.approval(approval_id_of(approval)).votes)
    prod = world.service.wiring.client("prod")
    ref = next(r for r, vm in prod.get_all_records("VM").items() if vm["name_label"] == "halted-vm")
    prod.call("VM.set_name_label", ref, "halted-vm-renamed")
    for lun in world.control("/replication", method="GET"):
        world.control(f"/replication/{lun['lun']}/sync")
    since = click(world, "priya", approval.ts, "dr_approve")
    new = bot_said(world, since, kind="thread_reply", text="approval needed")
    assert new.thread_ts == approval.ts
    assert "halted-vm-renamed" in str(new.blocks)
    old = world.service.approval(approval_id_of(approval))
    assert old.state == "superseded"
    assert world.service.approval(approval_id_of(new)).plan_hash != old.plan_hash
    assert world.service.wiring.store.runs.list(limit=10) == []


def test_slack_redelivering_a_mention_is_answered_once(world):
    """The same app_mention delivered again (a Slack retry, same event_id: a Socket Mode
    envelope, or an Events API request) gets one answer."""
    since = world.slack.record.last_seq()
    world.slack.person("olivia").say("dr-ops", f"<@{world.bot_user}> help")
    first = world.slack.dispatcher.log[-1]
    bot_said(world, since, kind="ephemeral", to=OLIVIA)
    again = world.slack.dispatcher.deliver("events_api", first.payload)
    again.wait(10)
    world.serving.bot.worker.wait_idle()
    answers = [
        e
        for e in world.slack.record.entries(since=since, kind="ephemeral")
        if e.user == world.bot_user
    ]
    assert len(answers) == 1


@pytest.mark.slow
def test_two_bot_processes_on_one_store_start_one_run(tmp_path: Path):
    """Two bots share one store and one Slack app (each click reaches one of them); two
    approvers click at once on a test failover needing one: one run starts."""
    with demo_world(tmp_path / "a", scenario="mini", speed=SPEED) as first:
        second_dir = tmp_path / "a"
        from bot.settings import load_settings
        from bot.slack.app import make_client, slack_members
        from bot.slack.serve import start_bot
        from commands.service import Service
        from commands.wiring import Wiring
        from engine.clock import SystemClock

        settings = load_settings(second_dir / "drbot.toml")
        assert settings.slack is not None
        clock = SystemClock()
        service = Service(
            Wiring(settings.engine, settings.store_path, clock=clock),
            settings.policy,
            members=slack_members(make_client(settings.slack)),
        )
        other = start_bot(settings.slack, service, clock=clock)
        try:
            wait_until(lambda: len(first.slack.socket.links()) >= 2)
            approval = ask(first, "olivia", "test-failover all --disable-ha")
            alex = first.slack.person("alex").click(
                OPS, approval.ts, action_id="dr_approve", wait=False
            )
            priya = first.slack.person("priya").click(
                OPS, approval.ts, action_id="dr_approve", wait=False
            )
            alex.wait(10)
            priya.wait(10)
            run_id = started_run(first, approval)
            wait_until(lambda: first.service.wiring.store.runs.get(run_id).state != "queued")
            first.serving.bot.worker.wait_idle()
            other.bot.worker.wait_idle()
            runs = first.service.wiring.store.runs.list(limit=10)
            assert [r.id for r in runs] == [run_id]
            service.wait(run_id, 120)
            first.service.wait(run_id, 120)
        finally:
            other.stop()
            service.close()


def test_a_vote_while_slack_is_down_shows_on_the_message_when_slack_is_back(tmp_path: Path):
    """Slack answers 503 to every write while alex approves (his click still arrives over
    Socket Mode): the vote counts, the message cannot be edited; once Slack answers again
    (the audit channel's next post goes through) the message names him."""
    with demo_world(
        tmp_path / "w",
        scenario="mini",
        speed=SPEED,
        policy=TWO,
        slack_settings={"audit_batch_seconds": 0.1},
    ) as world:
        approval = ask(world, "olivia", DRILL)
        world.slack.world.outage = True
        click(world, "alex", approval.ts, "dr_approve")
        wait_until(lambda: world.service.approval(approval_id_of(approval)).votes)
        wait_until(lambda: any(c.status == 503 for c in world.slack.calls("chat.update")))
        world.serving.bot.worker.wait_idle(30)
        assert f"<@{ALEX}>" not in str(world.slack.world.find_message(OPS, approval.ts).blocks)  # type: ignore[union-attr]  # the approval message exists
        world.slack.world.outage = False
        wait_until(
            lambda: f"<@{ALEX}>" in str(world.slack.world.find_message(OPS, approval.ts).blocks)  # type: ignore[union-attr]  # as above
        )
        message = world.slack.world.find_message(OPS, approval.ts)
        assert message is not None
        assert "1 more approval(s) needed" in str(message.blocks)


def test_a_request_made_while_slack_is_down_is_posted_for_approval_when_it_is_back(
    tmp_path: Path,
):
    """Slack answers 503 to every write when olivia asks for a test failover (her command
    still arrives over Socket Mode): the approval is opened but cannot be shown; once Slack
    answers again (the audit channel's next post gets through) its message is posted, once,
    with its buttons, and alex's and priya's approvals there run it."""
    with demo_world(
        tmp_path / "w",
        scenario="mini",
        speed=SPEED,
        policy=TWO,
        slack_settings={"audit_batch_seconds": 0.1},
    ) as world:
        world.slack.world.outage = True
        since = world.command("olivia", DRILL)
        pending = wait_until(world.service.desk.pending)
        wait_until(lambda: any(c.status == 503 for c in world.slack.calls("chat.postMessage")))
        world.serving.bot.worker.wait_idle(30)
        world.slack.world.outage = False
        approval = bot_said(world, since, kind="message", text="approval needed")
        assert approval_id_of(approval) == pending[0].id
        click(world, "alex", approval.ts, "dr_approve")
        click(world, "priya", approval.ts, "dr_approve")
        assert finished(world, started_run(world, approval)).state in (
            "succeeded",
            "partially-succeeded",
        )
        posted = [
            e
            for e in world.slack.record.entries(since=since, kind="message")
            if e.user == world.bot_user and "dr_approve" in str(e.blocks)
        ]
        assert [e.ts for e in posted] == [approval.ts]  # posted once
