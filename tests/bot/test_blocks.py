"""Every message and view the bot builds is valid Block Kit within Slack's limits, judged by
slack_sdk's models and by the Slack double's own checker (written from Slack's reference, not
from the bot), and a 1,000-VM estate is summarised within them with the detail as a file."""

from __future__ import annotations

import json
import re

import pytest
from slack_sdk.models.blocks import Block

from bot.slack import blocks
from bot.slack.blocks import Message, ProgressState
from bot.slack.limits import BlockKitError, check_message
from commands.results import AuditEntry, AuditList, HelpEntry, HelpResult, StorageStep
from sim.slack import blockkit
from tests.bot import estate

MAX_BLOCKS = 50
MAX_SECTION = 3_000
MAX_FIELD = 2_000
MAX_BLOCKS_JSON = 12_000  # the double's msg_blocks_too_long


def assert_slack_accepts(message: Message) -> None:
    """What Slack would say of the message: parsed by slack_sdk, checked by sim/slack."""
    assert len(message.blocks) <= MAX_BLOCKS
    parsed = Block.parse_all(message.blocks)
    assert None not in parsed
    for block in parsed:
        block.to_dict()  # raises SlackObjectFormationError past an element's limit
    assert blockkit.check_message_blocks(message.blocks) == []
    assert len(json.dumps(message.blocks, separators=(",", ":"))) <= MAX_BLOCKS_JSON
    for block in message.blocks:
        assert len((block.get("text") or {}).get("text", "")) <= MAX_SECTION
        for field in block.get("fields") or []:
            assert len(field["text"]) <= MAX_FIELD
    assert 0 < len(message.text) <= 4_000


def test_a_thousand_vm_approval_fits_with_the_plan_in_a_file():
    """The approval of a 1,000-VM failover fits one message; the whole plan, every VM in
    start order, is the detail file for the thread."""
    plan = estate.big_plan(apps=100, per_app=10)
    message = blocks.approval_message(estate.approval(plan), plan)
    assert_slack_accepts(message)
    assert message.detail is not None
    name, content = message.detail
    assert name.endswith(".txt")
    assert all(vm.name in content for vm in plan.vms)
    order = next(b["text"]["text"] for b in message.blocks if "Start order" in str(b))
    shown = order.count("• *service-")
    more = int(re.search(r"and (\d+) more", order).group(1))
    assert shown + more == 100


def test_pending_approval_has_confirmed_buttons_carrying_only_the_id():
    """Approve and Reject carry only the approval id and ask for confirmation first."""
    plan = estate.big_plan(apps=2, per_app=4, luns=2, warnings=2)
    message = blocks.approval_message(estate.approval(plan), plan)
    actions = [b for b in message.blocks if b["type"] == "actions"]
    assert len(actions) == 1
    buttons = actions[0]["elements"]
    assert [b["action_id"] for b in buttons] == [blocks.APPROVE, blocks.REJECT]
    assert {b["value"] for b in buttons} == {"7"}
    assert all("confirm" in b for b in buttons)
    assert message.detail is None
    assert_slack_accepts(message)


@pytest.mark.parametrize("state", ["expired", "rejected", "superseded", "started", "failed"])
def test_a_decided_approval_has_no_buttons(state):
    """Once expired, rejected, superseded or started, the message keeps no button."""
    plan = estate.big_plan(apps=2, per_app=4, luns=2, warnings=2)
    message = blocks.approval_message(estate.approval(plan, state=state, votes=2, run_id=3), plan)
    assert not [b for b in message.blocks if b["type"] == "actions"]
    assert state in message.blocks[0]["text"]["text"]
    assert_slack_accepts(message)


def test_votes_and_quorum_left_are_shown():
    """One vote of two: the approver is named and one more approval is needed."""
    plan = estate.big_plan(apps=1, per_app=2)
    message = blocks.approval_message(estate.approval(plan, votes=1), plan)
    text = json.dumps(message.blocks)
    assert "<@U0APPROV01>" in text
    assert "1 more approval(s) needed (of 2)" in text


