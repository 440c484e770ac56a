"""Every command's `--help` shows the bracketed text its docstring and option help hold.

typer renders help as rich markup, where `[slack]` is a style tag and vanishes: `drbot serve
--help` once read 'HTTP mode with  mode = "http"'. A configuration section named in help text
is written `\\[slack]` (rich's escape) and must come out as `[slack]`."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import typer
from typer.testing import CliRunner

# Bracketed text as written in the source, escaped (`\[slack]`) or not.
BRACKETED = re.compile(r"\\?\[[^\]\s][^\]]*\]")


def _commands(command: Any, path: list[str]) -> Iterator[tuple[list[str], Any]]:
    yield path, command
    for name, sub in sorted(getattr(command, "commands", {}).items()):
        yield from _commands(sub, [*path, name])


def _bracketed(command: Any) -> set[str]:
    texts = [command.help or "", *(getattr(p, "help", None) or "" for p in command.params)]
    return {found.lstrip("\\") for text in texts for found in BRACKETED.findall(text)}


def test_no_bracketed_text_is_lost_from_any_commands_help(app: typer.Typer) -> None:
    """For every command and group, each `[...]` of its help text is in its rendered --help."""
    root = typer.main.get_command(app)
    checked, lost = 0, []
    for path, command in _commands(root, []):
        wanted = _bracketed(command)
        if not wanted:
            continue
        result = CliRunner().invoke(app, [*path, "--help"], env={"COLUMNS": "400"})
        assert result.exit_code == 0, result.output
        shown = " ".join(result.output.replace("│", " ").split())
        lost += [(" ".join(path), text) for text in wanted if text not in shown]
        checked += 1
    assert checked >= 1  # `serve` names [slack]
    assert lost == []
