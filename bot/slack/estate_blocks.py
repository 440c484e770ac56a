"""A request over several pools in Slack (`/dr test-failover site:east`, `... all pools`): one
message with each pool's DR pool, place in that pool's queue and run; the one approval of the
whole request; and, when every run has ended, the one summary in the same thread.

Kept apart from the bot's other blocks (bot/slack/blocks.py): the renderer hands an
`EstateResult` to `show` and knows nothing else of it.
"""

from __future__ import annotations

import threading
from typing import Any, Protocol

from bot.slack import blocks
from bot.slack.blocks import Message, context, header, section
from bot.slack.hints import slack_text
from bot.slack.poster import Poster, Reply
from commands.events import EstateEvent, ServiceEvent
from commands.results import ApprovalView, EstateItem, EstateResult
from commands.service import Service
from commands.views import grouped_checks

TITLE = {
    "planned": "Plan: {kind} of {scope}",
    "awaiting-approval": "{kind} of {scope}: waiting for approval",
    "started": "{kind} of {scope}: started",
    "finished": "{kind} of {scope}: finished",
}
LINE = "*{protected}* \u2192 {dr}: {what}"
PLACE = {1: "starts now"}
QUEUED = "queued, #{position} into {dr}"
RUN = "run {run_id} {state}"
TOTAL = "{ok} of {total} pools succeeded."
# A dry run (`/dr plan KIND site:NAME`, `... 'all pools'`): what each pool's run would do, its
# blockers and warnings (grouped as both front ends show them), and whether a run would start.
PLAN_COUNTS = "{vms} VMs, {vapps} vApps, {srs} SRs, RTO ~{rto}; {checks}"
PLAN_CHECKS = "{blockers} blocker(s), {warnings} warning(s)"
PLAN_CHECKS_OK = "no blockers or warnings"
PLAN_POOL_CHECKS = "*{pool}* \u2192 {dr}:\n{lines}"
PLAN_CHECK_LINE = "\u2022 {status} *{name}* {subject}: {message}"
PLAN_MORE = "\u2026 and {count} more: `/dr plan {kind} POOL` shows one pool's whole plan"
WOULD_START = ":white_check_mark: A real run would start: no pool's plan has a blocker."
WOULD_NOT_START = ":no_entry: A real run would not start (one request, one decision):\n{lines}"
NOTHING_STARTED = "Dry run: nothing was started."
POOLS_SHOWN = 6


class _App(Protocol):
    poster: Poster
    service: Service


def estate_message(result: EstateResult) -> Message:
    """Each pool on its own line: where it goes, its place or its run, and why not if not."""
    title = TITLE[result.phase].format(kind=result.kind, scope=result.scope)
    lines = []
    for item in result.items:
        if item.run_id is not None:
            what = RUN.format(run_id=item.run_id, state=item.state)
        elif item.state in ("planned", "queued"):
            what = PLACE.get(item.position) or QUEUED.format(position=item.position, dr=item.dr)
        else:
            what = item.state
        if item.note:
            what += f" ({slack_text(item.note)})"
        if result.phase == "planned":
            what += f" \u00b7 {_counts(item)}"
        lines.append(LINE.format(protected=item.protected, dr=item.dr, what=what))
    body: list[dict[str, Any]] = [
        header(title),
        section(blocks.bounded_lines(lines, "\u2026")),
    ]
    if result.phase == "planned":
        body.extend(_dry_run(result))
    for line in result.capacity:
        body.append(context(line[:2_000]))
    if result.phase == "finished":
        ok = sum(1 for i in result.items if i.state == "succeeded")
        body.append(context(TOTAL.format(ok=ok, total=len(result.items))))
    return Message(title, body).checked()


def _counts(item: EstateItem) -> str:
    checks = (
        PLAN_CHECKS.format(blockers=item.blockers, warnings=item.warnings)
        if item.blockers or item.warnings
        else PLAN_CHECKS_OK
    )
    return PLAN_COUNTS.format(
        vms=item.vms,
        vapps=item.vapps,
        srs=item.srs,
        rto=blocks.duration(item.estimated_rto_seconds),
        checks=checks,
    )


def _dry_run(result: EstateResult) -> list[dict[str, Any]]:
    """Each pool's blockers and warnings, grouped (one section a pool, at most `POOLS_SHOWN`
    pools, blocked ones first: the message keeps within Slack's size), then whether a real
    run would start, naming what would stop it."""
    body: list[dict[str, Any]] = []
    shown = 0
    for item in sorted(result.items, key=lambda i: -i.blockers):
        if item.plan is None:
            continue
        checks = [c for c in grouped_checks(item.plan) if c.status in ("blocker", "warning")]
        if not checks:
            continue
        if shown == POOLS_SHOWN:
            break
        shown += 1
        lines = [
            PLAN_CHECK_LINE.format(
                status=c.status, name=c.name, subject=c.subject, message=c.message
            )
            for c in checks
        ]
        more = PLAN_MORE.replace("{kind}", result.kind)
        text = blocks.bounded_lines(lines, more, budget=600)
        body.append(section(PLAN_POOL_CHECKS.format(pool=item.protected, dr=item.dr, lines=text)))
    if result.would_block:
        lines = [f"\u2022 {slack_text(line)}" for line in result.would_block]
        body.append(
            section(
                WOULD_NOT_START.format(
                    lines=blocks.bounded_lines(lines, "\u2026 {count} more", budget=1_500)
                )
            )
        )
    else:
        body.append(section(WOULD_START))
    body.append(context(NOTHING_STARTED))
    return body


def show(app: _App, result: EstateResult, reply: Reply) -> None:
    """Post the request's message; its approval (buttons while pending) in its thread; and,
    once started, the summary there when every pool's run has ended."""
    where = app.poster.post(reply.channel, estate_message(result), thread_ts=reply.thread_ts)
    thread_ts = reply.thread_ts or where
    if result.approval is not None and result.approval.state == "pending":
        _approval(app, result.approval, reply.channel, thread_ts)
    if result.phase == "started":
        _summary_when_done(app, result.request_id, reply.channel, thread_ts)


def _approval(app: _App, approval: ApprovalView, channel: str, thread_ts: str) -> None:
    ts = app.poster.post(channel, blocks.approval_message(approval, None), thread_ts=thread_ts)
    app.service.bind(approval.id, {"channel": channel, "ts": ts, "thread_ts": thread_ts})


def _summary_when_done(app: _App, request_id: str, channel: str, thread_ts: str) -> None:
    posted = threading.Event()
    lock = threading.Lock()

    def post(summary: EstateResult) -> None:
        with lock:
            if posted.is_set():
                return
            posted.set()
        unsubscribe()
        app.poster.post(channel, estate_message(summary), thread_ts=thread_ts)

    def listen(event: ServiceEvent) -> None:
        if (
            isinstance(event, EstateEvent)
            and event.result.request_id == request_id
            and event.result.phase == "finished"
        ):
            post(event.result)

    unsubscribe = app.service.subscribe(listen)
    # A request that ended before we listened: its summary is there already.
    now = app.service.estate.summary(request_id)
    if now is not None:
        post(now)
