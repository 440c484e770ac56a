"""Commands named in what drbot says, spelled by each front end its own way.

A hint or refusal that tells a person what to type names the command front-end neutrally, as
a marked span: `⟦resume 3 --storage-done⟧` (the command in the grammar of commands/parse.py,
without a prefix). A front end turns each span into what works when pasted there: the Slack bot
into `/dr resume 3 --storage-done`, the CLI into `drbot resume 3 --storage-done` (and
`⟦show 3⟧` into `drbot runs show 3`, its own verb). Text without a span passes unchanged.

The marks are two characters nobody types in a command (U+27E6, U+27E7), so a span cannot be
confused with a quoted name, and `str.format` leaves them alone: templates in
commands/messages.py hold spans with fields inside (`⟦show {run_id}⟧`).
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Callable, Iterator

from pydantic import BaseModel, ConfigDict

OPEN = "\u27e6"
CLOSE = "\u27e7"
_SPAN = re.compile(f"{OPEN}([^{OPEN}{CLOSE}]*){CLOSE}")


class Suggestion(BaseModel):
    """A command a hint names: its name and arguments, as typed after the front end's prefix."""

    model_config = ConfigDict(frozen=True)

    command: str
    args: tuple[str, ...] = ()

    @property
    def line(self) -> str:
        """The command as one line, quoted where an argument needs it."""
        return shlex.join([self.command, *self.args])


def span(command: str, *args: object) -> str:
    """The marked span naming `command args...` (for a hint built in code, not a template)."""
    return f"{OPEN}{Suggestion(command=command, args=tuple(map(str, args))).line}{CLOSE}"


def suggestions(text: str) -> Iterator[Suggestion]:
    """Every command `text` names, in order."""
    for match in _SPAN.finditer(text):
        words = shlex.split(match.group(1))
        yield Suggestion(command=words[0], args=tuple(words[1:]))


def render(text: str, spell: Callable[[Suggestion], str]) -> str:
    """`text` with each span replaced by `spell(suggestion)` (the front end's own spelling)."""

    def one(match: re.Match[str]) -> str:
        words = shlex.split(match.group(1))
        return spell(Suggestion(command=words[0], args=tuple(words[1:])))

    return _SPAN.sub(one, text)
