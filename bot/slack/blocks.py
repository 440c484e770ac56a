"""Block Kit builders: every message and view the bot sends is built here, from the service's
typed results, and checked against Slack's limits (`bot.slack.limits`) before it leaves.

Each builder returns a `Message` (fallback `text` and `blocks`) or a view dict. Lists that
grow with the estate (VMs, vApps, SRs, checks) are cut to what fits and say how many more
there are; the whole list then goes into the thread as a file (`Message.detail`), so a
1,000-VM estate stays within 50 blocks and 3,000 characters a section.

Buttons carry only an opaque id (approval or run): every click is decided again by the
service from the store, by the clicker's Slack user id.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from bot.slack import limits
from bot.slack import messages as m
from bot.slack.hints import slack_text
from commands.results import (
    ApprovalView,
    AuditList,
    HelpResult,
    RunsList,
    RunSummary,
    RunView,
    StatusResult,
    StorageStep,
    VMOutcomeView,
)
from commands.views import grouped_checks, lun_action
from engine.models import Plan
from store.audit import STEP_DONE, STEP_EVENTS, STEP_FAILED, STEP_SKIPPED, Anchor
from store.outcomes import VMStatus

Block = dict[str, Any]

# Action ids: what the listeners route on.
APPROVE = "dr_approve"
REJECT = "dr_reject"
STORAGE_DONE = "dr_storage_done"
RESUME = "dr_resume"
ABORT = "dr_abort"
REASON_VIEW = "dr_reason"
REASON_BUTTON = "dr_give_reason"
REJECT_VIEW = "dr_reject_reason"
REASON_BLOCK, REASON_INPUT = "reason", "text"

SECTION_BUDGET = 2_800  # characters of a section's text we fill, below Slack's 3,000
CONTEXT_BUDGET = 1_900  # of a context element's text, below Slack's 2,000
LIST_LINES = 25  # lines of a list shown in a message before "… and N more"
# What a VM's status means (store.outcomes.VMStatus): a success where the plan wanted it (a
# plan that leaves VMs off stops at recovered), or a failure once its part in the run is over.
OK_STATUSES = {VMStatus.STARTED, VMStatus.STARTED_PAUSED, VMStatus.RECOVERED}
FAILED_STATUSES = {s for s in VMStatus if s.settled and not s.succeeded("start")}


@dataclass(frozen=True)
class Message:
    """A message to post: fallback text, blocks, and optionally a file of detail for the
    thread (name, content) when the message had to leave things out."""

    text: str
    blocks: list[Block]
    detail: tuple[str, str] | None = None

    def checked(self) -> Message:
        """This message as sent: every command the service or the engine names in it (a
        refusal's reason, a held pool's note, a run's end line) spelled for Slack (`/dr ...`,
        bot/slack/hints.py), wherever it ended up; then checked against Slack's limits."""
        spelled = replace(self, text=slack_text(self.text), blocks=_spelled(self.blocks))
        limits.check_message(spelled.text, spelled.blocks)
        return spelled


def _spelled(value: Any) -> Any:
    """`value` (blocks, as JSON) with every string's commands spelled for Slack."""
    if isinstance(value, str):
        return slack_text(value)
    if isinstance(value, list):
        return [_spelled(v) for v in value]
    if isinstance(value, dict):
        return {k: _spelled(v) for k, v in value.items()}
    return value


# ---- small pieces -----------------------------------------------------------------------------


def plain(text: str, limit: int = 150) -> dict[str, Any]:
    return {"type": "plain_text", "text": _cut(text, limit), "emoji": True}


def mrkdwn(text: str) -> dict[str, Any]:
    return {"type": "mrkdwn", "text": _cut(text, limits.SECTION_TEXT)}


def header(text: str) -> Block:
    return {"type": "header", "text": plain(text, 150)}


def section(text: str, fields: list[str] | None = None) -> Block:
    block: Block = {"type": "section", "text": mrkdwn(text)}
    if fields:
        block["fields"] = [
            {"type": "mrkdwn", "text": _cut(f, limits.FIELD_TEXT)} for f in fields[:10]
        ]
    return block


def fields_only(fields: list[str]) -> Block:
    return {
        "type": "section",
        "fields": [{"type": "mrkdwn", "text": _cut(f, limits.FIELD_TEXT)} for f in fields[:10]],
    }


def context(text: str) -> Block:
    return {"type": "context", "elements": [mrkdwn(text)]}


def button(
    text: str,
    action_id: str,
    value: str,
    *,
    style: str | None = None,
    confirm: dict[str, Any] | None = None,
) -> dict[str, Any]:
    element: dict[str, Any] = {
        "type": "button",
        "text": plain(text, 75),
        "action_id": action_id,
        "value": value,
    }
    if style:
        element["style"] = style
    if confirm:
        element["confirm"] = confirm
    return element


def confirm(title: str, text: str, yes: str, *, danger: bool = False) -> dict[str, Any]:
    dialog: dict[str, Any] = {
        "title": plain(title, 100),
        "text": {"type": "mrkdwn", "text": _cut(text, 300)},
        "confirm": plain(yes, 30),
        "deny": plain(m.CONFIRM_NO, 30),
    }
    if danger:
        dialog["style"] = "danger"
    return dialog


