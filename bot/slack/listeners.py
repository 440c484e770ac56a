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
    Request,
    ResumeRequest,
)

if TYPE_CHECKING:
    from bot.slack.app import SlackBot

log = logging.getLogger(__name__)

SEEN_EVENTS = 1_000  # event ids remembered to drop Slack's redeliveries
MAX_METADATA = 3_000  # a modal's private_metadata, in characters (reference slack.md §6)


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
        reply = Reply(channel=channel, user=user, response_url=command.get("response_url"))
        if isinstance(outcome, MissingReason):
            metadata = json.dumps(
                {
                    "request": outcome.request.model_dump(mode="json", exclude={"reason"}),
                    "channel": channel,
                    "thread_ts": None,
                },
                ensure_ascii=False,  # Slack counts characters: a name in another script fits
            )
            if len(metadata) > MAX_METADATA:  # the modal would be refused: say what to do
                message = blocks.error_reply(m.REASON_TOO_LONG)
                bot.submit(lambda: reply.private(bot.poster, message), None)
                return
            view = _reason_view(outcome.request, metadata)
            _open_modal(bot, client, command["trigger_id"], view, reply)
            return
        actor = bot.actor(user, channel, command.get("user_name", ""))
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
                # An event has no trigger_id, so no modal yet: a button whose click has one.
                request = outcome.request
                pending = bot.reasons.add(request, user, channel, reply.thread_ts, bot.clock.now())
                target = str(getattr(request, "target", "") or getattr(request, "approval_id", ""))
                reply.private(bot.poster, blocks.reason_button(pending, request.command, target))
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
                request = make(value)
            except (ValueError, KeyError, TypeError, ValidationError):
                log.warning("a button with a bad value %r", value)
                return
            actor = bot.actor(user, channel or None, body["user"].get("name", ""))
            bot.submit(lambda: bot.handle(request, actor, reply), reply)

        return listener

    app.action(blocks.APPROVE)(on_button(lambda v: ApproveRequest(approval_id=int(v))))
    app.action(blocks.STORAGE_DONE)(on_button(_storage_done))
    app.action(blocks.RESUME)(on_button(lambda v: ResumeRequest(run_id=int(v))))
    app.action(blocks.ABORT)(on_button(lambda v: AbortRequest(run_id=int(v))))

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
        _open_modal(bot, client, body["trigger_id"], view, reply)

    @app.action(blocks.REASON_BUTTON)
    def give_reason(ack: Any, body: dict[str, Any], client: Any) -> None:
        """The "Give a reason" button under a mention: the same modal as a slash command's."""
        ack()
        user, _, reply, pending_id = clicked(body)
        pending = bot.reasons.get(pending_id)
        if pending is None or pending.expired(bot.clock.now()) or pending.user != user:
            text = (
                m.REASON_NOT_YOURS.format(user=pending.user)
                if pending is not None and pending.user != user
                else m.REASON_GONE
            )
            bot.submit(lambda: reply.private(bot.poster, blocks.note(text)), None)
            return
        metadata = json.dumps({"pending": pending_id, "response_url": body.get("response_url")})
        view = _reason_view(pending.typed("-"), metadata)
        _open_modal(bot, client, body["trigger_id"], view, reply)

    @app.view(blocks.REASON_VIEW)
    def reason_given(ack: Any, body: dict[str, Any], view: dict[str, Any]) -> None:
        reason = _reason_from(view)
        if not reason:
            ack(response_action="errors", errors={blocks.REASON_BLOCK: m.REASON_EMPTY})
            return
        meta = json.loads(view.get("private_metadata") or "{}")
        user = body["user"]["id"]
        if "pending" in meta:
            _pending_reason_given(bot, ack, body, meta, reason)
            return
        ack()
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


def _pending_reason_given(
    bot: SlackBot, ack: Any, body: dict[str, Any], meta: dict[str, Any], reason: str
) -> None:
    """The modal opened from a mention's "Give a reason": the request kept for it goes on,
    once, as its requester asked it."""
    user = body["user"]["id"]
    pending_id = str(meta["pending"])
    found = bot.reasons.get(pending_id)
    if found is not None and found.user != user:
        ack(
            response_action="errors",
            errors={blocks.REASON_BLOCK: m.REASON_NOT_YOURS.format(user=found.user)},
        )
        return
    pending = bot.reasons.take(pending_id)
    if pending is None or pending.expired(bot.clock.now()):
        ack(response_action="errors", errors={blocks.REASON_BLOCK: m.REASON_GONE})
        return
    ack()
    try:
        request = pending.typed(reason)
    except ValidationError:
        log.warning("a kept request no longer validates")
        return
    reply = Reply(channel=pending.channel, user=user, thread_ts=pending.thread_ts)
    actor = bot.actor(user, pending.channel, body["user"].get("name", ""))
    response_url = meta.get("response_url")

    def work() -> None:
        if response_url:  # the ephemeral button is done with: say so in its place
            target = getattr(request, "target", "")
            bot.poster.replace(
                str(response_url),
                blocks.note(m.REASON_GIVEN.format(command=request.command, target=target)),
            )
        bot.handle(request, actor, reply)

    bot.submit(work, reply)


def _storage_done(value: str) -> ConfirmStorageRequest:
    """The Done button's value (`blocks.storage_value`): the run and the step it was for."""
    raw = json.loads(value)
    return ConfirmStorageRequest(run_id=raw["run"], lun=raw["lun"], action=raw["action"])


def _reason_view(request: Request, metadata: str) -> dict[str, Any]:
    """The modal asking why, for a request typed without its reason."""
    return blocks.reason_modal(
        blocks.REASON_VIEW,
        m.REASON_TITLE,
        m.REASON_PROMPT.format(command=request.command, target=getattr(request, "target", "")),
        m.REASON_SUBMIT,
        metadata,
    )


def _open_modal(
    bot: SlackBot, client: Any, trigger_id: str, view: dict[str, Any], reply: Reply
) -> None:
    """Open a modal at once, in the listener (its trigger_id lives 3 seconds); if Slack
    refuses (the trigger expired, Slack is down), tell the person instead of failing."""
    try:
        client.views_open(trigger_id=trigger_id, view=view)
    except Exception:
        log.exception("modal not opened")
        bot.submit(lambda: reply.private(bot.poster, blocks.note(m.FAILED)), None)


def _reason_from(view: dict[str, Any]) -> str:
    values = (view.get("state") or {}).get("values") or {}
    raw = (values.get(blocks.REASON_BLOCK) or {}).get(blocks.REASON_INPUT) or {}
    return str(raw.get("value") or "").strip()
