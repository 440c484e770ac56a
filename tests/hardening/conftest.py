"""Fixtures for the hardening tests: broken stores made the way disks and people break them, a
configuration that points the CLI at one, the CLI run in-process, and a way to act as a user
who may not write a file (tests run as root in CI, and root ignores file modes)."""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import traceback
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import typer
from typer.testing import CliRunner, Result

from store import open_store
from tests.engine.conftest import sim  # noqa: F401 - the full simulator, for runs under faults

# A pinned fingerprint needs no certificate at hand and keeps TLS verified (no warnings).
FINGERPRINT = "ab" * 32


def config_text(store_path: Path | str, **top: Any) -> str:
    """A complete, valid drbot configuration with its store at `store_path` (no pool is
    contacted by the commands that use it)."""
    lines = [f"store_path = {json.dumps(str(store_path))}"]
    lines += [f"{k} = {json.dumps(v)}" for k, v in top.items()]
    for name, site, address in (("prod", "primary", "192.0.2.10"), ("dr", "dr", "192.0.2.20")):
        lines += [
            f"[engine.pools.{name}]",
            f'site = "{site}"',
            f'urls = ["https://{address}"]',
            'username = "root"',
            'password = "secret"',
            f'fingerprint = "{FINGERPRINT}"',
        ]
    lines += ["[[engine.pairs]]", 'protected = "prod"', 'dr = "dr"']
    return "\n".join(lines) + "\n"


@pytest.fixture
def configure(tmp_path: Path) -> Callable[..., Path]:
    """Factory: write a configuration whose store is `store_path`; returns the file."""

    def write(store_path: Path | str, name: str = "drbot.toml", **top: Any) -> Path:
        path = tmp_path / name
        path.write_text(config_text(store_path, **top), encoding="utf-8")
        path.chmod(0o600)
        return path

    return write


def drbot_app() -> typer.Typer:
    """The `drbot` application with every command group mounted, as the console script has it."""
    from bot import cli

    if not cli.app.registered_commands:
        cli._mount()
    return cli.app


@pytest.fixture
def drbot() -> Callable[..., Result]:
    """Run `drbot ARGS...` in-process (typer's CliRunner), as the console script would."""
    app = drbot_app()

    def invoke(*args: object, env: dict[str, str] | None = None) -> Result:
        return CliRunner().invoke(app, [str(a) for a in args], env=env)

    return invoke


def refused(result: Result) -> str:
    """The one-line refusal of a CLI run that exited 2 without a traceback; fails otherwise."""
    assert result.exit_code == 2, (result.exit_code, result.output, result.exception)
    assert result.exception is None or isinstance(result.exception, SystemExit), "".join(
        traceback.format_exception(result.exception)
    )
    assert "Traceback" not in result.output
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) >= 1, result.output
    return " ".join(lines)


def make_store(path: Path, entries: int = 0) -> Path:
    """A real store at `path` with `entries` audit entries, closed (checkpointed) again."""
    with open_store(path) as store:
        for i in range(entries):
            store.audit.append("Filler", "U1", {"i": i, "pad": "x" * 200})
    return path


NOBODY = 65534


def as_unprivileged(fn: Callable[[], Any]) -> Any:
    """Run `fn` as a user without privileges and return what it returns (JSON-able).

    As root (CI), a forked child drops to uid/gid 65534 first, so file modes apply to it; as
    anyone else, `fn` runs here.
    """
    if os.geteuid() != 0:
        return fn()
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: never return into pytest
        code = 0
        try:
            os.close(read)
            os.setgroups([])
            os.setgid(NOBODY)
            os.setuid(NOBODY)
            answer = {"value": fn()}
        except BaseException as exc:
            answer = {"error": f"{type(exc).__name__}: {exc}"}
            code = 1
        with os.fdopen(write, "w") as out:
            json.dump(answer, out)
        os._exit(code)
    os.close(write)
    with os.fdopen(read) as inp:
        answer = json.load(inp)
    os.waitpid(pid, 0)
    if "error" in answer:
        pytest.fail(answer["error"])
    return answer["value"]


@pytest.fixture
def shared_dir() -> Iterator[Path]:
    """A directory an unprivileged user can enter (pytest's tmp_path is root-only)."""
    path = Path(tempfile.mkdtemp(prefix="drbot-hardening-"))
    path.chmod(0o755)
    yield path
    shutil.rmtree(path, ignore_errors=True)


def flat(output: str) -> str:
    """CLI output as one line of words: rich's boxes and wrapping taken out."""
    for char in "│╭╮╰╯─":
        output = output.replace(char, " ")
    return " ".join(output.split())