def _cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def whole_sentences(text: str, limit: int) -> list[str]:
    """`text` in pieces of at most `limit` characters, each ending at a sentence's end, so a
    block limit never cuts a sentence with "…" (the engine shortens its lists of VMs with
    `engine.messages.listed`; the cause of a failure is kept whole). Only a single sentence
    longer than `limit` is split, at a space, with nothing dropped."""
    if len(text) <= limit:
        return [text]
    sentences = re.split(r"(?<=[.;:!?])\s+", text)
    pieces: list[str] = []
    current = ""
    for sentence in sentences:
        while len(sentence) > limit:  # one sentence longer than a block: split at a space
            at = sentence.rfind(" ", 0, limit)
            at = at if at > 0 else limit
            if current:
                pieces.append(current)
                current = ""
            pieces.append(sentence[:at])
            sentence = sentence[at:].lstrip()
        if current and len(current) + 1 + len(sentence) > limit:
            pieces.append(current)
            current = ""
        current = f"{current} {sentence}" if current else sentence
    if current:
        pieces.append(current)
    return pieces


def _some_sentences(text: str, limit: int, run_id: int, pieces: int = 2) -> list[str]:
    """`whole_sentences`, at most `pieces` of them (a message has a size limit too), then a line
    saying how many sentences more and where they are whole."""
    shown = whole_sentences(text, limit)
    if len(shown) <= pieces:
        return shown
    rest = " ".join(shown[pieces:])
    more = len(re.split(r"(?<=[.;:!?])\s+", rest))
    return [*shown[:pieces], m.SUMMARY_REASON_MORE.format(count=more, run_id=run_id)]


def bounded_lines(lines: list[str], more: str, budget: int = SECTION_BUDGET) -> str:
    """As many `lines` as fit `budget` characters and LIST_LINES lines, then `more`
    (formatted with `count`) for the rest."""
    shown: list[str] = []
    used = 0
    for n, line in enumerate(lines):
        if n >= LIST_LINES or used + len(line) + 1 > budget - 80:
            shown.append(more.format(count=len(lines) - n))
            break
        shown.append(line)
        used += len(line) + 1
    return "\n".join(shown)


def when(at: datetime) -> str:
    """A time Slack shows in each reader's own time zone, with a UTC fallback."""
    stamp = int(at.timestamp())
    return f"<!date^{stamp}^{{date_short_pretty}} {{time}}|{at:%Y-%m-%d %H:%M} UTC>"


def duration(seconds: float | None) -> str:
    if seconds is None:
        return m.UNKNOWN
    seconds = max(0, round(seconds))
    minutes, secs = divmod(seconds, 60)
    hours, minutes = divmod(minutes, 60)
    if hours:
        return f"{hours} h {minutes:02d} min"
    return f"{minutes} min {secs:02d} s" if minutes else f"{secs} s"


# ---- replies to a person ----------------------------------------------------------------------


def error_reply(message: str, usage: str = "", suggestion: str | None = None) -> Message:
    """What a person's mistake gets: the message, the usage line, the nearest command."""
    lines = [f":warning: {_cut(message, 2_000)}"]
    if suggestion:
        lines.append(m.DID_YOU_MEAN.format(suggestion=suggestion))
    if usage:
        lines.append(m.USAGE.format(usage=usage))
    text = "\n".join(lines)
    return Message(text, [section(text)]).checked()


def refused(reason: str, hint: str = "") -> Message:
    """A refusal and what to do instead; a long reason (a blocked plan of a big estate names
    every blocker) is cut to what a section holds. Commands either names are spelled `/dr ...`
    (bot/slack/hints.py)."""
    reason, hint = slack_text(reason), slack_text(hint)
    text = m.REFUSED.format(reason=_cut(reason, SECTION_BUDGET))
    blocks = [section(text)]
    if hint:
        blocks.append(context(m.HINT.format(hint=_cut(hint, SECTION_BUDGET))))
    return Message(_cut(f"{text} {hint}".strip(), 1_000), blocks).checked()


def help_reply(result: HelpResult) -> Message:
    lines = [m.HELP_LINE.format(usage=c.usage, summary=c.summary) for c in result.commands]
    intro = m.HELP_ROLE.format(role=result.role) if result.role else m.HELP_NO_ROLE
    blocks = [header(m.HELP_HEADER), section(intro)]
    if lines:
        blocks.append(section(bounded_lines(lines, m.APPROVAL_MORE)))
    return Message(m.HELP_HEADER, blocks).checked()


# ---- status, runs, show, audit ----------------------------------------------------------------

VERDICT_ICON = {"ready": ":large_green_circle:", "degraded": ":large_yellow_circle:"}


