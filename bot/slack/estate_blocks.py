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
from commands.results import ApprovalView, EstateResult
from commands.service import Service

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
        lines.append(LINE.format(protected=item.protected, dr=item.dr, what=what))
    body: list[dict[str, Any]] = [
        header(title),
        section(blocks.bounded_lines(lines, "\u2026")),
    ]
    for line in result.capacity:
        body.append(context(line[:2_000]))
    if result.phase == "finished":
        ok = sum(1 for i in result.items if i.state == "succeeded")
        body.append(context(TOTAL.format(ok=ok, total=len(result.items))))
    return Message(title, body).checked()


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
