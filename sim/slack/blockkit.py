"""Block Kit as Slack checks it, and as a person would read it in a terminal.

`check_message_blocks` and `check_view` apply Slack's published limits (reference slack.md
§6: 50 blocks in a message, 100 in a modal or Home tab, section text 3000, fields 10 x 2000,
header 150, button text 75 / value 2000 / url 3000, action_id and block_id 255, confirm
100/300/30/30, modal title/submit/close 24, private_metadata 3000) and answer with Slack's
error strings. A message's problems come back as Slack sends them for `invalid_blocks`:
`errors` holds "<what> [json-pointer:/blocks/3/text/text]", preceded by "failed to match all
allowed schemas [json-pointer:/blocks/3/text]" when a text object fails, and
`response_metadata.messages` holds the same lines prefixed "[ERROR] " (`as_messages`). Views
(views.open/push/update/publish) answer `invalid_arguments` with only the "[ERROR] " lines,
the first one "failed to match all allowed schemas [json-pointer:/view]". Some of these limits
(the 50-block limit, the per-field 2000) are not checked by slack_sdk's models, which is why
the sim checks them on the wire.

`render` turns a message into plain text with its buttons numbered [1], [2] ... so a
person at a terminal (or a test) can say "click 2".
"""

from __future__ import annotations

import copy
import html
import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

MESSAGE_BLOCKS_MAX = 50
VIEW_BLOCKS_MAX = 100
VIEW_BYTES_MAX = 250_000
TEXT_OBJECT_TYPES = {"plain_text", "mrkdwn"}
BLOCK_TYPES = {
    "section",
    "divider",
    "header",
    "context",
    "actions",
    "image",
    "input",
    "rich_text",
    "markdown",
    "file",
    "video",
    "context_actions",
}
INTERACTIVE_TYPES = {
    "button",
    "static_select",
    "external_select",
    "users_select",
    "conversations_select",
    "channels_select",
    "multi_static_select",
    "multi_external_select",
    "multi_users_select",
    "multi_conversations_select",
    "multi_channels_select",
    "overflow",
    "datepicker",
    "timepicker",
    "datetimepicker",
    "checkboxes",
    "radio_buttons",
    "plain_text_input",
    "email_text_input",
    "url_text_input",
    "number_input",
    "rich_text_input",
    "file_input",
}
BUTTON_STYLES = {"primary", "danger"}


SCHEMA_MISMATCH = "failed to match all allowed schemas"


class Problems:
    """Collects Slack-style error strings with JSON pointers (the `errors` of invalid_blocks)."""

    def __init__(self) -> None:
        self.errors: list[str] = []

    def add(self, message: str, pointer: str) -> None:
        self.errors.append(f"{message} [json-pointer:{pointer}]")

    def max_len(self, value: Any, limit: int, pointer: str) -> None:
        if isinstance(value, str) and len(value) > limit:
            self.add(f"must be less than {limit + 1} characters", pointer)

    def max_items(self, items: list, limit: int, pointer: str) -> None:
        if len(items) > limit:
            self.add(f"no more than {limit} items allowed", pointer)


def as_messages(errors: list[str]) -> list[str]:
    """The `response_metadata.messages` form of errors: each line prefixed "[ERROR] "."""
    return [f"[ERROR] {error}" for error in errors]


def _text_object(
    problems: Problems, obj: Any, pointer: str, limit: int, *, plain: bool = False
) -> None:
    """A text object; when it fails, Slack first says the object matched no schema."""
    own = Problems()
    _text_object_fields(own, obj, pointer, limit, plain)
    if own.errors:
        problems.add(SCHEMA_MISMATCH, pointer)
        problems.errors += own.errors


def _text_object_fields(
    problems: Problems, obj: Any, pointer: str, limit: int, plain: bool
) -> None:
    if not isinstance(obj, dict):
        problems.add("must be a text object", pointer)
        return
    kind = obj.get("type")
    if kind not in TEXT_OBJECT_TYPES:
        problems.add(
            "must provide a valid text object type (plain_text or mrkdwn)", pointer + "/type"
        )
        return
    if plain and kind != "plain_text":
        problems.add("must be a plain_text text object", pointer + "/type")
    text = obj.get("text")
    if not isinstance(text, str) or not text:
        problems.add("must be more than 0 characters", pointer + "/text")
        return
    problems.max_len(text, limit, pointer + "/text")