def status_reply(result: StatusResult, schedules: Sequence[str] = ()) -> Message:
    blocks: list[Block] = [header(m.STATUS_HEADER)]
    for pair in result.pairs[:20]:
        line = m.STATUS_PAIR.format(
            icon=VERDICT_ICON.get(pair.verdict, ":red_circle:"),
            protected=pair.protected,
            dr=pair.dr,
            verdict=pair.verdict,
            vms=m.STATUS_PAIR_VMS.format(count=pair.protected_vms)
            if pair.protected_vms is not None
            else "",
            drill=m.STATUS_PAIR_DRILL.format(
                outcome=pair.last_drill.outcome, at=pair.last_drill.at[:16]
            )
            if pair.last_drill
            else "",
        )
        reasons = [m.STATUS_REASON.format(reason=r) for r in pair.reasons]
        blocks.append(section(line + "\n" + bounded_lines(reasons, m.APPROVAL_MORE)))
    if result.replication:
        luns = [
            m.STATUS_LUN.format(
                name=lun.name or lun.lun,
                state=lun.state,
                lag=m.STATUS_LAG.format(lag=duration(lun.lag_seconds))
                if lun.lag_seconds is not None
                else "",
            )
            for lun in result.replication
        ]
        blocks.append(
            section(m.STATUS_REPLICATION.format(lines=bounded_lines(luns, m.APPROVAL_MORE)))
        )
    if result.replication_error:
        blocks.append(context(result.replication_error))
    if result.active_runs:
        runs = [run_line(r) for r in result.active_runs]
        blocks.append(section(m.STATUS_RUNS.format(lines=bounded_lines(runs, m.APPROVAL_MORE))))
    if schedules:
        blocks.append(context(bounded_lines(list(schedules), m.APPROVAL_MORE)))
    verdicts = ", ".join(f"{p.protected}: {p.verdict}" for p in result.pairs)
    return Message(m.STATUS_FALLBACK.format(verdicts=verdicts), blocks).checked()


def run_line(run: RunSummary) -> str:
    return m.RUN_LINE.format(
        id=run.id,
        kind=run.kind,
        target=run.target,
        pool=run.pool,
        state=run.state,
        step=m.RUN_LINE_STEP.format(step=run.last_step) if run.last_step else "",
    )


def runs_reply(result: RunsList) -> Message:
    lines = [run_line(r) for r in result.runs] or [m.RUNS_NONE]
    blocks = [header(m.RUNS_HEADER), section(bounded_lines(lines, m.APPROVAL_MORE))]
    return Message(m.RUNS_HEADER, blocks).checked()


def show_reply(result: RunView) -> Message:
    run = result.run
    title = m.SHOW_HEADER.format(id=run.id, kind=run.kind, target=run.target)
    history = [
        m.SHOW_HISTORY_LINE.format(
            at=t.at[:19], from_state=t.from_state or "-", to_state=t.to_state, reason=t.reason or ""
        )
        for t in result.history
    ]
    steps = [
        m.SHOW_STEP_LINE.format(
            name=s.name,
            subject=s.subject or "",
            status=s.status,
            error=f" ({s.error})" if s.error else "",
        )
        for s in result.steps[-LIST_LINES:]
    ]
    blocks = [
        header(title),
        section(run_line(run)),
        section(m.SHOW_HISTORY.format(lines=bounded_lines(history, m.APPROVAL_MORE))),
    ]
    if steps:
        blocks.append(
            section(
                m.SHOW_STEPS.format(
                    count=len(result.steps), lines=bounded_lines(steps, m.APPROVAL_MORE)
                )
            )
        )
    if result.vms:
        blocks.append(section(m.SUMMARY_OUTCOME.format(lines=_status_counts(result.vms))))
    return Message(title, blocks).checked()


def audit_reply(result: AuditList) -> Message:
    """The last entries of the trail (`/dr audit N`), a run's step entries collapsed into one
    line as in the audit channel: after a run, the last N entries are mostly its steps."""
    title = m.AUDIT_HEADER.format(count=len(result.entries))
    entries = [e.model_dump(mode="json") for e in result.entries]
    lines, _ = audit_lines(entries, len(entries), entry_line=_short_line)
    blocks = [
        header(title),
        section(bounded_lines(lines[-LIST_LINES:], m.APPROVAL_MORE) or "-"),
        context(m.AUDIT_VERIFIED.format(verified="yes" if result.verified else "NO")),
    ]
    return Message(title, blocks).checked()


# ---- plans and approvals ----------------------------------------------------------------------


def _rto(plan: Plan) -> str:
    return duration(plan.estimated_rto_seconds) if plan.estimated_rto_seconds else m.UNKNOWN


def plan_sections(plan: Plan) -> tuple[list[Block], bool]:
    """The plan's SRs, start order and checks as blocks; True if anything was left out."""
    blocks: list[Block] = []
    cut = False
    if plan.luns:
        lines = [
            m.APPROVAL_SR_LINE.format(
                name=lun.sr_name or lun.sr_uuid, action=lun_action(lun.action)
            )
            for lun in plan.luns
        ]
        cut |= len(lines) > LIST_LINES
        blocks.append(
            section(
                m.APPROVAL_SRS.format(
                    count=len(lines), lines=bounded_lines(lines, m.APPROVAL_MORE, 2_600)
                )
            )
        )
    app_lines = [
        m.APPROVAL_APP_LINE.format(
            name=app.name,
            groups=" → ".join(", ".join(vm.name for vm in group) for group in app.order_groups),
        )
        for app in plan.appliances
    ]
    if plan.standalone_vms:
        app_lines.append(
            m.APPROVAL_STANDALONE_LINE.format(names=", ".join(v.name for v in plan.standalone_vms))
        )
    text = bounded_lines(app_lines, m.APPROVAL_MORE, 2_600)
    cut |= len(text) < len("\n".join(app_lines))
    blocks.append(
        section(
            m.APPROVAL_ORDER.format(
                vms=len(plan.vms),
                apps=len(plan.appliances),
                standalone=len(plan.standalone_vms),
                lines=text or "-",
            )
        )
    )
    # Said once for all the subjects it holds for (commands/views.py), as the CLI does: a
    # failback's 40 "older copy will be replaced" are one line naming how many and which.
    noteworthy = [c for c in grouped_checks(plan) if c.status in ("blocker", "warning")]
    if noteworthy:
        icon = {"blocker": ":no_entry:", "warning": ":warning:"}
        lines = [
            m.APPROVAL_CHECK_LINE.format(
                icon=icon[c.status],
                subject=f"*{c.subject}*: " if c.subject else "",
                message=c.message or c.name,
            )
            for c in sorted(noteworthy, key=lambda c: c.status != "blocker")
        ]
        cut |= len(lines) > LIST_LINES
        blocks.append(
            section(
                m.APPROVAL_CHECKS.format(
                    blockers=len(plan.blockers),
                    warnings=len(plan.warnings),
                    ok=len(plan.checks) - len(plan.blockers) - len(plan.warnings),
                    lines=bounded_lines(lines, m.APPROVAL_MORE, 2_600),
                )
            )
        )
    else:
        blocks.append(section(m.APPROVAL_NO_CHECKS))
    return blocks, cut


