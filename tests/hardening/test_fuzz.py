"""Fuzzing the CLI's arguments and the configuration loader (hypothesis, thousands of cases):
nothing a person types or writes ends in a traceback; every refusal is exit code 2 with a
message; the loader either loads or raises ConfigError, never anything else.

The CLI runs in-process (typer's CliRunner), against a configuration whose pools refuse
connections at once (so planning is quick and nothing is ever run), in a scratch directory
(an `-o FILE` lands there). Examples are derandomized: CI sees the same cases every time.
"""

from __future__ import annotations

import contextlib
import json
import os
import traceback
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import tomli_w
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.settings import load_settings
from engine.errors import ConfigError
from tests.hardening.conftest import config_text, drbot_app

FUZZ = settings(
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)


@pytest.fixture(scope="module")
def scratch(tmp_path_factory) -> Path:
    """A directory with a configuration whose pools refuse connections (127.0.0.1:1 and :2)."""
    path = tmp_path_factory.mktemp("fuzz")
    text = config_text(path / "drbot.db")
    text = text.replace("192.0.2.10", "127.0.0.1:1").replace("192.0.2.20", "127.0.0.1:2")
    (path / "drbot.toml").write_text(text)
    (path / "drbot.toml").chmod(0o600)
    return path


@contextlib.contextmanager
def _inside(path: Path) -> Iterator[None]:
    """Run in `path`, with no DRBOT_* variable of the developer's shell leaking in."""
    saved = {k: v for k, v in os.environ.items() if k.startswith("DRBOT_")}
    for k in saved:
        del os.environ[k]
    try:
        with contextlib.chdir(path):
            yield
    finally:
        os.environ.update(saved)


# -- the CLI's arguments -----------------------------------------------------------------------

COMMANDS = [
    ["status"],
    ["plan"],
    ["run"],
    ["runs"],
    ["runs", "show"],
    ["resume"],
    ["abort"],
    ["audit"],
    ["audit", "verify"],
    ["audit", "export"],
]
WORDS = [
    "test-failover",
    "failover",
    "failback",
    "rollback",
    "all",
    "payments",
    "web-1,web-2",
    "a,,b",
    ",",
    "1",
    "0",
    "-1",
    "99999999999999999999",
    "1e3",
    "nan",
    "--power",
    "start",
    "start-paused",
    "leave-off",
    "bogus",
    "--pool",
    "prod",
    "dr",
    "--planned",
    "--disable-ha",
    "--break-glass",
    "--reason",
    "--json",
    "--limit",
    "-n",
    "--storage-done",
    "--format",
    "jsonl",
    "csv",
    "xml",
    "--output",
    "out.jsonl",
    "-o",
    "--help",
    "--config",
    "missing.toml",
    "",
    " ",
    "'",
    '"',
    "[red]",
    "\x00",
    "é",
    "x" * 2000,
]
# Free text, never an option of its own: an `-o` followed by a random path must not write
# outside the scratch directory.
TEXT = st.text(max_size=40).filter(lambda s: not s.startswith("-") and "/" not in s)


@st.composite
def argv(draw: Any) -> list[str]:
    command = draw(st.sampled_from(COMMANDS))
    rest = draw(st.lists(st.one_of(st.sampled_from(WORDS), TEXT), max_size=7))
    # An -o/--output is followed by a name inside the scratch directory.
    for i, word in enumerate(rest):
        if word in ("-o", "--output"):
            rest[i + 1 : i + 2] = ["out.file"]
    with_config = draw(st.booleans())
    return [*command, *rest, *(["--config", "drbot.toml"] if with_config else [])]


def _check_cli(args: list[str], code: int, output: str, exception: BaseException | None) -> None:
    """No traceback, a known exit code, and a refusal says something."""
    if exception is not None and not isinstance(exception, SystemExit):
        text = "".join(traceback.format_exception(exception))
        pytest.fail(f"drbot {args!r} raised:\n{text}")
    assert "Traceback" not in output, (args, output)
    assert code in (0, 1, 2), (args, code, output)
    if code == 2:
        assert output.strip(), (args, "refused without a word")


@settings(FUZZ, max_examples=300)
@given(args=argv())
def test_the_cli_never_crashes_on_any_arguments(scratch, args):
    """Any arguments to the operator and audit commands end in exit 0, 1 or 2 (with a
    message), never a traceback."""
    from typer.testing import CliRunner

    with _inside(scratch):
        result = CliRunner().invoke(drbot_app(), args)
    _check_cli(args, result.exit_code, result.output, result.exception)


# -- the configuration loader ------------------------------------------------------------------

