"""Commands named in the service's hints, spelled as typed in Slack: `/dr resume 3`.

The service names them in the `/dr` grammar without the prefix (commands/hints.py); Slack takes
that grammar as it is, so only the prefix is added.
"""

from __future__ import annotations

from bot.slack import messages as m
from commands.hints import Suggestion, render


def spell(suggestion: Suggestion) -> str:
    """`/dr ...` as pasted in a Slack message box."""
    return m.COMMAND.format(line=suggestion.line)


def slack_text(text: str) -> str:
    """`text` with every command it names spelled for Slack."""
    return render(text, spell)