def plan_detail(plan: Plan) -> str:
    """The whole plan as text, for a file in the thread."""
    out = [f"{plan.kind} of {plan.target}: {plan.source_pool} -> {plan.dest_pool}"]
    out.append(f"plan hash {plan.hash}, estimated RTO {_rto(plan)}")
    out += [f"SR {lun.sr_name or lun.sr_uuid}: {lun.action}" for lun in plan.luns]
    for app in plan.appliances:
        out.append(f"vApp {app.name}")
        for n, group in enumerate(app.order_groups, start=1):
            out += [f"  {n}. {vm.name} ({vm.uuid})" for vm in group]
    out += [f"standalone {vm.name} ({vm.uuid})" for vm in plan.standalone_vms]
    out += [f"check {c.status}: {c.subject} {c.message or c.name}" for c in plan.checks]
    return "\n".join(out) + "\n"


def plan_reply(plan: Plan) -> Message:
    title = m.ACTION_TITLE.get(plan.kind, plan.kind)
    blocks: list[Block] = [
        header(m.PLAN_HEADER.format(title=title, target=plan.target)),
        fields_only(
            [
                m.APPROVAL_FIELDS_FROM.format(source=plan.source_pool, dest=plan.dest_pool),
                m.APPROVAL_FIELDS_RTO.format(rto=_rto(plan)),
                m.APPROVAL_FIELDS_HASH.format(hash=plan.hash[:12]),
            ]
        ),
    ]
    body, cut = plan_sections(plan)
    blocks += body
    if plan.blockers:
        blocks.append(context(m.PLAN_BLOCKED))
    text = m.PLAN_FALLBACK.format(
        title=title, target=plan.target, vms=len(plan.vms), rto=_rto(plan), hash=plan.hash[:12]
    )
    detail = (f"plan-{plan.hash[:12]}.txt", plan_detail(plan)) if cut else None
    return Message(text, blocks, detail).checked()


def approval_message(approval: ApprovalView, plan: Plan | None) -> Message:
    """The approval request as its thread's parent shows it, in its current state: buttons
    while pending, none once decided, expired or superseded."""
    title = m.ACTION_TITLE.get(approval.action, approval.action)
    target = _target_of(approval)
    source = plan.source_pool if plan else "-"
    dest = plan.dest_pool if plan else "-"
    pending = approval.state == "pending"
    head = (
        m.APPROVAL_HEADER.format(title=title, target=target)
        if pending
        else m.APPROVAL_HEADER_DONE.format(title=title, target=target, state=approval.state)
    )
    fields = [
        m.APPROVAL_FIELDS_REQUESTER.format(user=approval.requester.id),
        m.APPROVAL_FIELDS_FROM.format(source=source, dest=dest),
        m.APPROVAL_FIELDS_RTO.format(rto=_rto(plan) if plan else m.UNKNOWN),
        m.APPROVAL_FIELDS_HASH.format(hash=approval.plan_hash[:12]),
    ]
    if approval.reason:
        fields.append(m.APPROVAL_FIELDS_REASON.format(reason=approval.reason))
    if approval.run_id:
        fields.append(m.APPROVAL_FIELDS_RUN.format(run_id=approval.run_id))
    blocks: list[Block] = [header(head), fields_only(fields)]
    cut = False
    if plan is not None:
        body, cut = plan_sections(plan)
        blocks += body
    blocks.append(context(_votes_line(approval)))
    state_text = m.APPROVAL_STATE[approval.state].format(
        run_id=approval.run_id,
        by=approval.decided_by.id if approval.decided_by else "",
        why=approval.rejection or "",
        new=approval.superseded_by or "",
    )
    if pending:
        blocks.append(_decision_buttons(approval, title, target, source, dest))
    else:
        blocks.append(section(f"*{state_text}*"))
    text = m.APPROVAL_FALLBACK.format(
        title=title,
        target=target,
        source=source,
        dest=dest,
        state=state_text,
        hash=approval.plan_hash[:12],
    )
    detail = (f"plan-{approval.plan_hash[:12]}.txt", plan_detail(plan)) if plan and cut else None
    return Message(_cut(text, 3_000), blocks, detail).checked()