KEYS = [
    "store_path",
    "stor_path",
    "engine",
    "audit",
    "policy",
    "reports",
    "pools",
    "pairs",
    "storage",
    "timeouts",
    "concurrency",
    "prod",
    "dr",
    "urls",
    "username",
    "password",
    "site",
    "ca_file",
    "fingerprint",
    "insecure",
    "allow_plaintext",
    "protected",
    "network_map",
    "adapter",
    "control_url",
    "luns",
    "call_seconds",
    "connect_seconds",
    "task_seconds",
    "recover",
    "key_file",
    "anchor_every",
]
SCALARS = st.one_of(
    st.booleans(),
    st.integers(min_value=-(2**63), max_value=2**63 - 1),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=30),
    st.sampled_from(
        ["https://10.0.0.1", "http://10.0.0.1", "sim", "manual", "prod", "dr", "ab" * 32]
    ),
)
VALUES = st.recursive(
    SCALARS,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4),
        st.dictionaries(st.one_of(st.sampled_from(KEYS), st.text(max_size=12)), inner, max_size=5),
    ),
    max_leaves=20,
)


def _valid() -> dict[str, Any]:
    import tomllib

    return tomllib.loads(config_text("drbot.db"))


@st.composite
def documents(draw: Any) -> dict[str, Any]:
    """A configuration: the valid one with random keys set, changed or removed at any depth."""
    doc = _valid()
    for _ in range(draw(st.integers(1, 4))):
        table = doc
        path = draw(st.lists(st.sampled_from(KEYS), min_size=0, max_size=3))
        for key in path:
            nxt = table.get(key)
            if not isinstance(nxt, dict):
                break
            table = nxt
        key = draw(st.one_of(st.sampled_from(KEYS), st.text(min_size=1, max_size=12)))
        if draw(st.booleans()) and key in table:
            del table[key]
        else:
            table[key] = draw(VALUES)
    return doc


def _load(scratch: Path, text: str | bytes, env: dict[str, str] | None = None) -> None:
    """Load the settings from `text`: they load, or ConfigError says why; nothing else."""
    path = scratch / "fuzzed.toml"
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text, encoding="utf-8")
    path.chmod(0o600)
    refusal = None
    with _inside(scratch):
        os.environ.update(env or {})
        try:
            load_settings(path)
        except ConfigError as exc:
            refusal = str(exc)
        finally:
            for k in env or {}:
                os.environ.pop(k, None)
    assert refusal is None or refusal.strip()


@settings(FUZZ, max_examples=600)
@given(doc=documents())
def test_the_loader_never_crashes_on_any_configuration(scratch, doc):
    """Any TOML configuration loads or is refused with ConfigError, never anything else."""
    try:
        text = tomli_w.dumps(doc)
    except (TypeError, ValueError):
        return  # not expressible in TOML (e.g. a list mixing tables and scalars)
    _load(scratch, text)


@settings(FUZZ, max_examples=600)
@given(raw=st.one_of(st.binary(max_size=200), st.text(max_size=200)))
def test_the_loader_never_crashes_on_any_file(scratch, raw):
    """Any bytes or text as the configuration file: loaded or refused, never a traceback."""
    _load(scratch, raw)


VARIABLES = [
    "DRBOT_STORE_PATH",
    "DRBOT_ENGINE",
    "DRBOT_ENGINE__POOLS",
    "DRBOT_ENGINE__POOLS__PROD",
    "DRBOT_ENGINE__POOLS__PROD__URLS",
    "DRBOT_ENGINE__POOLS__PROD__PASSWORD",
    "DRBOT_ENGINE__POOLS__PROD__INSECURE",
    "DRBOT_ENGINE__PAIRS",
    "DRBOT_ENGINE__TIMEOUTS__CALL_SECONDS",
    "DRBOT_ENGINE__CONCURRENCY__RECOVER",
    "DRBOT_ENGINE__STORAGE",
    "DRBOT_AUDIT",
    "DRBOT_AUDIT__ANCHOR_EVERY",
    "DRBOT_POLICY",
    "DRBOT_REPORTS",
    "DRBOT_ENGINE__NOPE",
]
ENV_VALUES = st.one_of(
    st.text(max_size=40).filter(lambda s: "\x00" not in s),
    VALUES.map(lambda v: json.dumps(v, allow_nan=True)),
)


@settings(FUZZ, max_examples=500)
@given(env=st.dictionaries(st.sampled_from(VARIABLES), ENV_VALUES, min_size=1, max_size=3))
def test_the_loader_never_crashes_on_any_drbot_variables(scratch, env):
    """Any DRBOT_* variables over a valid file: loaded or refused with ConfigError."""
    _load(scratch, config_text(scratch / "drbot.db"), env)
