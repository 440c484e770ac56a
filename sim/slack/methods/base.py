"""What every Web API method shares: the `Call` (arguments merged from query and body, the
token's kind, the world), the registry filled by `@method(name, tier=, scopes=, tokens=)`,
and the checks several methods make (which channel, message content within Slack's limits).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sim.slack import blockkit
from sim.slack.errors import ApiError
from sim.slack.workspace import Channel
from sim.slack.world import World

# chat.postMessage's page says Slack truncates text beyond 40 000 characters, but Slack's own
# SDK maintainer confirms the platform now refuses far shorter text with msg_too_long
# (seratch/ChatGPT-in-Slack#102; also reported for chat.update around 4 000 characters), and
# the same page advises at most 4 000. The double refuses past 4 000, so an app that passes
# here does not fail on Slack; a seed's [limits] text_max changes it.
TEXT_MAX = 4_000
# Slack also refuses a message whose blocks are too big together (msg_blocks_too_long), an
# undocumented cumulative limit measured at 11 000-13 000 characters (bolt-js #2867, #2509).
# The double counts the compact JSON of the blocks; a seed's [limits] blocks_max changes it.
BLOCKS_JSON_MAX = 12_000


@dataclass
class Call:
    """One Web API request, with its arguments already merged from query and body."""

    world: World
    method: str
    token_kind: str
    args: dict[str, Any]

    def get(self, name: str, default: Any = None) -> Any:
        value = self.args.get(name, default)
        return default if value is None else value

    def text(self, name: str, default: str | None = None) -> str | None:
        value = self.args.get(name)
        return default if value is None else str(value)

    def flag(self, name: str) -> bool:
        value = self.args.get(name)
        return value is True or str(value).lower() in ("true", "1", "yes")

    def integer(self, name: str, default: int) -> int:
        try:
            return int(self.args.get(name, default))
        except (TypeError, ValueError) as error:
            raise ApiError("invalid_arguments") from error

    def json(self, name: str, error: str = "invalid_arguments") -> Any:
        """An argument that is JSON: a JSON body gives it as is, a form body as a string."""
        value = self.args.get(name)
        if isinstance(value, str):
            try:
                return json.loads(value)
            except json.JSONDecodeError as failure:
                raise ApiError(error) from failure
        return value

    def require_scope(self, *scopes: str) -> None:
        granted = self.world.workspace.app.scopes
        missing = [s for s in scopes if s not in granted]
        if missing:
            raise ApiError(
                "missing_scope", needed=",".join(missing), provided=",".join(sorted(granted))
            )


@dataclass
class Method:
    name: str
    handler: Callable[[Call], dict]
    tier: int | str
    scopes: tuple[str, ...]
    tokens: tuple[str, ...]


METHODS: dict[str, Method] = {}


def method(
    name: str, *, tier: int | str, scopes: tuple[str, ...] = (), tokens: tuple[str, ...] = ("bot",)
):
    def register(handler: Callable[[Call], dict]) -> Callable[[Call], dict]:
        METHODS[name] = Method(name, handler, tier, scopes, tokens)
        return handler

    return register


def resolve_channel(
    call: Call, ref: str | None, *, for_posting: bool = False, by_name: bool = False
) -> Channel:
    """A conversation the bot may see: private channels it is not in do not exist for it.
    Only chat.postMessage and chat.postEphemeral take a channel's name (`by_name`); every
    other method wants its ID, and a name is channel_not_found (files_upload_v2 with a name
    fails so on Slack: python-slack-sdk #1359)."""
    if not ref:
        raise ApiError("channel_not_found")
    ws = call.world.workspace
    user = ws.users.get(ref)
    if user is not None and not user.is_bot and ref.startswith(("U", "W")):
        return ws.im_with(user.id)
    channel = ws.channel(ref) if by_name else ws.channels.get(ref)
    if channel is None or (channel.is_private and not ws.bot_is_member(channel)):
        raise ApiError("channel_not_found")
    if for_posting:
        if channel.is_archived:
            raise ApiError("is_archived")
        if not ws.bot_is_member(channel) and "chat:write.public" not in ws.app.scopes:
            raise ApiError("not_in_channel")
    return channel


def check_thread_ts(call: Call, channel: str, thread_ts: str | None) -> None:
    """A `thread_ts` must be a message of `channel` that is not itself a reply: Slack says to
    name a thread by its parent's ts, and the double refuses a reply's (recorded)."""
    if thread_ts is None:
        return
    found = call.world.conversations.get(channel, thread_ts)
    if found is None:
        raise ApiError("invalid_thread_ts")
    if found.is_reply:
        call.world.refuse_reply_thread_ts(channel, thread_ts, found.thread_ts or "")


def message_content(call: Call) -> tuple[str | None, list | None, list | None]:
    """text, blocks and attachments of chat.* calls, checked against Slack's limits."""
    text = call.text("text")
    blocks = (
        call.json("blocks", "invalid_blocks_format")
        if call.args.get("blocks") not in (None, "")
        else None
    )
    attachments = (
        call.json("attachments", "invalid_attachments") if call.args.get("attachments") else None
    )
    if blocks is not None:
        if not isinstance(blocks, list):
            raise ApiError("invalid_blocks_format")
        errors = blockkit.check_message_blocks(blocks)
        if errors:
            raise ApiError(
                "invalid_blocks",
                errors=errors,
                response_metadata={"messages": blockkit.as_messages(errors)},
            )
        blocks_max = int(call.world.workspace.limits.get("blocks_max", BLOCKS_JSON_MAX))
        if len(json.dumps(blocks, separators=(",", ":"))) > blocks_max:
            raise ApiError("msg_blocks_too_long")
    text_max = int(call.world.workspace.limits.get("text_max", TEXT_MAX))
    if text is not None and len(text) > text_max:
        raise ApiError("msg_too_long")
    return text, blocks, attachments


def metadata(call: Call) -> dict | None:
    return call.json("metadata", "invalid_metadata_format") if call.args.get("metadata") else None
