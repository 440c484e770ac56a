"""conversations.history and conversations.replies: reading a channel or a thread back, with
Slack's cursor paging.

Both are Tier 3 for internal apps (docs.slack.dev, conversations.history: the 2025 limit of
one call a minute applies only to commercially distributed non-Marketplace apps). A bot token
reads only conversations the bot is a member of (`not_in_channel`), with the `*:history`
scope of the conversation's kind. A page holds at most `limit` messages (default 100, at most
999); `has_more` says whether another page exists, and `response_metadata.next_cursor` (an
opaque string, empty on the last page) fetches it. History is newest first and shows only
what the channel shows (parents and broadcast replies); replies are the thread's parent, then
its replies, oldest first.
"""

from __future__ import annotations

import base64
import binascii

from sim.slack.conversations import Message
from sim.slack.errors import ApiError
from sim.slack.methods.base import Call, method, resolve_channel
from sim.slack.workspace import Channel

DEFAULT_LIMIT = 100
MAX_LIMIT = 999


def _history_scope(channel: Channel) -> str:
    if channel.is_im:
        return "im:history"
    return "groups:history" if channel.is_private else "channels:history"


def _readable(call: Call) -> Channel:
    channel = resolve_channel(call, call.text("channel"))
    call.require_scope(_history_scope(channel))
    if not call.world.workspace.bot_is_member(channel):
        raise ApiError("not_in_channel")
    return channel


def _limit(call: Call) -> int:
    return max(1, min(call.integer("limit", DEFAULT_LIMIT) or DEFAULT_LIMIT, MAX_LIMIT))


def _cursor(call: Call) -> str | None:
    """The ts a page continues after, from Slack's opaque `next_ts:` cursor."""
    raw = call.text("cursor") or ""
    if not raw:
        return None
    try:
        decoded = base64.b64decode(raw.encode(), validate=True).decode()
    except (binascii.Error, UnicodeDecodeError) as error:
        raise ApiError("invalid_cursor") from error
    if not decoded.startswith("next_ts:"):
        raise ApiError("invalid_cursor")
    return decoded[len("next_ts:") :]


def _next_cursor(ts: str) -> str:
    return base64.b64encode(f"next_ts:{ts}".encode()).decode()


def _within(call: Call, message: Message) -> bool:
    """`oldest` / `latest` bound the time range, exclusive unless `inclusive`."""
    ts = float(message.ts)
    inclusive = call.flag("inclusive")
    oldest, latest = call.text("oldest"), call.text("latest")
    if oldest and (ts < float(oldest) or (ts == float(oldest) and not inclusive)):
        return False
    return not (latest and (ts > float(latest) or (ts == float(latest) and not inclusive)))


def _page(messages: list[Message], call: Call, *, newest_first: bool) -> dict:
    after = _cursor(call)
    if after is not None:
        if newest_first:
            messages = [m for m in messages if float(m.ts) < float(after)]
        else:
            messages = [m for m in messages if float(m.ts) > float(after)]
    limit = _limit(call)
    page, more = messages[:limit], len(messages) > limit
    team = call.world.workspace.team_id
    return {
        "messages": [m.to_api(team) for m in page],
        "has_more": more,
        "response_metadata": {"next_cursor": _next_cursor(page[-1].ts) if more else ""},
    }


@method("conversations.history", tier=3)
def conversations_history(call: Call) -> dict:
    channel = _readable(call)
    shown = [m for m in call.world.conversations.history(channel.id) if _within(call, m)]
    answer = _page(list(reversed(shown)), call, newest_first=True)
    return {**answer, "pin_count": 0}


@method("conversations.replies", tier=3)
def conversations_replies(call: Call) -> dict:
    channel = _readable(call)
    ts = call.text("ts") or ""
    found = call.world.conversations.get(channel.id, ts)
    if found is None:
        raise ApiError("thread_not_found")
    parent_ts = found.thread_ts if found.is_reply else found.ts
    thread = call.world.conversations.thread(channel.id, parent_ts or ts)
    # The parent opens the first page and counts toward its limit; later pages (after a
    # cursor, which is past the parent's ts) hold replies only.
    shown = [thread[0], *(m for m in thread[1:] if _within(call, m))]
    return _page(shown, call, newest_first=False)