def test_progress_of_a_thousand_vms_fits():
    """Progress of 1,000 VMs in 100 vApps: counts, per-vApp lines cut to what fits."""
    plan = estate.big_plan()
    state = ProgressState(
        run_id=12,
        kind="failover",
        target="all",
        started=0.0,
        phase="recover",
        total=1000,
        vm_status={
            vm.name: "started" if n % 3 else "start-failed" for n, vm in enumerate(plan.vms)
        },
        vm_app={vm.name: app.name for app in plan.appliances for vm in app.vms},
        elapsed=125.0,
    )
    message = blocks.progress_message(state)
    assert_slack_accepts(message)
    assert "1000 of 1000 done" in json.dumps(message.blocks)


def test_summary_of_a_thousand_vms_fits_with_the_outcome_in_a_file():
    """The summary names failures and next steps within limits; every VM is in the file."""
    plan = estate.big_plan()
    message = blocks.summary_message(estate.run_view(plan, failed_every=20), 1400.0)
    assert_slack_accepts(message)
    assert message.detail is not None
    assert message.detail[1].count("\n") == 1001  # a header and one line per VM
    assert "What to do next" in json.dumps(message.blocks)


def test_a_test_failover_summary_says_cleanup_was_verified():
    """A test failover that left nothing says the cleanup was verified."""
    plan = estate.big_plan(apps=2, per_app=3)
    view = estate.run_view(plan, failed_every=0, kind="test-failover")
    view = view.model_copy(
        update={"run": estate.run_summary(state="succeeded", kind="test-failover")}
    )
    message = blocks.summary_message(view, 30.0)
    assert "Cleanup verified" in json.dumps(message.blocks)
    assert_slack_accepts(message)


def test_other_builders_are_valid():
    """Help, audit, storage step (open and closed), the reason button, interrupted run,
    notes and errors are valid messages, however long what they quote."""
    made = [
        blocks.help_reply(
            HelpResult(
                role="operator",
                commands=[HelpEntry(name="status", usage="/dr status", summary="s")],
            )
        ),
        blocks.audit_reply(
            AuditList(
                entries=[
                    AuditEntry(
                        seq=n,
                        at="2026-12-04T17:00:00",
                        event_type="Decision",
                        actor="a",
                        payload={},
                        hash="h",
                    )
                    for n in range(40)
                ],
                verified=True,
            )
        ),
        blocks.storage_message(
            4, StorageStep(lun="gold", action="promote", instruction="promote gold")
        ),
        blocks.storage_message(
            4, StorageStep(lun="gold", action="promote", instruction="x" * 5_000)
        ),
        blocks.storage_message(
            4, StorageStep(lun="gold", action="promote", instruction="x" * 5_000), "done"
        ),
        blocks.reason_button("0123456789abcdef", "failover", "app-" * 2_000),
        blocks.interrupted_message(estate.run_summary(state="interrupted"), "3 of 9 steps"),
        blocks.error_reply("no such command 'stauts'", "/dr status [POOL]", "status"),
        blocks.refused("You may not approve your own request.", "Ask another approver."),
        blocks.audit_batch(
            [
                {
                    "seq": n,
                    "at": "2026-12-04T17:00:00",
                    "event_type": "Decision",
                    "actor": "slack:U1",
                    "hash": "ab" * 32,
                    "payload": {"command": "status", "allowed": True},
                }
                for n in range(20)
            ]
        ),
    ]
    for message in made:
        assert_slack_accepts(message)


def test_modal_and_home_views_are_valid():
    """The reason modal and the App Home pass the double's view checks."""
    modal = blocks.reason_modal(blocks.REASON_VIEW, "Reason needed", "why?", "Ask", "{}")
    assert blockkit.check_view(modal) == (None, [])
    plan = estate.big_plan(apps=2, per_app=2)
    home = blocks.home_view(
        None, "pool prod unreachable", [(estate.approval(plan), plan)], [], None
    )
    assert blockkit.check_view(home) == (None, [])


def test_a_message_past_a_limit_is_refused_before_sending():
    """Too many blocks, a long field or long text raise BlockKitError (a bug of ours)."""
    section = {"type": "section", "text": {"type": "mrkdwn", "text": "x"}}
    with pytest.raises(BlockKitError, match="50"):
        check_message("t", [section] * 51)
    with pytest.raises(BlockKitError, match="field"):
        check_message(
            "t", [{"type": "section", "fields": [{"type": "mrkdwn", "text": "x" * 2001}]}]
        )
    with pytest.raises(BlockKitError, match="text"):
        check_message("x" * 5000, None)


