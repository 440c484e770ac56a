"""Every template that names a command as a span (commands/messages.py and the engine's
refusals in engine/run_messages.py), formatted with sample values.

Shared by the tests that parse each named command in each front end (tests/commands/
test_hints.py for Slack's `/dr`, tests/test_cli_hints.py for `drbot`): a new hint naming a
command is covered by both without being listed anywhere.
"""

from __future__ import annotations

import string

from commands import messages
from commands.hints import OPEN, Suggestion, suggestions
from engine import messages as engine_messages
from engine import run_messages

SAMPLES = {"run_id": "7", "kind": "failover", "action": "resume"}
"""Sample values for the fields a command span holds; every other field gets a word."""


def _formatted(template: str) -> str:
    fields = {f for _, f, _, _ in string.Formatter().parse(template) if f}
    return template.format(**{f: SAMPLES.get(f, "pool-a") for f in fields})


def templates() -> dict[str, str]:
    """Name -> formatted text of every template that holds a command span."""
    found: dict[str, str] = {}
    for module in (messages, engine_messages, run_messages):
        where = module.__name__.rsplit(".", 1)[0]
        for name, value in vars(module).items():
            if name.startswith("_"):
                continue
            values = value.items() if isinstance(value, dict) else [(None, value)]
            for key, text in values:
                if isinstance(text, str) and OPEN in text:
                    label = name if key is None else f"{name}[{key}]"
                    found[f"{where}.{label}"] = _formatted(text)
    return found


def named() -> list[tuple[str, Suggestion]]:
    """(template name, command) for every command every template names."""
    return [(name, s) for name, text in templates().items() for s in suggestions(text)]