def _target_of(approval: ApprovalView) -> str:
    target = getattr(approval.request, "target", None)
    if target:
        return str(target)
    return f"run {approval.run_id}" if approval.run_id else "-"


def _votes_line(approval: ApprovalView) -> str:
    left = (
        m.APPROVAL_LEFT.format(
            missing=approval.missing, quorum=approval.quorum, expires=when(approval.expires_at)
        )
        if approval.state == "pending"
        else ""
    )
    if approval.votes:
        voters = ", ".join(f"<@{v.actor.id}>" for v in approval.votes)
        return m.APPROVAL_VOTES.format(voters=voters, left=left).strip()
    return m.APPROVAL_NO_VOTES.format(left=left).strip()


def _decision_buttons(
    approval: ApprovalView, title: str, target: str, source: str, dest: str
) -> Block:
    value = str(approval.id)
    return {
        "type": "actions",
        # A new block_id for each version of the message (Slack's advice for updated actions)
        "block_id": f"approval-{approval.id}-{len(approval.votes)}",
        "elements": [
            button(
                m.APPROVE,
                APPROVE,
                value,
                style="primary",
                confirm=confirm(
                    m.CONFIRM_APPROVE_TITLE.format(title=title),
                    m.CONFIRM_APPROVE_TEXT.format(
                        title=title,
                        target=target,
                        source=source,
                        dest=dest,
                        hash=approval.plan_hash[:12],
                    ),
                    m.CONFIRM_YES_APPROVE,
                ),
            ),
            button(
                m.REJECT,
                REJECT,
                value,
                style="danger",
                confirm=confirm(
                    m.CONFIRM_REJECT_TITLE.format(title=title),
                    m.CONFIRM_REJECT_TEXT.format(title=title, target=target),
                    m.CONFIRM_YES_REJECT,
                    danger=True,
                ),
            ),
        ],
    }


# ---- modals -----------------------------------------------------------------------------------


def reason_button(pending_id: str, command: str, target: str) -> Message:
    """The answer to a mention that needs a reason: a button whose click opens the modal (a
    mention brings no trigger_id; a click does)."""
    text = m.REASON_ASK.format(command=command, target=_cut(target, 200))
    blocks = [
        section(text),
        {
            "type": "actions",
            "block_id": f"reason-{pending_id}",
            "elements": [button(m.REASON_BUTTON, REASON_BUTTON, pending_id, style="primary")],
        },
    ]
    return Message(text, blocks).checked()


def reason_modal(callback_id: str, title: str, prompt: str, submit: str, metadata: str) -> dict:
    view = {
        "type": "modal",
        "callback_id": callback_id,
        "title": plain(title, 24),
        "submit": plain(submit, 24),
        "close": plain(m.REASON_CLOSE, 24),
        "private_metadata": metadata,
        "blocks": [
            section(prompt),
            {
                "type": "input",
                "block_id": REASON_BLOCK,
                "label": plain(m.REASON_LABEL, 2000),
                "element": {
                    "type": "plain_text_input",
                    "action_id": REASON_INPUT,
                    "multiline": True,
                    "max_length": 1000,
                    "placeholder": plain(m.REASON_PLACEHOLDER, 150),
                },
            },
        ],
    }
    limits.check_view(view)
    return view


# ---- progress and summary ---------------------------------------------------------------------


@dataclass
class ProgressState:
    """What the progress message of one run shows; updated from run events."""

    run_id: int
    kind: str
    target: str
    started: float  # clock.monotonic() at the first event
    state: str = "running"
    phase: str = "starting"
    total: int = 0
    vm_status: dict[str, str] | None = None  # VM name -> latest status
    vm_app: dict[str, str] | None = None  # VM name -> vApp name
    paused: str = ""
    elapsed: float = 0.0


STOPPED_BY_A_PERSON = {"cancelled", "aborted", "aborting"}
RUN_OVER = {"succeeded", "partially-succeeded", "failed", "cancelled", "aborted"}


def _bad(status: str | None, run_state: str) -> bool:
    """Whether a VM's status is a failure to show (every final status but a success: failed
    to recover or start, refused by HA, skipped, not protected, not in the metadata, not
    run); a VM a cancelled or aborted run did not reach was not failed by anything (a
    person stopped the run), unlike one a failure upstream left out."""
    if status == VMStatus.NOT_RUN:
        return run_state not in STOPPED_BY_A_PERSON
    return status in FAILED_STATUSES


def _done(status: str | None, run_state: str) -> bool:
    """Whether a VM's part in the run is over: a final status, or recovered in a run that
    ended (its plan left VMs off); a recovered VM of a running run still has to start."""
    if status == VMStatus.RECOVERED:
        return run_state in RUN_OVER
    return status in FAILED_STATUSES or status in OK_STATUSES


