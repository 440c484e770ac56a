"""docs/commands.md and docs/configuration.md are what `drbot docs` writes from the code today,
and they cover every /dr command, every drbot command and every configuration key."""

from __future__ import annotations

import re
from pathlib import Path

import typer.main

from bot import cli
from bot.cli_docs import commands_page, configuration_page, configuration_rows
from commands.messages import USAGE
from commands.parse import GRAMMAR

DOCS = Path(__file__).resolve().parents[2] / "docs"
REGENERATE = "out of date: run `drbot docs {page} > docs/{page}.md` and commit it"


def test_commands_page_is_current(app) -> None:
    """docs/commands.md is exactly what `drbot docs commands` prints now."""
    page = (DOCS / "commands.md").read_text()
    assert page == commands_page(typer.main.get_command(app)), REGENERATE.format(page="commands")


def test_configuration_page_is_current() -> None:
    """docs/configuration.md is exactly what `drbot docs configuration` prints now."""
    page = (DOCS / "configuration.md").read_text()
    assert page == configuration_page(), REGENERATE.format(page="configuration")


def test_every_command_is_documented(app) -> None:
    """Each /dr command of the parser and each command of the drbot application has its entry."""
    page = (DOCS / "commands.md").read_text()
    for name in GRAMMAR:
        assert f"`/dr {USAGE[name]}`" in page
    groups = [("drbot", typer.main.get_command(cli.app))]
    leaves = []
    while groups:
        prefix, group = groups.pop()
        for name, command in group.commands.items():
            if getattr(command, "commands", None):
                groups.append((f"{prefix} {name}", command))
            else:
                leaves.append(f"{prefix} {name}")
    assert "drbot store backup" in leaves
    for path in leaves:
        assert f"### `{path}`" in page


def test_every_configuration_key_is_described() -> None:
    """Every key of the settings models is in docs/configuration.md with a description."""
    page = (DOCS / "configuration.md").read_text()
    rows = configuration_rows()
    assert len(rows) > 80
    for key, _kind, _default, _bounds, description in rows:
        assert f"| `{key}` |" in page
        assert description, f"{key} has no description"


def test_files_the_setup_docs_name_exist() -> None:
    """Every deploy/ or docs/ file the README and docs/operations.md tell a person to use is
    in the repository."""
    root = DOCS.parent
    named = set()
    for page in (root / "README.md", DOCS / "operations.md"):
        named |= set(re.findall(r"`((?:deploy|docs)/[\w./-]+\.\w+)`", page.read_text()))
    assert "deploy/slack-app-manifest.yaml" in named
    assert [n for n in sorted(named) if not (root / n).exists()] == []


def test_readme_keeps_the_two_quick_start_commands() -> None:
    """The README's quick start still says exactly the demo and the test commands."""
    readme = (DOCS.parent / "README.md").read_text()
    assert (
        "    python3 -m venv .venv && .venv/bin/pip install -q -e . && .venv/bin/drbot demo\n"
        in readme
    )
    assert (
        "    python3 -m venv .venv && .venv/bin/pip install -q -e '.[test]' && "
        ".venv/bin/python -m pytest -q\n" in readme
    )
