"""`/dr` text -> a typed request, or a `ParseError` that says what to type instead.

The grammar is the CLI's, with shell-like quoting: `test-failover "web shop" crm`, options
anywhere (`--planned`, `--pool dr`, `--pool=dr`), TARGET as one or more words or a comma list
(`web,crm`, `app:payments`), run and approval ids as numbers (`#12` too). `--reason` takes the
words up to the next option, so `/dr failover all --reason DC1 lost power` needs no quotes.
Slack's curly quotes count as quotes.

`parse` never raises: anything a person can type gives a request, a `ParseError` (message,
the command's usage line, the nearest valid command) or a `MissingReason` (a failover, failback
or rejection without a reason: the Slack bot then opens a modal asking for it).
"""

from __future__ import annotations

import difflib
import re
import shlex
from dataclasses import dataclass, field

from pydantic import BaseModel, ConfigDict, ValidationError

from commands import messages as m
from commands.requests import REQUEST, NeedsReason, Request
from engine.messages import shown

MAX_INPUT = 4000
SHOWN = 40  # characters of a person's input quoted back in a message
_MENTION = re.compile(r"^\s*<@[A-Z0-9]+(\|[^>]*)?>\s*")
_QUOTES = str.maketrans({"\u201c": '"', "\u201d": '"', "\u2018": "'", "\u2019": "'"})
KINDS = ("test-failover", "failover", "failback")
POWERS = ("start", "start-paused", "leave-off")


class ParseError(BaseModel):
    """Input that is not a valid command: what is wrong, the usage, the nearest command."""

    model_config = ConfigDict(frozen=True)

    message: str
    usage: str
    command: str | None = None
    suggestion: str | None = None


class MissingReason(BaseModel):
    """A valid request but for its reason (`request.reason` is None): ask for it."""

    model_config = ConfigDict(frozen=True)

    request: NeedsReason


ParseOutcome = Request | ParseError | MissingReason


@dataclass(frozen=True)
class _Grammar:
    """One command's words: positional slots in order (the last may take the rest), and its
    options: name -> (field, takes a value)."""

    positionals: tuple[str, ...] = ()
    rest: str | None = None  # the slot that takes every remaining word (joined by commas)
    optional: frozenset[str] = frozenset()
    options: dict[str, tuple[str, bool]] = field(default_factory=dict)


_POOL = {"--pool": ("pool", True)}
_POWER = {"--power": ("power", True)}
_REASON = {"--reason": ("reason", True)}
GRAMMAR: dict[str, _Grammar] = {
    "help": _Grammar(positionals=("topic",), optional=frozenset({"topic"})),
    "status": _Grammar(positionals=("pool",), optional=frozenset({"pool"})),
    "plan": _Grammar(
        positionals=("kind",),
        rest="target",
        options={
            **_POOL,
            **_POWER,
            "--planned": ("planned", False),
            "--disable-ha": ("disable_ha", False),
        },
    ),
    "test-failover": _Grammar(
        rest="target",
        options={**_POOL, **_POWER, **_REASON, "--disable-ha": ("disable_ha", False)},
    ),
    "failover": _Grammar(
        rest="target", options={**_POOL, **_POWER, **_REASON, "--planned": ("planned", False)}
    ),
    "failback": _Grammar(rest="target", options={**_POOL, **_POWER, **_REASON}),
    "runs": _Grammar(positionals=("limit",), optional=frozenset({"limit"}), options=dict(_POOL)),
    "show": _Grammar(positionals=("run_id",)),
    "cancel": _Grammar(positionals=("run_id",)),
    "resume": _Grammar(
        positionals=("run_id",), options={"--storage-done": ("storage_done", False)}
    ),
    "abort": _Grammar(positionals=("run_id",)),
    "drill": _Grammar(options=dict(_POOL)),
    "audit": _Grammar(positionals=("limit",), optional=frozenset({"limit"})),
    "approve": _Grammar(positionals=("approval_id",)),
    "reject": _Grammar(positionals=("approval_id",), options=dict(_REASON)),
    "confirm-storage": _Grammar(positionals=("run_id",)),
}
REASON_REQUIRED = frozenset({"failover", "failback", "reject"})
ALIASES = {"?": "help", "test": "test-failover", "testfailover": "test-failover"}
_NUMBERS = {"run_id": "RUN", "approval_id": "APPROVAL", "limit": "N"}


