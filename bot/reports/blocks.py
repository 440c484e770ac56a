"""Block Kit building blocks for the reports, and the check that a message fits Slack.

Slack refuses a message over its limits (`invalid_blocks`, `msg_blocks_too_long`), and
slack_sdk's models check only some of them (reference slack.md §6). `check_message` runs
both: every block through `slack_sdk.models` (text lengths, element counts) and the limits the
SDK leaves out (50 blocks, 2,000 characters a section field, the message's total size).
Builders keep within them with `clip` and `listing`, so a 1,000-VM drill still posts.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from slack_sdk.models.blocks import Block

Blocks = list[dict[str, Any]]

MAX_BLOCKS = 50
MAX_SECTION_TEXT = 3000
MAX_FIELD_TEXT = 2000
MAX_FIELDS = 10
MAX_HEADER = 150
MAX_CONTEXT_ELEMENTS = 10
# Slack's cumulative limit on a message's blocks is undocumented; rejections were measured at
# about 11-12k characters of JSON (bolt-js #2867), so stay well under it.
MAX_BLOCKS_JSON = 11_000
MAX_TEXT = 4000  # the notification text: longer is truncated by Slack (msg_too_long here)


class MessageTooLarge(ValueError):
    """A built message would be refused by Slack."""


def clip(text: str, limit: int) -> str:
    """`text` cut to at most `limit` characters, ending with an ellipsis when cut."""
    return text if len(text) <= limit else text[: limit - 1] + "…"


def listing(items: Sequence[str], limit: int, more: str = "…and {count} more") -> str:
    """Lines of `items`, as many as fit in `limit` characters, then how many were left out."""
    lines: list[str] = []
    used = 0
    for i, item in enumerate(items):
        rest = len(items) - i
        tail = more.format(count=rest) if rest else ""
        if used + len(item) + 1 + len(tail) + 1 > limit:
            lines.append(more.format(count=rest))
            break
        lines.append(item)
        used += len(item) + 1
    return "\n".join(lines)


def header(text: str) -> dict[str, Any]:
    return {"type": "header", "text": {"type": "plain_text", "text": clip(text, MAX_HEADER)}}


def section(text: str, fields: Sequence[str] = ()) -> dict[str, Any]:
    block: dict[str, Any] = {
        "type": "section",
        "text": {"type": "mrkdwn", "text": clip(text, MAX_SECTION_TEXT)},
    }
    if fields:
        block["fields"] = [
            {"type": "mrkdwn", "text": clip(f, MAX_FIELD_TEXT)} for f in fields[:MAX_FIELDS]
        ]
    return block


def context(*texts: str) -> dict[str, Any]:
    return {
        "type": "context",
        "elements": [
            {"type": "mrkdwn", "text": clip(t, MAX_SECTION_TEXT)}
            for t in texts[:MAX_CONTEXT_ELEMENTS]
        ],
    }


def divider() -> dict[str, Any]:
    return {"type": "divider"}


def json_size(blocks: Blocks) -> int:
    """The size Slack counts a message's blocks by: their compact JSON."""
    return len(json.dumps(blocks, separators=(",", ":"), ensure_ascii=False))


def fits(blocks: Blocks, reserve: int = 600) -> bool:
    """Whether `blocks` stay within the block count and size, leaving room for a closing
    block or two (`reserve` characters)."""
    return len(blocks) <= MAX_BLOCKS - 2 and json_size(blocks) <= MAX_BLOCKS_JSON - reserve


def check_message(text: str, blocks: Blocks) -> None:
    """Raise `MessageTooLarge` saying which limit a message (text and blocks) breaks."""
    if len(blocks) > MAX_BLOCKS:
        raise MessageTooLarge(f"{len(blocks)} blocks (Slack allows {MAX_BLOCKS})")
    if len(text) > MAX_TEXT:
        raise MessageTooLarge(f"text of {len(text)} characters (limit {MAX_TEXT})")
    size = json_size(blocks)
    if size > MAX_BLOCKS_JSON:
        raise MessageTooLarge(f"blocks of {size} characters of JSON (limit {MAX_BLOCKS_JSON})")
    for i, raw in enumerate(blocks):
        for field in raw.get("fields", []):
            if len(field.get("text", "")) > MAX_FIELD_TEXT:
                raise MessageTooLarge(f"block {i}: a field over {MAX_FIELD_TEXT} characters")
    parsed = Block.parse_all(blocks)
    for i, block in enumerate(parsed):
        if block is None:
            raise MessageTooLarge(f"block {i}: a type Slack does not know")
        try:
            block.to_dict()  # runs slack_sdk's validators
        except Exception as exc:  # SlackObjectFormationError and friends
            raise MessageTooLarge(f"block {i}: {exc}") from exc
