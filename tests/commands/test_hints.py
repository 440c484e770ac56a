"""Commands named in hints: marked front-end neutrally, and as Slack spells them, valid `/dr`."""

from __future__ import annotations

import pytest

from bot.slack.blocks import refused
from bot.slack.hints import slack_text
from commands import messages
from commands.hints import Suggestion, render, span, suggestions
from commands.parse import MissingReason, ParseError, parse
from tests.commands.hint_templates import named, templates


def test_the_hint_templates_that_name_commands_are_all_found():
    """The templates iterated below include every hint known to name a command."""
    names = {name.rsplit(".", 1)[1] for name in templates()}
    assert {"SHOW_RUN", "STORAGE_DONE_HINT", "CANCEL_FIRST", "ESTATE_HELD"} <= names
    assert {"ESTATE_OWN_PAUSED", "ESTATE_OWN_STORAGE_STEP"} <= names
    assert {"POOL_BUSY", "RUN_DRIVEN_ELSEWHERE", "CANNOT_RESUME", "CANNOT_CANCEL"} <= names


def test_no_template_names_a_command_unmarked():
    """A bare `resume 3` or `show 3` in backticks (no prefix, no span) is gone from the texts."""
    for name, value in vars(messages).items():
        if isinstance(value, str):
            for verb in ("show", "resume", "abort", "cancel", "runs"):
                assert f"`{verb} {{" not in value, name
                assert f"({verb} {{" not in value, name


@pytest.mark.parametrize(("name", "suggestion"), named(), ids=lambda v: str(v))
def test_every_command_a_hint_names_parses_as_typed_in_slack(name: str, suggestion: Suggestion):
    """Each command a hint names, spelled for Slack and pasted after `/dr`, is a valid request."""
    spelled = slack_text(span(suggestion.command, *suggestion.args))
    assert spelled.startswith("`/dr "), spelled
    assert spelled.endswith("`"), spelled
    outcome = parse(spelled.strip("`").removeprefix("/dr "))
    assert not isinstance(outcome, ParseError | MissingReason), (name, spelled, outcome)
    assert outcome.command == suggestion.command, (name, spelled)


def test_a_span_round_trips_with_quoted_arguments():
    """An argument with a space survives marking and reading back (shell-like quoting)."""
    text = f"try {span('plan', 'failover', 'web shop')} now"
    assert list(suggestions(text)) == [Suggestion(command="plan", args=("failover", "web shop"))]
    assert render(text, lambda s: s.line.upper()) == "try PLAN FAILOVER 'WEB SHOP' now"


def test_a_slack_refusal_names_the_command_with_its_prefix():
    """The hint of a refusal reads `/dr show 7` in Slack, never the bare span or `show 7`."""
    message = refused("Run 7 is running.", messages.SHOW_RUN.format(run_id=7))
    assert "`/dr show 7`" in message.text
    assert "\u27e6" not in str(message.blocks)
    assert "\u27e6" not in message.text