def progress_message(p: ProgressState) -> Message:
    title = m.ACTION_TITLE.get(p.kind, p.kind)
    statuses = p.vm_status or {}
    done = sum(1 for s in statuses.values() if _done(s, p.state))
    failed = sum(1 for s in statuses.values() if _bad(s, p.state))
    total = max(p.total, len(statuses))
    left = m.UNKNOWN
    if 0 < done < total and p.elapsed > 0:
        left = duration(p.elapsed / done * (total - done))
    elif total and done >= total:
        left = duration(0)
    blocks: list[Block] = [
        header(m.PROGRESS_HEADER.format(title=title, run_id=p.run_id, state=p.state)),
        fields_only(
            [
                m.PROGRESS_PHASE.format(phase=p.phase),
                m.PROGRESS_COUNTS.format(done=done, total=total, failed=failed),
                m.PROGRESS_ELAPSED.format(elapsed=duration(p.elapsed)),
                m.PROGRESS_LEFT.format(left=left),
            ]
        ),
    ]
    apps: dict[str, list[str]] = {}
    for vm, status in statuses.items():
        apps.setdefault((p.vm_app or {}).get(vm) or "standalone", []).append(status)
    if apps:
        lines = []
        for name, sts in sorted(apps.items()):
            bad = sum(1 for s in sts if _bad(s, p.state))
            lines.append(
                m.PROGRESS_APP_LINE.format(
                    name=name,
                    done=sum(1 for s in sts if _done(s, p.state)),
                    total=len(sts),
                    failed=m.PROGRESS_APP_FAILED.format(failed=bad) if bad else "",
                )
            )
        blocks.append(
            section(m.PROGRESS_APPS.format(lines=bounded_lines(lines, m.PROGRESS_MORE_APPS)))
        )
    if p.paused:
        blocks.append(section(m.PROGRESS_PAUSED.format(message=p.paused)))
    text = m.PROGRESS_FALLBACK.format(
        run_id=p.run_id, state=p.state, phase=p.phase, done=done, total=total
    )
    return Message(text, blocks).checked()


def _status_counts(vms: list[VMOutcomeView]) -> str:
    counts = Counter(v.status or "pending" for v in vms)
    return "\n".join(
        m.SUMMARY_STATUS_LINE.format(status=s, count=n) for s, n in counts.most_common()
    )


def summary_message(view: RunView, rto_seconds: float | None) -> Message:
    """The final summary of a run: per vApp and VM outcome, RTO, what failed, what next, and
    for a test failover whether its cleanup was verified."""
    run = view.run
    title = m.ACTION_TITLE.get(run.kind, run.kind)
    ok = [v for v in view.vms if v.status in OK_STATUSES]
    stopped = run.state in STOPPED_BY_A_PERSON
    failed = [
        v
        for v in view.vms
        if v.status not in OK_STATUSES and not (stopped and v.status == "not-run")
    ]
    blocks: list[Block] = [
        header(m.SUMMARY_HEADER.format(title=title, run_id=run.id, state=run.state)),
        fields_only(
            [
                m.SUMMARY_RTO.format(rto=duration(rto_seconds)),
                m.SUMMARY_OUTCOME.format(lines=_status_counts(view.vms) or "-"),
            ]
        ),
    ]
    if run.error:  # the request's reason is not why the run ended: an empty line showed `_-_`
        # Whole, in as many blocks as it takes: a cut end line lost the cause's last words.
        blocks.extend(
            context(m.SUMMARY_REASON.format(reason=piece))
            # A context element takes 2,000 characters (the double's schema, as Slack's).
            for piece in _some_sentences(" ".join(run.error.split()), CONTEXT_BUDGET, run.id)
        )
    apps: dict[str, list[VMOutcomeView]] = {}
    for vm in view.vms:
        apps.setdefault(vm.appliance or "standalone", []).append(vm)
    app_lines = [
        m.SUMMARY_APP_LINE.format(
            name=name,
            counts=", ".join(
                f"{n} {s}" for s, n in Counter(v.status or "pending" for v in vms).most_common()
            ),
        )
        for name, vms in sorted(apps.items())
    ]
    cut = len(app_lines) > LIST_LINES or len(failed) > LIST_LINES
    if app_lines:
        blocks.append(
            section(m.SUMMARY_APPS.format(lines=bounded_lines(app_lines, m.PROGRESS_MORE_APPS)))
        )
    if failed:
        lines = [
            m.SUMMARY_FAILED_LINE.format(
                name=v.name, status=v.status or "pending", error=f": {v.error}" if v.error else ""
            )
            for v in failed
        ]
        blocks.append(section(m.SUMMARY_FAILED.format(lines=bounded_lines(lines, m.APPROVAL_MORE))))
    if run.state == "interrupted":
        next_text = m.SUMMARY_NEXT_INTERRUPTED
    elif stopped and not failed:
        next_text = m.SUMMARY_NEXT_STOPPED.format(state=run.state)
    elif failed:
        next_text = m.SUMMARY_NEXT_FAILED.format(run_id=run.id)
    else:
        next_text = m.SUMMARY_NEXT_OK
    blocks.append(section(m.SUMMARY_NEXT.format(text=next_text)))
    ended = ("succeeded", "partially-succeeded", "failed", "cancelled", "aborted")
    if run.kind == "test-failover" and run.state in ended:
        left = run.error and "left" in run.error
        cleanup = (
            m.SUMMARY_CLEANUP_LEFT.format(reason=run.error)
            if left
            else m.SUMMARY_CLEANUP_OK.format(pool=run.pool)
        )
        blocks.extend(section(piece) for piece in _some_sentences(cleanup, SECTION_BUDGET, run.id))
    text = m.SUMMARY_FALLBACK.format(
        run_id=run.id, state=run.state, ok=len(ok), total=len(view.vms), rto=duration(rto_seconds)
    )
    detail = None
    if cut:
        rows = [
            f"{v.appliance or 'standalone'}\t{v.name}\t{v.uuid}\t{v.status}\t{v.error or ''}"
            for v in view.vms
        ]
        detail = (
            f"run-{run.id}-outcome.tsv",
            "vApp\tVM\tuuid\tstatus\terror\n" + "\n".join(rows) + "\n",
        )
    return Message(text, blocks, detail).checked()


