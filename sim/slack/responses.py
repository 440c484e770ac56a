"""What an app's reply does to the screen: the ack of a command (ephemeral, or in the
channel), a `response_url` POST (new message, replace_original, delete_original, in a
thread), both with Slack's rules.

A response_url lives 30 minutes and takes 5 uses (`Deadlines`); a used-up or expired one
answers HTTP 404 with `used_url` / `expired_url`. A response_url of a command has no
original to replace; one of a button replaces or deletes the message holding the button,
ephemeral or not (which chat.update cannot). A new message is threaded only under the
`thread_ts` the app gives (never a reply's), not under the clicked message's thread.
"""

from __future__ import annotations

import json
from typing import Any

from sim.slack import blockkit
from sim.slack.errors import ApiError
from sim.slack.handles import ResponseUrl
from sim.slack.world import World


def show(
    world: World,
    *,
    user: str,
    channel: str | None,
    body: dict[str, Any],
    original_ts: str | None = None,
    echo_command: str | None = None,
) -> dict[str, Any]:
    """Apply one reply; returns what happened, for the caller's record."""
    bot = world.workspace.app.bot_user_id
    text = body.get("text")
    blocks = body.get("blocks")
    if isinstance(blocks, str):
        try:
            blocks = json.loads(blocks)
        except json.JSONDecodeError as error:
            raise ApiError("invalid_blocks_format", status=400) from error
    if blocks is not None:
        errors = blockkit.check_message_blocks(blocks)
        if errors:
            raise ApiError("invalid_blocks", status=400, errors=errors)
    with world.lock:
        original = world.find_message(channel, original_ts) if channel and original_ts else None
        if _true(body.get("delete_original")):
            if original is None:
                raise ApiError("message_not_found", status=404)
            world.delete(original)
            return {"deleted": original.ts}
        if _true(body.get("replace_original")) and original is not None:
            world.edit(
                original,
                text if text is not None else "",
                blocks,
                attachments=body.get("attachments"),
                whole=True,
            )
            return {"replaced": original.ts}
        if not text and not blocks and not body.get("attachments"):
            raise ApiError("no_text", status=400)
        if channel is None:
            raise ApiError("channel_not_found", status=404)
        # A new message goes into a thread only when the app names one: Slack does not
        # infer it from where the clicked message was.
        thread = body.get("thread_ts") or None
        in_channel = body.get("response_type") == "in_channel"
        if in_channel and echo_command:
            world.post(channel, user, echo_command, thread_ts=thread, as_bot=False)
        message = world.post(
            channel,
            bot,
            text or "",
            blocks,
            thread_ts=thread,
            ephemeral_to=None if in_channel else user,
            attachments=body.get("attachments"),
        )
        return {"posted" if in_channel else "ephemeral": message.ts}


def use_response_url(world: World, handle_id: str, raw: bytes) -> tuple[int, dict[str, Any]]:
    """The hooks.slack.com side of a response_url POST: (status, JSON body)."""
    try:
        try:
            body = json.loads(raw.decode("utf-8") or "{}")
        except (UnicodeDecodeError, json.JSONDecodeError):
            return 400, {"ok": False, "error": "invalid_payload"}
        if not isinstance(body, dict):
            return 400, {"ok": False, "error": "invalid_payload"}
        with world.lock:
            url: ResponseUrl = world.handles.use_response_url(
                handle_id, world.now(), world.deadlines
            )
        show(
            world,
            user=url.user,
            channel=url.channel,
            body=body,
            original_ts=url.message_ts,
        )
        return 200, {"ok": True}
    except ApiError as refusal:
        return refusal.status if refusal.status != 200 else 400, refusal.body()


def _true(value: Any) -> bool:
    return value is True or str(value).lower() == "true"
