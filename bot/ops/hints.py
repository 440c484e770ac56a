"""Commands named in the service's hints, spelled as the CLI takes them.

The service names a command in the grammar of `/dr` (commands/hints.py); the CLI has its own
verbs for some (`show 3` is `drbot runs show 3`, `failover T` is `drbot run failover T`) and
none for others (cancel, approve ...: those are named as typed in Slack, saying so).
"""

from __future__ import annotations

import shlex
from typing import Any

from bot.ops import messages
from commands.hints import Suggestion, render
from commands.parse import KINDS

_SAME = frozenset({"resume", "abort", "plan", "status"})
"""Commands the CLI spells as `/dr` does (same name, arguments and options)."""


def argv(suggestion: Suggestion) -> list[str] | None:
    """The CLI's arguments for `suggestion` (after `drbot`), or None if the CLI lacks it."""
    command, args = suggestion.command, list(suggestion.args)
    if command == "show":
        return ["runs", "show", *args]
    if command == "runs":  # `/dr runs 5` counts with a positional, `drbot runs` with --limit
        return ["runs", *(w for a in args for w in (["--limit", a] if a.isdigit() else [a]))]
    if command in KINDS:
        return ["run", command, *args]
    if command in _SAME:
        return [command, *args]
    return None


def spell(suggestion: Suggestion) -> str:
    """`drbot ...` as pasted in a shell, or the Slack command where the CLI has none."""
    words = argv(suggestion)
    if words is None:
        return messages.SLACK_ONLY_COMMAND.format(line=suggestion.line, command=suggestion.command)
    return messages.COMMAND.format(line=shlex.join(words))


def cli_text(text: str) -> str:
    """`text` with every command it names spelled for the CLI."""
    return render(text, spell)


def cli_data(data: Any) -> Any:
    """JSON-ready `data` with every string's commands spelled for the CLI (for `--json`)."""
    if isinstance(data, str):
        return cli_text(data)
    if isinstance(data, dict):
        return {k: cli_data(v) for k, v in data.items()}
    if isinstance(data, list):
        return [cli_data(v) for v in data]
    return data