def storage_value(run_id: int, step: StorageStep) -> str:
    """The Done button's value: the run and the step it was posted for (the service refuses
    a Done whose step the run is no longer waiting for)."""
    return json.dumps({"run": run_id, "lun": step.lun, "action": step.action})


def storage_message(run_id: int, step: StorageStep, outcome: str | None = None) -> Message:
    """The storage team's instruction; with the Done button while the run waits for it, and
    with `outcome` (who confirmed it, or why it is no longer needed) and no button after."""
    instruction = _cut(step.instruction or f"{step.action} {step.lun}", 2_000)
    if outcome is not None:
        text = m.STORAGE_STEP_CLOSED.format(
            run_id=run_id, instruction=instruction, outcome=_cut(outcome, 500)
        )
        return Message(_cut(text, 1_000), [section(_cut(text, SECTION_BUDGET))]).checked()
    text = m.STORAGE_STEP.format(run_id=run_id, instruction=instruction)
    blocks = [
        section(_cut(text, SECTION_BUDGET)),
        {
            "type": "actions",
            "block_id": f"storage-{run_id}-{step.lun}-{step.action}"[:255],
            "elements": [
                button(
                    m.STORAGE_DONE,
                    STORAGE_DONE,
                    storage_value(run_id, step),
                    style="primary",
                    confirm=confirm(
                        m.STORAGE_CONFIRM_TITLE,
                        m.STORAGE_CONFIRM_TEXT.format(
                            action=step.action, lun=step.lun, run_id=run_id
                        ),
                        m.STORAGE_DONE,
                    ),
                )
            ],
        },
    ]
    return Message(_cut(text, 1_000), blocks).checked()


def interrupted_message(run: RunSummary, done: str) -> Message:
    title = m.ACTION_TITLE.get(run.kind, run.kind)
    text = m.INTERRUPTED.format(
        run_id=run.id,
        title=title,
        target=run.target,
        step=run.last_step or m.INTERRUPTED_NO_STEP,
        done=done,
    )
    value = str(run.id)
    blocks = [
        section(text),
        {
            "type": "actions",
            "block_id": f"interrupted-{run.id}",
            "elements": [
                button(
                    m.RESUME,
                    RESUME,
                    value,
                    style="primary",
                    confirm=confirm(
                        m.CONFIRM_RESUME_TITLE.format(run_id=run.id),
                        m.CONFIRM_RESUME_TEXT.format(run_id=run.id),
                        m.RESUME,
                    ),
                ),
                button(
                    m.ABORT,
                    ABORT,
                    value,
                    style="danger",
                    confirm=confirm(
                        m.CONFIRM_ABORT_TITLE.format(run_id=run.id),
                        m.CONFIRM_ABORT_TEXT.format(run_id=run.id),
                        m.ABORT,
                        danger=True,
                    ),
                ),
            ],
        },
    ]
    return Message(text, blocks).checked()


def note(text: str) -> Message:
    return Message(_cut(text, 1_000), [section(_cut(text, SECTION_BUDGET))]).checked()


# ---- App Home ---------------------------------------------------------------------------------


def home_view(
    status: StatusResult | None,
    status_error: str | None,
    approvals: list[tuple[ApprovalView, Plan | None]],
    runs: list[RunSummary],
    next_drill: datetime | None,
) -> dict[str, Any]:
    blocks: list[Block] = [header(m.HOME_HEADER), section(m.HOME_READINESS)]
    if status is not None:
        blocks += status_reply(status).blocks[1:8]
    else:
        blocks.append(section(m.HOME_UNAVAILABLE.format(error=status_error or m.UNKNOWN)))
    blocks += [{"type": "divider"}, section(m.HOME_APPROVALS)]
    if not approvals:
        blocks.append(context(m.HOME_NO_APPROVALS))
    for approval, plan in approvals[:10]:
        title = m.ACTION_TITLE.get(approval.action, approval.action)
        target = _target_of(approval)
        blocks.append(
            section(
                m.HOME_APPROVAL_LINE.format(
                    title=title,
                    target=target,
                    user=approval.requester.id,
                    missing=approval.missing,
                    expires=when(approval.expires_at),
                )
            )
        )
        source = plan.source_pool if plan else "-"
        dest = plan.dest_pool if plan else "-"
        blocks.append(_decision_buttons(approval, title, target, source, dest))
    blocks += [{"type": "divider"}, section(m.HOME_RUNS)]
    lines = [run_line(r) for r in runs] or [m.RUNS_NONE]
    blocks.append(section(bounded_lines(lines, m.APPROVAL_MORE)))
    blocks.append(
        context(m.HOME_NEXT_DRILL.format(when=when(next_drill)) if next_drill else m.HOME_NO_DRILL)
    )
    view = {"type": "home", "blocks": blocks}
    limits.check_view(view)
    return view


# ---- audit channel ----------------------------------------------------------------------------