def _confirm(problems: Problems, confirm: Any, pointer: str) -> None:
    if not isinstance(confirm, dict):
        problems.add("must be a confirmation object", pointer)
        return
    limits = (("title", 100, True), ("text", 300, False), ("confirm", 30, True), ("deny", 30, True))
    for key, limit, plain in limits:
        if key not in confirm:
            problems.add(f"must provide {key}", pointer)
        else:
            _text_object(problems, confirm[key], f"{pointer}/{key}", limit, plain=plain)
    if "style" in confirm and confirm["style"] not in BUTTON_STYLES:
        problems.add("must be one of primary, danger", pointer + "/style")


def _options(problems: Problems, options: Any, pointer: str) -> None:
    if not isinstance(options, list):
        problems.add("must be an array", pointer)
        return
    problems.max_items(options, 100, pointer)
    for i, option in enumerate(options):
        p = f"{pointer}/{i}"
        if not isinstance(option, dict):
            problems.add("must be an option object", p)
            continue
        _text_object(problems, option.get("text"), p + "/text", 75)
        problems.max_len(option.get("value"), 150, p + "/value")


def _unique_id(
    problems: Problems, obj: dict, key: str, pointer: str, seen: set[str], duplicate: str
) -> None:
    """Check an optional `block_id` / `action_id`: a string under 256 characters, not in `seen`."""
    value = obj.get(key)
    if value is None:
        return
    if not isinstance(value, str) or len(value) > 255:
        problems.add("must be less than 256 characters", f"{pointer}/{key}")
    elif value in seen:
        problems.add(duplicate, f"{pointer}/{key}")
    else:
        seen.add(value)


def _element(problems: Problems, element: Any, pointer: str, action_ids: set[str]) -> None:
    if not isinstance(element, dict) or "type" not in element:
        problems.add("must be a block element object with a type", pointer)
        return
    kind = element["type"]
    if kind in ("image",):
        problems.max_len(element.get("alt_text"), 2000, pointer + "/alt_text")
        return
    if kind not in INTERACTIVE_TYPES:
        problems.add(f"unsupported element type {kind!r}", pointer + "/type")
        return
    _unique_id(
        problems,
        element,
        "action_id",
        pointer,
        action_ids,
        "action_id must be unique within the block",
    )
    if kind == "button":
        _text_object(problems, element.get("text"), pointer + "/text", 75, plain=True)
        problems.max_len(element.get("value"), 2000, pointer + "/value")
        problems.max_len(element.get("url"), 3000, pointer + "/url")
        if "style" in element and element["style"] not in BUTTON_STYLES:
            problems.add("must be one of primary, danger", pointer + "/style")
    if "placeholder" in element:
        _text_object(problems, element["placeholder"], pointer + "/placeholder", 150, plain=True)
    if "options" in element:
        _options(problems, element["options"], pointer + "/options")
    if "confirm" in element:
        _confirm(problems, element["confirm"], pointer + "/confirm")


def _block(problems: Problems, block: Any, pointer: str, block_ids: set[str]) -> None:
    if not isinstance(block, dict):
        problems.add("must be a block object", pointer)
        return
    kind = block.get("type")
    if kind not in BLOCK_TYPES:
        problems.add(f"unsupported type {kind!r}", pointer + "/type")
        return
    _unique_id(problems, block, "block_id", pointer, block_ids, "block_id must be unique")
    action_ids: set[str] = set()
    if kind == "section":
        if "text" not in block and "fields" not in block:
            problems.add("must provide either text or fields", pointer)
        if "text" in block:
            _text_object(problems, block["text"], pointer + "/text", 3000)
        fields = block.get("fields")
        if fields is not None:
            if not isinstance(fields, list):
                problems.add("must be an array", pointer + "/fields")
            else:
                problems.max_items(fields, 10, pointer + "/fields")
                for i, item in enumerate(fields):
                    _text_object(problems, item, f"{pointer}/fields/{i}", 2000)
        if "accessory" in block:
            _element(problems, block["accessory"], pointer + "/accessory", action_ids)
    elif kind == "header":
        _text_object(problems, block.get("text"), pointer + "/text", 150, plain=True)
    elif kind in ("context", "actions"):
        elements = block.get("elements")
        limit = 10 if kind == "context" else 25
        if not isinstance(elements, list) or not elements:
            problems.add("must provide a non-empty elements array", pointer + "/elements")
            return
        problems.max_items(elements, limit, pointer + "/elements")
        for i, element in enumerate(elements):
            p = f"{pointer}/elements/{i}"
            if (
                kind == "context"
                and isinstance(element, dict)
                and element.get("type") in TEXT_OBJECT_TYPES
            ):
                _text_object(problems, element, p, 2000)
            else:
                _element(problems, element, p, action_ids)
    elif kind == "image":
        if "image_url" not in block and "slack_file" not in block:
            problems.add("must provide image_url or slack_file", pointer)
        problems.max_len(block.get("image_url"), 3000, pointer + "/image_url")
        problems.max_len(block.get("alt_text"), 2000, pointer + "/alt_text")
    elif kind == "input":
        _text_object(problems, block.get("label"), pointer + "/label", 2000, plain=True)
        if "hint" in block:
            _text_object(problems, block["hint"], pointer + "/hint", 2000, plain=True)
        if "element" not in block:
            problems.add("must provide an element", pointer + "/element")
        else:
            _element(problems, block["element"], pointer + "/element", action_ids)
    elif kind == "markdown":
        problems.max_len(block.get("text"), 12_000, pointer + "/text")