def test_a_refusal_naming_a_thousand_blockers_is_cut_to_fit():
    """A refusal whose reason lists every blocker of a 1,000-VM plan still fits a message."""
    reason = "The plan has 1000 blocker(s): " + "; ".join(
        f"vm{n:04d}: running" for n in range(1000)
    )
    message = blocks.refused(reason, "Fix the blockers and ask again.")
    assert_slack_accepts(message)
    assert message.blocks[0]["text"]["text"].startswith(":no_entry: The plan has 1000 blocker(s)")


def test_progress_counts_every_final_status_as_the_summary_does():
    """A VM that failed to start, one not in the metadata and one not protected are done and
    failed, as the summary lists them; a recovered VM still has to start while the run
    runs, and is done once the run ended (its plan left VMs off)."""
    statuses = {
        "web-01": "start-failed",
        "new-vm": "not-in-metadata",
        "cache": "not-protected",
        "db-01": "started",
        "db-02": "recovered",
    }

    def counts(state: str) -> str:
        progress = blocks.progress_message(
            ProgressState(
                run_id=3,
                kind="failover",
                target="all",
                started=0.0,
                state=state,
                vm_status=statuses,
                vm_app={},
                elapsed=10.0,
            )
        )
        assert_slack_accepts(progress)
        return json.dumps(progress.blocks)

    assert "4 of 5 done, 3 failed" in counts("running")
    assert "5 of 5 done, 3 failed" in counts("partially-succeeded")


def test_an_approval_says_a_check_of_many_vms_once_and_lun_actions_in_words():
    """A failback whose 40 VMs each have an older copy at the primary shows that warning once,
    naming 40 VMs, as the CLI does; its SRs say what the storage does in words."""
    from tests.test_cli_render import _failback

    plan = _failback(40)
    message = blocks.approval_message(estate.approval(plan), plan)
    assert_slack_accepts(message)
    checks = next(b["text"]["text"] for b in message.blocks if "Pre-checks" in str(b))
    assert checks.count("An older") == 1
    assert "40 VMs (vm-00, vm-01" in checks
    failover = estate.big_plan(apps=1, per_app=2, luns=1).model_copy(
        update={"kind": "test-failover"}
    )
    failover.luns[0].action = "present_test_copy"
    srs = str(blocks.approval_message(estate.approval(failover), failover).blocks)
    assert "(test copy)" in srs
    assert "present_test_copy" not in srs


def _entry(seq: int, event: str, run: int = 12, **payload: object) -> dict[str, object]:
    return {
        "seq": seq,
        "at": "2026-12-04T17:00:00",
        "event_type": event,
        "actor": "slack:U0ONCALL01",
        "hash": f"{seq:064x}",
        "payload": {"run_id": run, "actor_name": "olivia", **payload},
    }


def test_a_runs_steps_take_one_audit_line_naming_its_entries_and_first_failure():
    """1,032 step entries of run 12 (one failed with XAPI's code) between two transitions, and
    a step of run 13 among them: four lines (transition, run 12's steps, run 13's step,
    transition), the step lines naming their entry range, count, and first failure; every
    person named by id and name; the message is one Slack accepts."""
    entries = [_entry(100, "RunTransitioned", to="running")]
    for seq in range(103, 1_135):
        failed = seq in (400, 500)
        entries.append(
            _entry(
                seq,
                "StepFailed" if failed else "StepDone",
                name="recover VM",
                subject=f"pay-db-{seq}",
                code="VM_REQUIRES_SR" if failed else None,
            )
        )
        if seq == 200:
            entries.append(_entry(201, "StepSkipped", run=13, name="start VM", subject="x"))
    entries.append(_entry(1_200, "RunTransitioned", to="succeeded"))
    lines, used = blocks.audit_lines(entries, 20)
    assert used == len(entries)
    assert len(lines) == 4
    assert lines[0].startswith("`#100` ")
    assert "by slack:U0ONCALL01 (olivia)" in lines[0]
    assert lines[1].startswith("`#103`-`#1134` 2026-12-04T17:00:00 *run 12: 1,032 steps* by")
    assert (
        "1,030 done, 2 failed (first failed: `#400` recover VM pay-db-400 VM_REQUIRES_SR)"
        in (lines[1])
    )
    assert "*run 13: 1 steps*" in lines[2]
    assert "1 skipped" in lines[2]
    assert_slack_accepts(blocks.audit_message(lines, 100, 1_200))


