"""Where the CLI writes: rich consoles for people, plain JSON for scripts, and refusals."""

from __future__ import annotations

import contextlib
import json
import sys
from collections.abc import Iterator
from typing import Any

import typer
from rich.console import Console

console = Console()
err = Console(stderr=True, soft_wrap=True)


def fail(message: str, code: int = 2) -> typer.Exit:
    """Print a refusal on stderr; returns the `typer.Exit` to raise (exit code 2 by default)."""
    # Not markup: messages quote config sections such as [engine], which rich would eat.
    err.print(message, style="red", markup=False)
    return typer.Exit(code)


def counted(count: int, noun: str, plural: str | None = None) -> str:
    """`1 run`, `2 runs`: a count with its noun in the right number (`plural` when not +s)."""
    return f"{count} {noun if count == 1 else plural or noun + 's'}"


def dump(data: Any) -> None:
    """Print `data` as JSON, each command a hint names spelled for the CLI (bot/ops/hints.py)."""
    # Imported here: every command group imports this module, and commands/ only when it runs.
    from bot.ops.hints import cli_data

    sys.stdout.write(json.dumps(cli_data(data), indent=2, sort_keys=True, default=str) + "\n")


@contextlib.contextmanager
def terminal_width(columns: int) -> Iterator[None]:
    """Print as if the terminal were `columns` wide (tests; scripts that capture the output)."""
    saved = console._width, err._width  # rich keeps None for "ask the terminal"
    console.width = err.width = columns
    try:
        yield
    finally:
        console._width, err._width = saved