def check_blocks(blocks: Any, limit: int, pointer: str = "/blocks") -> list[str]:
    """Slack's errors for a list of blocks, without the "[ERROR] " prefix (empty when
    acceptable)."""
    problems = Problems()
    if not isinstance(blocks, list):
        problems.add("must be an array", pointer)
        return problems.errors
    problems.max_items(blocks, limit, pointer)
    block_ids: set[str] = set()
    for i, block in enumerate(blocks):
        _block(problems, block, f"{pointer}/{i}", block_ids)
    return problems.errors


def check_message_blocks(blocks: Any) -> list[str]:
    return check_blocks(blocks, MESSAGE_BLOCKS_MAX)


def check_view(view: Any) -> tuple[str | None, list[str]]:
    """(error name, response_metadata messages) for a view of views.open/push/update/publish;
    (None, []) if fine."""
    if not isinstance(view, dict):
        return "invalid_arguments", ["[ERROR] must be a view object [json-pointer:/view]"]
    if len(json.dumps(view)) > VIEW_BYTES_MAX:
        return "view_too_large", []
    problems = Problems()
    kind = view.get("type")
    if kind not in ("modal", "home"):
        problems.add("must be one of modal, home", "/view/type")
    if kind == "modal":
        _text_object(problems, view.get("title"), "/view/title", 24, plain=True)
        for key in ("submit", "close"):
            if key in view:
                _text_object(problems, view[key], f"/view/{key}", 24, plain=True)
        has_input = any(
            isinstance(b, dict) and b.get("type") == "input" for b in view.get("blocks", [])
        )
        if has_input and "submit" not in view:
            problems.add("must provide submit when the view has input blocks", "/view/submit")
    problems.max_len(view.get("private_metadata"), 3000, "/view/private_metadata")
    problems.max_len(view.get("callback_id"), 255, "/view/callback_id")
    problems.max_len(view.get("external_id"), 255, "/view/external_id")
    errors = problems.errors + check_blocks(view.get("blocks", []), VIEW_BLOCKS_MAX, "/view/blocks")
    if not errors:
        return None, []
    return "invalid_arguments", as_messages([f"{SCHEMA_MISMATCH} [json-pointer:/view]", *errors])


def with_generated_ids(blocks: list, new_id: Callable[[int], str]) -> list:
    """A copy of `blocks` as Slack stores them: a block without a `block_id` and an interactive
    element without an `action_id` are given generated ones (Block Kit reference: "If not
    specified, a block_id will be generated"), so payloads and stored messages always carry
    both. `new_id(n)` returns an n-character ID; IDs are unique within the message or view."""
    blocks = copy.deepcopy(blocks)
    taken_blocks = {b.get("block_id") for b in blocks if isinstance(b, dict)}

    def fresh(length: int, taken: set) -> str:
        while (candidate := new_id(length)) in taken:
            pass
        taken.add(candidate)
        return candidate

    for block in blocks:
        if not isinstance(block, dict):
            continue
        if not block.get("block_id"):
            block["block_id"] = fresh(3, taken_blocks)
        elements = [block.get("accessory"), block.get("element")]
        if block.get("type") == "actions" and isinstance(block.get("elements"), list):
            elements += block["elements"]
        interactive = [
            e for e in elements if isinstance(e, dict) and e.get("type") in INTERACTIVE_TYPES
        ]
        taken_actions = {e.get("action_id") for e in interactive}
        for element in interactive:
            if not element.get("action_id"):
                element["action_id"] = fresh(5, taken_actions)
    return blocks


# ---- rendering ------------------------------------------------------------------------------


@dataclass
class Button:
    """A button a person can click, numbered in reading order."""

    number: int
    block_id: str
    action_id: str
    text: str
    value: str | None = None
    url: str | None = None
    style: str | None = None
    confirm: dict | None = None
    element: dict = field(default_factory=dict)


