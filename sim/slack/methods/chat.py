"""chat.postMessage (threads, reply_broadcast, the per-channel rate), chat.update,
chat.postEphemeral, chat.delete: only the app's own, non-ephemeral messages can be edited or
deleted; a thread is named by its parent's ts, never a reply's.
"""

from __future__ import annotations

from sim.slack.errors import ApiError
from sim.slack.methods.base import (
    Call,
    check_thread_ts,
    message_content,
    metadata,
    method,
    resolve_channel,
)


@method("chat.postMessage", tier="special", scopes=("chat:write",))
def chat_post_message(call: Call) -> dict:
    world = call.world
    channel = resolve_channel(call, call.text("channel"), for_posting=True, by_name=True)
    text, blocks, attachments = message_content(call)
    if not text and not blocks and not attachments:
        raise ApiError("no_text")
    thread_ts = call.text("thread_ts") or None
    check_thread_ts(call, channel.id, thread_ts)
    world.limiter.check_channel(channel.id, world.workspace.team_id)
    message = world.post(
        channel.id,
        world.workspace.app.bot_user_id,
        text or "",
        blocks,
        thread_ts=thread_ts,
        reply_broadcast=call.flag("reply_broadcast") and thread_ts is not None,
        attachments=attachments,
        metadata=metadata(call),
    )
    return {
        "channel": channel.id,
        "ts": message.ts,
        "message": message.to_api(world.workspace.team_id),
    }


@method("chat.update", tier=3, scopes=("chat:write",))
def chat_update(call: Call) -> dict:
    world = call.world
    channel = resolve_channel(call, call.text("channel"))
    ts = call.text("ts") or ""
    message = world.conversations.get(channel.id, ts)
    if message is None:
        raise ApiError("message_not_found")
    if message.user != world.workspace.app.bot_user_id:
        raise ApiError("cant_update_message")
    text, blocks, attachments = message_content(call)
    if text is None and blocks is None and attachments is None:
        raise ApiError("no_text")
    world.edit(message, text, blocks, attachments=attachments)
    return {
        "channel": channel.id,
        "ts": message.ts,
        "text": message.text,
        "message": message.to_api(world.workspace.team_id),
    }


@method("chat.postEphemeral", tier=4, scopes=("chat:write",))
def chat_post_ephemeral(call: Call) -> dict:
    world = call.world
    channel = resolve_channel(call, call.text("channel"), for_posting=True, by_name=True)
    user = world.workspace.users.get(call.text("user") or "")
    if user is None:
        raise ApiError("user_not_found")
    if user.id not in channel.members:
        raise ApiError("user_not_in_channel")
    text, blocks, attachments = message_content(call)
    if not text and not blocks and not attachments:
        raise ApiError("no_text")
    thread_ts = call.text("thread_ts") or None
    check_thread_ts(call, channel.id, thread_ts)
    message = world.post(
        channel.id,
        world.workspace.app.bot_user_id,
        text or "",
        blocks,
        thread_ts=thread_ts,
        ephemeral_to=user.id,
        attachments=attachments,
    )
    return {"message_ts": message.ts}


@method("chat.delete", tier=3, scopes=("chat:write",))
def chat_delete(call: Call) -> dict:
    world = call.world
    channel = resolve_channel(call, call.text("channel"))
    message = world.conversations.get(channel.id, call.text("ts") or "")
    if message is None:
        raise ApiError("message_not_found")
    if message.user != world.workspace.app.bot_user_id:
        raise ApiError("cant_delete_message")
    world.delete(message)
    return {"channel": channel.id, "ts": message.ts}


@method("chat.getPermalink", tier="special")
def chat_get_permalink(call: Call) -> dict:
    world = call.world
    channel = resolve_channel(call, call.text("channel"))
    ts = call.text("message_ts") or ""
    if world.conversations.get(channel.id, ts) is None:
        raise ApiError("message_not_found")
    link = (
        f"https://{world.workspace.domain}.slack.com/archives/{channel.id}/p{ts.replace('.', '')}"
    )
    return {"channel": channel.id, "permalink": link}