class _Refusal(Exception):
    """Internal: stops parsing with a message (never leaves this module)."""

    def __init__(self, message: str, suggestion: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.suggestion = suggestion


def usage(command: str | None) -> str:
    """The usage line of `command` (with the prefix), or how to get help."""
    if command in m.USAGE:
        return f"{m.PREFIX} {m.USAGE[command]}"
    return m.SEE_HELP


def nearest(word: str, choices: list[str] | tuple[str, ...]) -> str | None:
    """The closest of `choices` to `word` (a typo, a dropped dash), or None."""
    close = difflib.get_close_matches(word.lower(), list(choices), n=1, cutoff=0.6)
    return close[0] if close else None


def parse(text: str) -> ParseOutcome:
    """Turn what a person typed after `/dr` (or after mentioning the bot) into a request."""
    command: str | None = None
    try:
        words = _words(text)
        if not words:
            return REQUEST.validate_python({"command": "help"})
        command = _command(words[0])
        return _build(command, words[1:])
    except _Refusal as exc:
        return ParseError(
            message=exc.message, usage=usage(command), command=command, suggestion=exc.suggestion
        )


def _words(text: str) -> list[str]:
    if len(text) > MAX_INPUT:
        raise _Refusal(m.TOO_LONG.format(length=len(text), limit=MAX_INPUT))
    text = _MENTION.sub("", text.translate(_QUOTES), count=1)
    try:
        return shlex.split(text, comments=False, posix=True)
    except ValueError:
        raise _Refusal(m.UNCLOSED_QUOTE) from None


def _command(word: str) -> str:
    name = word.lower().lstrip("/")
    name = ALIASES.get(name, name)
    if name in GRAMMAR:
        return name
    suggestion = nearest(name, list(GRAMMAR))
    message = m.UNKNOWN_COMMAND.format(command=shown(word, SHOWN))
    if suggestion:
        message += " " + m.DID_YOU_MEAN.format(suggestion=suggestion)
    raise _Refusal(message + " " + m.SEE_HELP, suggestion)


def _build(command: str, words: list[str]) -> ParseOutcome:
    grammar = GRAMMAR[command]
    values: dict[str, object] = {"command": command}
    positional = _options(command, grammar, words, values)
    _positionals(command, grammar, positional, values)
    if "power" in values and values["power"] not in POWERS:
        raise _Refusal(
            m.BAD_POWER.format(value=shown(str(values["power"]), SHOWN)),
            nearest(str(values["power"]), POWERS),
        )
    if not str(values.get("reason") or "").strip():
        values.pop("reason", None)
    needs_reason = command in REASON_REQUIRED and "reason" not in values
    try:
        request = REQUEST.validate_python(values)
    except ValidationError as exc:
        raise _Refusal(_first_error(exc)) from None
    if needs_reason:
        return MissingReason.model_validate({"request": request})
    return request


def _options(
    command: str, grammar: _Grammar, words: list[str], values: dict[str, object]
) -> list[str]:
    """Take the options out of `words` into `values`; returns the positional words."""
    positional: list[str] = []
    i = 0
    while i < len(words):
        word = words[i]
        i += 1
        if word == "--":
            positional += words[i:]
            break
        if not word.startswith("--") or len(word) < 3:
            positional.append(word)
            continue
        name, eq, inline = word.partition("=")
        name = name.lower()
        if name == "--break-glass":
            raise _Refusal(m.BREAK_GLASS_CLI_ONLY)
        if name not in grammar.options:
            if not grammar.options:
                raise _Refusal(m.NO_OPTIONS.format(command=command))
            suggestion = nearest(name, list(grammar.options))
            message = m.UNKNOWN_OPTION.format(command=command, option=shown(name, SHOWN))
            if suggestion:
                message += " " + m.DID_YOU_MEAN.format(suggestion=suggestion)
            raise _Refusal(message, suggestion)
        field_name, takes_value = grammar.options[name]
        if field_name in values:
            raise _Refusal(m.OPTION_TWICE.format(option=name))
        if not takes_value:
            if eq:
                raise _Refusal(m.OPTION_NO_VALUE.format(option=name))
            values[field_name] = True
            continue
        if eq:
            value = inline
        elif field_name == "reason":
            # The reason is the words up to the next option: no quotes needed.
            end = i
            while end < len(words) and not words[end].startswith("--"):
                end += 1
            value, i = " ".join(words[i:end]), end
        elif i < len(words) and not words[i].startswith("--"):
            value, i = words[i], i + 1
        else:
            raise _Refusal(m.OPTION_NEEDS_VALUE.format(option=name))
        if not value and field_name != "reason":
            raise _Refusal(m.OPTION_NEEDS_VALUE.format(option=name))
        values[field_name] = value
    return positional


def _positionals(
    command: str, grammar: _Grammar, words: list[str], values: dict[str, object]
) -> None:
    words = list(words)
    for slot in grammar.positionals:
        if not words:
            if slot in grammar.optional:
                continue
            raise _Refusal(m.MISSING_ARGUMENT.format(command=command, what=_what(slot)))
        values[slot] = _value(slot, words.pop(0))
    if grammar.rest is not None:
        if not words:
            raise _Refusal(m.MISSING_ARGUMENT.format(command=command, what=_what(grammar.rest)))
        values[grammar.rest] = ",".join(words)
    elif words:
        raise _Refusal(
            m.EXTRA_ARGUMENTS.format(command=command, extra=shown(" ".join(words), SHOWN))
        )


def _what(slot: str) -> str:
    key = {"run_id": "run", "approval_id": "approval"}.get(slot, slot)
    return m.ARG_NAMES.get(key, key.upper())


def _value(slot: str, word: str) -> object:
    if slot == "kind":
        kind = word.lower()
        if kind not in KINDS:
            suggestion = nearest(kind, KINDS)
            message = m.UNKNOWN_KIND.format(kind=shown(word, SHOWN))
            if suggestion:
                message += " " + m.DID_YOU_MEAN.format(suggestion=suggestion)
            raise _Refusal(message, suggestion)
        return kind
    if slot in _NUMBERS:
        digits = word.lstrip("#")
        if not digits.isascii() or not digits.isdigit() or len(digits) > 12 or int(digits) < 1:
            raise _Refusal(m.NOT_A_NUMBER.format(what=_NUMBERS[slot], value=shown(word, SHOWN)))
        return int(digits)
    return word


def _first_error(exc: ValidationError) -> str:
    """The first validation error as a sentence (our validators' messages stand alone)."""
    error = exc.errors()[0]
    message = str(error.get("msg", ""))
    message = message.removeprefix("Value error, ")
    where = ".".join(str(p) for p in error.get("loc", ()) if not str(p)[0].isupper())
    field_name = where.rsplit(".", 1)[-1] if where else ""
    if error.get("type") == "value_error" or not field_name:
        return message
    return f"{field_name.replace('_', ' ')}: {message}"
