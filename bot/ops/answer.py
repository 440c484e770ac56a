"""From what a person typed to the service's answer: build the typed request (bad input exits
2 with the field's message), dispatch it as the terminal's user, and turn the answers that are
not what the command waits for (a refusal, a missing reason) into a message and exit code 2."""

from __future__ import annotations

from typing import Any, TypeVar

from pydantic import ValidationError

from bot.ops import messages
from bot.ops.hints import cli_text
from bot.ops.output import fail
from bot.ops.wiring import actor
from commands.requests import REQUEST, Request
from commands.results import Invalid, ReasonNeeded, Refused, Result
from commands.service import Service

R = TypeVar("R")


def request(command: str, **fields: Any) -> Request:
    """The typed request for `command`; invalid input exits 2 naming the field."""
    try:
        return REQUEST.validate_python({"command": command, **fields})
    except ValidationError as exc:
        error = exc.errors()[0]
        where = ".".join(str(p) for p in error["loc"][1:]) or command
        message = str(error["msg"]).removeprefix("Value error, ")
        raise fail(
            messages.BAD_INPUT.format(where=where.replace("_", "-"), message=message)
        ) from None


def ask(service: Service, req: Request, expected: type[R] | tuple[type[R], ...]) -> R:
    """Dispatch `req`; the answer if it is of `expected`, else its message and exit 2."""
    result = service.dispatch(req, actor())
    if isinstance(result, expected):
        return result
    raise refusal(result)


def refusal(result: Result) -> Exception:
    """The `typer.Exit` (code 2) after printing why the request was not done."""
    if isinstance(result, Refused):
        text = result.reason if not result.hint else f"{result.reason} {result.hint}"
        return fail(cli_text(text))
    if isinstance(result, ReasonNeeded):
        return fail(messages.REASON_NEEDED)
    if isinstance(result, Invalid):
        return fail(" ".join(p for p in (result.message, result.usage) if p))
    return fail(messages.UNEXPECTED.format(type=result.type))