def _actor_shown(e: dict[str, Any]) -> str:
    """The entry's actor as the trail keeps it, with the person's name when it has one."""
    name = (e.get("payload") or {}).get("actor_name")
    return m.AUDIT_ACTOR_NAMED.format(actor=e["actor"], name=name) if name else str(e["actor"])


def _entry_line(e: dict[str, Any]) -> str:
    payload = {k: v for k, v in (e.get("payload") or {}).items() if k != "actor_name"}
    detail = ", ".join(f"{k}={v}" for k, v in list(payload.items())[:6])
    return m.AUDIT_POST_LINE.format(
        seq=e["seq"],
        at=str(e["at"])[:19],
        event=e["event_type"],
        actor=_actor_shown(e),
        detail=f": {_cut(detail, 300)}" if detail else "",
        hash=str(e["hash"])[:10],
    )


_STEP_STATUS = {STEP_DONE: "done", STEP_FAILED: "failed", STEP_SKIPPED: "skipped"}


def _steps_line(entries: list[dict[str, Any]]) -> str:
    first, last = entries[0], entries[-1]
    counts = Counter(_STEP_STATUS[e["event_type"]] for e in entries)
    failed = next((e for e in entries if e["event_type"] == STEP_FAILED), None)
    failure = ""
    if failed is not None:
        p = failed.get("payload") or {}
        failure = m.AUDIT_STEPS_FIRST_FAILED.format(
            seq=failed["seq"],
            name=p.get("name", ""),
            subject=p.get("subject", ""),
            code=p.get("code") or _cut(str(p.get("error", "")), 120),
        )
    return m.AUDIT_STEPS_LINE.format(
        first=first["seq"],
        last=last["seq"],
        at=str(first["at"])[:19],
        run_id=(first.get("payload") or {}).get("run_id"),
        count=f"{len(entries):,}",
        actor=_actor_shown(first),
        counts=", ".join(
            m.AUDIT_STEPS_COUNT.format(count=counts[s], status=s)
            for s in ("done", "failed", "skipped")
            if counts[s]
        ),
        failure=failure,
        hash=str(last["hash"])[:10],
    )


def _short_line(e: dict[str, Any]) -> str:
    return m.AUDIT_LINE.format(
        seq=e["seq"], at=str(e["at"])[:19], event=e["event_type"], actor=_actor_shown(e)
    )


def audit_lines(
    entries: Sequence[dict[str, Any]],
    max_lines: int,
    *,
    entry_line: Callable[[dict[str, Any]], str] | None = None,
) -> tuple[list[str], int]:
    """The audit channel's lines for the oldest of `entries` (in order), at most `max_lines`,
    and how many entries they cover (always a prefix of `entries`: what is left is posted
    next). Requests, decisions, approvals, transitions and outcomes get a line each; the step
    entries of a run collapse into one line (at the place of its first), which names the
    entries it covers, so the channel stays readable for a run of thousands of steps."""
    rows: list[dict[str, Any] | list[dict[str, Any]]] = []
    groups: dict[Any, list[dict[str, Any]]] = {}
    used = 0
    for e in entries:
        if e["event_type"] in STEP_EVENTS:
            run = (e.get("payload") or {}).get("run_id")
            group = groups.get(run)
            if group is None:
                if len(rows) >= max_lines:
                    break
                group = groups[run] = []
                rows.append(group)
            group.append(e)
        else:
            if len(rows) >= max_lines:
                break
            rows.append(e)
        used += 1
    one = entry_line or _entry_line
    lines = [_steps_line(r) if isinstance(r, list) else one(r) for r in rows]
    return lines, used


def audit_message(lines: list[str], first: int, last: int) -> Message:
    """Lines of the audit channel (see `audit_lines`) as one message."""
    text = m.AUDIT_POST_FALLBACK.format(first=first, last=last)
    body = "\n".join(lines)
    return Message(
        text,
        [section(body)]
        if len(body) <= limits.SECTION_TEXT
        else [section(chunk) for chunk in _chunks(lines, 2_900)][: limits.MESSAGE_BLOCKS],
    ).checked()


def audit_batch(entries: list[dict[str, Any]]) -> Message:
    """Audit entries as one message of the audit channel (the caller keeps it short)."""
    lines, _ = audit_lines(entries, len(entries))
    return audit_message(lines, entries[0]["seq"], entries[-1]["seq"])


def audit_anchor(anchor: Anchor, earlier: int = 0) -> Message:
    """The audit chain's head, for the audit channel: a person's line and the anchor file's
    own line (which `drbot audit verify` can be given back if the file is lost). `earlier`
    anchors were written since the last one posted: this one vouches for them (it hashes
    the whole chain up to its entry), so they are not posted one by one."""
    text = m.AUDIT_ANCHOR.format(seq=anchor.seq, hash=anchor.hash, at=anchor.at)
    if earlier:
        text += m.AUDIT_ANCHORS_COVERED.format(count=earlier)
    line = m.AUDIT_ANCHOR_LINE.format(line=anchor.line())
    return Message(text, [section(text), context(line)]).checked()


def _chunks(lines: list[str], budget: int) -> list[str]:
    out, current = [], ""
    for line in lines:
        if current and len(current) + len(line) + 1 > budget:
            out.append(current)
            current = ""
        current = f"{current}\n{line}" if current else line
    if current:
        out.append(current)
    return out