@dataclass
class Rendered:
    text: str
    buttons: list[Button]


_LINK = re.compile(r"<([^<>|]+)(?:\|([^<>]*))?>")


def mrkdwn_to_plain(text: str, name_of: Callable[[str], str] | None = None) -> str:
    """Slack's escaped mrkdwn as a person reads it: mentions by name, links as 'label (url)'."""
    name_of = name_of or (lambda ref: ref)

    def link(match: re.Match) -> str:
        target, label = match.group(1), match.group(2)
        if target.startswith("@"):
            return "@" + (label or name_of(target[1:]))
        if target.startswith("#"):
            return "#" + (label or name_of(target[1:]))
        if target.startswith("!subteam^"):
            return label or "@" + target.split("^", 1)[1]
        if target.startswith("!"):
            return "@" + (label or target[1:])
        return f"{label} ({target})" if label else target

    return html.unescape(_LINK.sub(link, text))


def _plain(obj: Any, name_of: Callable[[str], str] | None) -> str:
    if isinstance(obj, dict):
        text = str(obj.get("text", ""))
        return mrkdwn_to_plain(text, name_of) if obj.get("type") == "mrkdwn" else text
    return "" if obj is None else str(obj)


def render(
    text: str | None,
    blocks: list | None,
    name_of: Callable[[str], str] | None = None,
    first: int = 1,
) -> Rendered:
    """A message as plain text lines, buttons numbered from `first`."""
    lines: list[str] = []
    buttons: list[Button] = []

    def button(element: dict, block_id: str) -> str:
        label = _plain(element.get("text"), name_of)
        number = first + len(buttons)
        buttons.append(
            Button(
                number=number,
                block_id=block_id,
                action_id=str(element.get("action_id", "")),
                text=label,
                value=element.get("value"),
                url=element.get("url"),
                style=element.get("style"),
                confirm=element.get("confirm"),
                element=element,
            )
        )
        return f"[{number}] {label}"

    def element_text(element: dict, block_id: str) -> str:
        kind = element.get("type")
        if kind == "button":
            return button(element, block_id)
        if kind == "image":
            return f"[image: {element.get('alt_text', '')}]"
        if kind in TEXT_OBJECT_TYPES:
            return _plain(element, name_of)
        placeholder = _plain(element.get("placeholder"), name_of)
        return f"[{kind}{': ' + placeholder if placeholder else ''}]"

    if not blocks:
        return Rendered(text=mrkdwn_to_plain(text or "", name_of), buttons=[])
    for block in blocks:
        if not isinstance(block, dict):
            continue
        kind = block.get("type")
        block_id = str(block.get("block_id", ""))
        if kind == "header":
            title = _plain(block.get("text"), name_of)
            lines += [title.upper(), "=" * min(len(title), 60)]
        elif kind == "section":
            if "text" in block:
                lines.append(_plain(block["text"], name_of))
            fields = [_plain(f, name_of) for f in block.get("fields", [])]
            for i in range(0, len(fields), 2):
                pair = fields[i : i + 2]
                lines.append("  " + "    ".join(p.replace("\n", " ") for p in pair))
            if "accessory" in block:
                lines.append("  " + element_text(block["accessory"], block_id))
        elif kind == "divider":
            lines.append("-" * 40)
        elif kind == "context":
            parts = [
                element_text(e, block_id) for e in block.get("elements", []) if isinstance(e, dict)
            ]
            lines.append("  · " + " · ".join(parts))
        elif kind == "actions":
            parts = [
                element_text(e, block_id) for e in block.get("elements", []) if isinstance(e, dict)
            ]
            lines.append("  " + "  ".join(parts))
        elif kind == "image":
            lines.append(f"[image: {block.get('alt_text', '')}]")
        elif kind == "input":
            label = _plain(block.get("label"), name_of)
            lines.append(f"{label}: {element_text(block.get('element', {}), block_id)}")
        elif kind == "markdown":
            lines.append(str(block.get("text", "")))
        elif kind == "rich_text":
            lines.append(_rich_text(block))
        else:
            lines.append(f"[{kind}]")
    return Rendered(text="\n".join(lines), buttons=buttons)


def _rich_text(block: dict) -> str:
    out: list[str] = []

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            if node.get("type") == "text":
                out.append(str(node.get("text", "")))
            for child in node.get("elements", []):
                walk(child)
        elif isinstance(node, list):
            for child in node:
                walk(child)

    walk(block)
    return "".join(out)
