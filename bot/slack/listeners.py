"""Bolt listeners: each acknowledges Slack at once and hands its work to the bot's worker.

What may happen inside a listener (Bolt's pool) is only what must happen within Slack's 3
seconds and takes one quick call: parsing the text, acknowledging (with the person's error
as the ack's ephemeral text), and opening a modal with the `trigger_id` (which expires 3 s
after the command or click). Everything else (planning, the store, posting) is the worker's.

Slash commands cannot be typed in threads, so `@drbot status` (an `app_mention`) does the
same as `/dr status`, answering in the thread. Events may be delivered again (Socket Mode
retries an envelope not acked in time, HTTP mode retries up to 3 times): a mention is handled
once per `event_id`. Clicks are never deduplicated here: the service decides each from the
store (a double click gets "already voted", and cannot start two runs).
"""

from __future__ import annotations

import json
import logging
from collections import OrderedDict
from typing import TYPE_CHECKING, Any

from pydantic import ValidationError

from bot.slack import blocks
from bot.slack import messages as m
from bot.slack.poster import Reply
from bot.slack.threads import thread_of
from commands.parse import MissingReason, ParseError, parse
from commands.requests import (
    REQUEST,
    AbortRequest,
    ApproveRequest,
    ConfirmStorageRequest,
    RejectRequest,
    ResumeRequest,
)

if TYPE_CHECKING:
    from bot.slack.app import SlackBot

log = logging.getLogger(__name__)

SEEN_EVENTS = 1_000  # event ids remembered to drop Slack's redeliveries


