"""Every message and view the bot builds is checked here before it is sent: first by
`slack_sdk.models` (which knows each element's own limits: button text 75, header 150, section
text 3,000, confirm texts ...), then against the limits slack_sdk does not check (reference
slack.md §6): 50 blocks a message, 2,000 characters a section field, the fallback `text`
(Slack refuses long text with msg_too_long), and the message's blocks taken together, which
Slack refuses past an undocumented size (msg_blocks_too_long, measured at 11-13 k characters).

A builder that breaks a limit is a bug of ours, never a person's: `BlockKitError` says which
block and which limit.
"""

from __future__ import annotations

import json
from typing import Any

from slack_sdk.errors import SlackObjectFormationError
from slack_sdk.models.blocks import Block
from slack_sdk.models.views import View

MESSAGE_BLOCKS = 50
VIEW_BLOCKS = 100
SECTION_TEXT = 3_000
FIELD_TEXT = 2_000
BUTTON_VALUE = 2_000
TEXT = 3_900  # Slack refuses text past ~4,000 characters today; keep a margin
BLOCKS_JSON = 11_000  # the cumulative size; Slack refused at ~11 k in bolt-js #2867

Blocks = list[dict[str, Any]]


class BlockKitError(ValueError):
    """A message or view the bot built breaks one of Slack's limits."""


def check_message(text: str, blocks: Blocks | None) -> None:
    """Raise `BlockKitError` unless Slack would accept this message."""
    if len(text) > TEXT:
        raise BlockKitError(f"text has {len(text)} characters; at most {TEXT}")
    if blocks is None:
        return
    if len(blocks) > MESSAGE_BLOCKS:
        raise BlockKitError(f"{len(blocks)} blocks; a message holds at most {MESSAGE_BLOCKS}")
    _check_blocks(blocks)
    size = len(json.dumps(blocks, separators=(",", ":")))
    if size > BLOCKS_JSON:
        raise BlockKitError(f"blocks are {size} characters together; at most {BLOCKS_JSON}")


def check_view(view: dict[str, Any]) -> None:
    """Raise `BlockKitError` unless Slack would accept this modal or Home tab."""
    blocks = view.get("blocks", [])
    if len(blocks) > VIEW_BLOCKS:
        raise BlockKitError(f"{len(blocks)} blocks; a view holds at most {VIEW_BLOCKS}")
    _check_blocks(blocks)
    try:
        View(**view).to_dict()
    except (SlackObjectFormationError, TypeError) as error:
        raise BlockKitError(f"view: {error}") from error


def _check_blocks(blocks: Blocks) -> None:
    # slack_sdk logs an unknown block type and returns None for it: an error here.
    parsed = Block.parse_all(blocks)
    for n, (raw, block) in enumerate(zip(blocks, parsed, strict=True)):
        if block is None:
            raise BlockKitError(f"block {n}: unknown type {raw.get('type')!r}")
        try:
            block.to_dict()
        except SlackObjectFormationError as error:
            raise BlockKitError(f"block {n} ({raw.get('type')}): {error}") from error
        for m, field in enumerate(raw.get("fields") or []):
            if len(field.get("text", "")) > FIELD_TEXT:
                raise BlockKitError(f"block {n} field {m}: more than {FIELD_TEXT} characters")
        for element in raw.get("elements") or []:
            if len(str(element.get("value", ""))) > BUTTON_VALUE:
                raise BlockKitError(f"block {n}: a button value over {BUTTON_VALUE} characters")
