"""Commands named in hints, spelled for the CLI: each is a command of the real `drbot` app
with valid arguments and options, or said to be Slack's where the CLI has no such command."""

from __future__ import annotations

import shlex

import pytest
import typer
import typer.core

from bot import cli
from bot.ops.hints import argv, cli_data, cli_text, spell
from commands import messages
from commands.hints import Suggestion
from commands.parse import KINDS
from tests.commands.hint_templates import named

# typer 0.29 bundles its own click: its errors and classes are reached through typer.
UsageError = typer.BadParameter.__mro__[1]
assert UsageError.__name__ == "UsageError"

SLACK_ONLY = {"cancel", "approve", "reject", "confirm-storage", "drill", "help", "audit"}
"""Commands of `/dr` the CLI lacks (or has otherwise); a hint naming one says `in Slack`."""


def _dry_parse(words: list[str]) -> typer.Context:
    """Parse `drbot WORDS` as the real app would, down to the leaf command, running nothing
    (make_context: unknown commands, options and bad values raise UsageError)."""
    if not cli.app.registered_commands:  # mounted once per process, as tests/ops does
        cli._mount()
    command = typer.main.get_command(cli.app)
    ctx = command.make_context("drbot", list(words), resilient_parsing=False)
    while isinstance(command, typer.core.TyperGroup):
        # A group keeps the subcommand's words apart (as Group.invoke reads them).
        rest = [*ctx._protected_args, *ctx.args]
        if not rest and command.invoke_without_command:  # `drbot runs`: the group's own callback
            break
        name, sub, rest = command.resolve_command(ctx, rest)
        assert sub is not None, words
        assert name is not None, words
        command, ctx = sub, sub.make_context(name, rest, parent=ctx)
    return ctx


@pytest.mark.parametrize(("name", "suggestion"), named(), ids=lambda v: str(v))
def test_every_command_a_hint_names_parses_in_the_cli(name: str, suggestion: Suggestion):
    """Spelled for the CLI, each named command is `drbot ...` that the real app parses, or
    (for a command only Slack has) the `/dr` line, saying so."""
    spelled = spell(suggestion)
    words = argv(suggestion)
    if words is None:
        assert suggestion.command in SLACK_ONLY, (name, suggestion)
        assert spelled.startswith("`/dr "), spelled
        assert "in Slack" in spelled, spelled
        return
    assert spelled == f"`drbot {shlex.join(words)}`"
    ctx = _dry_parse(words)
    assert ctx.command.callback is not None, (name, spelled)


@pytest.mark.parametrize("kind", KINDS[1:])
def test_the_break_glass_hint_parses_in_the_cli(kind: str):
    """The CLI-only hint of a refused failover/failback is a command the real app parses."""
    text = messages.BREAK_GLASS_HINT.format(kind=kind)
    _dry_parse(shlex.split(text.removeprefix("drbot ")))


def test_a_dry_parse_rejects_a_wrong_command():
    """The check above would catch a hint naming a CLI command that does not exist."""
    with pytest.raises(UsageError):
        _dry_parse(["show", "7"])
    with pytest.raises(UsageError):
        _dry_parse(["resume", "7", "--storage-finished"])


def test_cli_hints_read_with_the_cli_verbs():
    """`show N` reads `drbot runs show N`; a run kind reads `drbot run KIND ...`."""
    shown = cli_text(messages.SHOW_RUN.format(run_id=7))
    assert shown == "See where it is with `drbot runs show 7`."
    assert cli_text(messages.STORAGE_DONE_HINT.format(run_id=7)).endswith(
        "`drbot resume 7 --storage-done`."
    )
    assert spell(Suggestion(command="runs", args=("5", "--pool", "prod-a"))) == (
        "`drbot runs --limit 5 --pool prod-a`"
    )
    _dry_parse(["runs", "--limit", "5", "--pool", "prod-a"])
    assert spell(Suggestion(command="failover", args=("crm", "--planned"))) == (
        "`drbot run failover crm --planned`"
    )


def test_json_output_spells_commands_for_the_cli():
    """`--json` carries no span: nested strings are spelled as the CLI takes them."""
    held = messages.ESTATE_HELD.format(run_id=7, state="paused", pool="dr-a")
    data = cli_data({"items": [{"note": held, "vms": 3}]})
    assert "`drbot resume 7` / `drbot abort 7`" in data["items"][0]["note"]
    assert "\u27e6" not in str(data)