def test_an_audit_message_takes_a_prefix_of_the_entries_when_lines_run_out():
    """With room for two lines, the third line's entry and everything after it wait for the
    next message, even run 12's later steps (the channel stays in order)."""
    entries = [
        _entry(1, "Decision"),
        _entry(2, "StepDone", name="recover VM"),
        _entry(3, "Decision"),
        _entry(4, "StepDone", name="recover VM"),
    ]
    lines, used = blocks.audit_lines(entries, 2)
    assert used == 2
    assert len(lines) == 2


def test_a_long_end_line_is_shown_whole_in_sentences_never_cut_with_an_ellipsis():
    """A run whose end line is 3,000 characters (a long XAPI cause, many sentences): the summary
    shows every sentence whole, split only between sentences over several blocks, with no "…",
    and Slack accepts it; the cleanup line of a test failover likewise."""
    sentences = [
        f"Sentence {n} of the cause names VM pay-db-{n:02d} and SR gold-{n}." for n in range(45)
    ]
    end = " ".join(sentences)
    for kind in ("failover", "test-failover"):
        view = estate.run_view(estate.big_plan(apps=2, per_app=2), kind=kind)
        run = view.run.model_copy(update={"error": f"Cleanup left {end}", "state": "failed"})
        message = blocks.summary_message(view.model_copy(update={"run": run}), 30.0)
        assert_slack_accepts(message)
        shown = json.dumps(message.blocks, ensure_ascii=False)
        assert "…" not in shown
        for sentence in sentences:
            assert sentence in shown


def test_whole_sentences_splits_only_between_sentences():
    """Pieces fit the limit, end at a sentence's end, and together are the text."""
    text = "One two three. Four five six; seven eight. Nine."
    pieces = blocks.whole_sentences(text, 20)
    assert pieces == ["One two three.", "Four five six;", "seven eight. Nine."]
    assert blocks.whole_sentences(("a " * 30).strip(), 20) == [
        "a a a a a a a a a a",
        "a a a a a a a a a a",
        "a a a a a a a a a a",
    ]


def test_an_end_line_too_long_for_a_message_shows_whole_sentences_and_where_the_rest_is():
    """A 20,000-character end line: the summary shows its first sentences whole, then how many
    more and `/dr show N`; no sentence is cut and Slack accepts the message."""
    end = " ".join(f"Sentence {n} of a very long cause." for n in range(600))
    view = estate.run_view(estate.big_plan(apps=2, per_app=2))
    run = view.run.model_copy(update={"error": end, "state": "failed"})
    message = blocks.summary_message(view.model_copy(update={"run": run}), 30.0)
    assert_slack_accepts(message)
    shown = json.dumps(message.blocks, ensure_ascii=False)
    assert "…" not in shown
    assert "more sentence(s): `/dr show 12`" in shown
    last = max(int(n) for n in re.findall(r"Sentence (\d+) of", shown))
    assert f"Sentence {last} of a very long cause." in shown


def test_the_audit_reply_collapses_a_runs_steps_and_names_people_by_id_and_name():
    """`/dr audit 50` after a run: its 48 step entries are one line, the two transitions a line
    each, naming olivia by id and name."""
    raw = [_entry(1, "RunTransitioned", to="running")]
    raw += [_entry(n, "StepDone", name="recover VM", subject=f"vm-{n}") for n in range(2, 50)]
    raw += [_entry(50, "RunTransitioned", to="succeeded")]
    result = AuditList(entries=[AuditEntry.model_validate(e) for e in raw], verified=True)
    message = blocks.audit_reply(result)
    assert_slack_accepts(message)
    shown = json.dumps(message.blocks)
    assert "run 12: 48 steps" in shown
    assert shown.count("RunTransitioned") == 2
    assert "slack:U0ONCALL01 (olivia)" in shown


def test_a_command_named_anywhere_in_a_message_is_spelled_for_slack():
    """A command the service marks (commands/hints.py) in any text of a message, not only a
    refusal's hint, reaches Slack as `/dr ...` with no mark left."""
    from commands.hints import OPEN, span

    text = f"Held by run 7: {span('resume', 7, '--storage-done')}."
    message = blocks.Message(text, [blocks.section(text)]).checked()
    assert "`/dr resume 7 --storage-done`" in message.text
    assert "`/dr resume 7 --storage-done`" in str(message.blocks)
    assert OPEN not in message.text + str(message.blocks)
