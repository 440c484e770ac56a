"""Fixtures of the operations tests: a configuration file whose store is a real SQLite file in
a temporary directory, and the `drbot` application as a person runs it."""

from __future__ import annotations

from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner, Result

from bot import cli


def write_config(directory: Path, store: str = "drbot.db") -> Path:
    """A minimal valid drbot.toml in `directory` (its pool is never contacted by the tests
    that use it: nothing listens on port 9 of loopback)."""
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / "drbot.toml"
    path.write_text(
        f'store_path = "{store}"\n\n'
        "[engine.pools.prod]\n"
        'urls = ["https://127.0.0.1:9"]\n'
        'username = "drbot"\n'
        'password = "pool-password-never-shown"\n'
    )
    path.chmod(0o600)
    return path


@pytest.fixture
def config(tmp_path: Path) -> Path:
    return write_config(tmp_path / "primary")


@pytest.fixture
def app() -> typer.Typer:
    """The whole `drbot` command line, as the console script mounts it (once per process)."""
    if not cli.app.registered_commands:
        cli._mount()
    return cli.app


def invoke(app: typer.Typer, *args: object, env: dict[str, str] | None = None) -> Result:
    """Run `drbot ARGS` in this process with `env` added to the environment."""
    return CliRunner().invoke(app, [str(a) for a in args], env=env, catch_exceptions=False)