def register(bot: SlackBot) -> None:
    """Attach every listener to `bot.app`."""
    app = bot.app
    seen: OrderedDict[str, None] = OrderedDict()

    @app.command("/dr")
    def command(ack: Any, command: dict[str, Any], client: Any) -> None:
        text = command.get("text") or ""
        outcome = parse(text)
        channel, user = command["channel_id"], command["user_id"]
        if isinstance(outcome, ParseError):
            message = blocks.error_reply(outcome.message, outcome.usage, outcome.suggestion)
            ack(text=message.text, blocks=message.blocks)
            return
        ack()
        if isinstance(outcome, MissingReason):
            _ask_reason(bot, client, command["trigger_id"], outcome, channel, None)
            return
        actor = bot.actor(user, channel, command.get("user_name", ""))
        reply = Reply(channel=channel, user=user, response_url=command.get("response_url"))
        bot.submit(lambda: bot.handle(outcome, actor, reply), reply)

    @app.event("app_mention")
    def mention(body: dict[str, Any], event: dict[str, Any]) -> None:
        event_id = str(body.get("event_id") or "")
        if event_id in seen:
            return  # Slack delivered it again; it was handled
        seen[event_id] = None
        while len(seen) > SEEN_EVENTS:
            seen.popitem(last=False)
        channel, user = event["channel"], event.get("user", "")
        # Answer in the thread the mention is in (its parent), or start one under the mention.
        reply = Reply(channel=channel, user=user, thread_ts=event.get("thread_ts") or event["ts"])

        def work() -> None:
            outcome = parse(event.get("text") or "")
            if isinstance(outcome, ParseError):
                reply.private(
                    bot.poster,
                    blocks.error_reply(outcome.message, outcome.usage, outcome.suggestion),
                )
            elif isinstance(outcome, MissingReason):
                # An event has no trigger_id, so no modal: ask for the reason in words.
                reply.private(bot.poster, blocks.error_reply(m.REASON_EMPTY, "--reason TEXT"))
            else:
                bot.handle(outcome, bot.actor(user, channel), reply)

        bot.submit(work, reply)

    def clicked(body: dict[str, Any]) -> tuple[str, str, Reply, str]:
        """(user, channel, reply in the thread, the button's value) of a click."""
        user = body["user"]["id"]
        channel = (body.get("channel") or {}).get("id") or (body.get("container") or {}).get(
            "channel_id", ""
        )
        value = str(body["actions"][0].get("value", ""))
        return user, channel, Reply(channel=channel, user=user, thread_ts=thread_of(body)), value

    def on_button(make: Any) -> Any:
        def listener(ack: Any, body: dict[str, Any]) -> None:
            ack()
            user, channel, reply, value = clicked(body)
            if not channel:  # a click in App Home: answer in the person's DM with the app
                reply = Reply(channel=user, user=user)
            try:
                request = make(int(value))
            except (ValueError, ValidationError):
                log.warning("a button with a bad value %r", value)
                return
            actor = bot.actor(user, channel or None, body["user"].get("name", ""))
            bot.submit(lambda: bot.handle(request, actor, reply), reply)

        return listener

    app.action(blocks.APPROVE)(on_button(lambda n: ApproveRequest(approval_id=n)))
    app.action(blocks.STORAGE_DONE)(on_button(lambda n: ConfirmStorageRequest(run_id=n)))
    app.action(blocks.RESUME)(on_button(lambda n: ResumeRequest(run_id=n)))
    app.action(blocks.ABORT)(on_button(lambda n: AbortRequest(run_id=n)))

    @app.action(blocks.REJECT)
    def reject(ack: Any, body: dict[str, Any], client: Any) -> None:
        ack()
        user, channel, reply, value = clicked(body)
        metadata = json.dumps(
            {"approval_id": value, "channel": channel or user, "thread_ts": reply.thread_ts}
        )
        view = blocks.reason_modal(
            blocks.REJECT_VIEW,
            m.REJECT_TITLE,
            m.REJECT_PROMPT.format(approval_id=value),
            m.REJECT_SUBMIT,
            metadata,
        )
        try:
            client.views_open(trigger_id=body["trigger_id"], view=view)
        except Exception:
            log.exception("reject modal not opened")
            bot.submit(lambda: reply.private(bot.poster, blocks.note(m.FAILED)), None)

    @app.view(blocks.REASON_VIEW)
    def reason_given(ack: Any, body: dict[str, Any], view: dict[str, Any]) -> None:
        reason = _reason_from(view)
        if not reason:
            ack(response_action="errors", errors={blocks.REASON_BLOCK: m.REASON_EMPTY})
            return
        ack()
        meta = json.loads(view.get("private_metadata") or "{}")
        user = body["user"]["id"]
        channel = str(meta.get("channel") or user)
        try:
            request = REQUEST.validate_python({**meta["request"], "reason": reason})
        except (KeyError, ValidationError):
            log.warning("a reason modal with bad metadata")
            return
        reply = Reply(channel=channel, user=user, thread_ts=meta.get("thread_ts"))
        actor = bot.actor(user, channel, body["user"].get("name", ""))
        bot.submit(lambda: bot.handle(request, actor, reply), reply)

    @app.view(blocks.REJECT_VIEW)
    def reject_reason(ack: Any, body: dict[str, Any], view: dict[str, Any]) -> None:
        reason = _reason_from(view)
        if not reason:
            ack(response_action="errors", errors={blocks.REASON_BLOCK: m.REASON_EMPTY})
            return
        ack()
        meta = json.loads(view.get("private_metadata") or "{}")
        user = body["user"]["id"]
        channel = str(meta.get("channel") or user)
        try:
            request = RejectRequest(approval_id=int(meta["approval_id"]), reason=reason)
        except (KeyError, ValueError, ValidationError):
            log.warning("a reject modal with bad metadata")
            return
        reply = Reply(channel=channel, user=user, thread_ts=meta.get("thread_ts"))
        actor = bot.actor(user, channel, body["user"].get("name", ""))
        bot.submit(lambda: bot.handle(request, actor, reply), reply)

    @app.event("app_home_opened")
    def home(event: dict[str, Any]) -> None:
        if event.get("tab", "home") != "home":
            return
        user = event["user"]
        bot.submit(lambda: bot.publish_home(user), None)


def _ask_reason(
    bot: SlackBot,
    client: Any,
    trigger_id: str,
    missing: MissingReason,
    channel: str,
    thread_ts: str | None,
) -> None:
    """Open the modal asking for a reason, at once (the trigger_id lives 3 seconds)."""
    request = missing.request
    metadata = json.dumps(
        {
            "request": request.model_dump(mode="json", exclude={"reason"}),
            "channel": channel,
            "thread_ts": thread_ts,
        }
    )
    view = blocks.reason_modal(
        blocks.REASON_VIEW,
        m.REASON_TITLE,
        m.REASON_PROMPT.format(command=request.command, target=getattr(request, "target", "")),
        m.REASON_SUBMIT,
        metadata,
    )
    client.views_open(trigger_id=trigger_id, view=view)


def _reason_from(view: dict[str, Any]) -> str:
    values = (view.get("state") or {}).get("values") or {}
    raw = (values.get(blocks.REASON_BLOCK) or {}).get(blocks.REASON_INPUT) or {}
    return str(raw.get("value") or "").strip()
