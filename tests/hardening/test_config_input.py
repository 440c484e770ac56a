"""Input that used to end in a traceback, or be silently ignored, gets one line saying what to
fix and exit code 2: bad options, a missing or empty CA file, absurd timeouts, a run id SQLite
cannot hold, DRBOT_* values that do not parse, misspelt keys, and a pasted 10,000-character
target (echoed shortened)."""

from __future__ import annotations

import json
import os

import pytest

from tests.hardening.conftest import FINGERPRINT, config_text, flat, refused

PIN = f'fingerprint = "{FINGERPRINT}"'


@pytest.fixture(autouse=True)
def clean_env(monkeypatch):
    for name in list(os.environ):
        if name.startswith("DRBOT_"):
            monkeypatch.delenv(name)


def _edit(text: str, case: str, tmp_path) -> str:
    empty = tmp_path / "empty.pem"
    empty.write_text("not a certificate\n")
    edits = {
        "ca-missing": lambda t: t.replace(PIN, f'ca_file = "{tmp_path / "nope.pem"}"', 1),
        "ca-directory": lambda t: t.replace(PIN, f'ca_file = "{tmp_path}"', 1),
        "ca-empty": lambda t: t.replace(PIN, f'ca_file = "{empty}"', 1),
        "timeout-inf": lambda t: t + "[engine.timeouts]\ncall_seconds = inf\n",
        "timeout-nan": lambda t: t + "[engine.timeouts]\nconnect_seconds = nan\n",
        "timeout-absurd": lambda t: t + "[engine.timeouts]\ntask_seconds = 1e12\n",
        "lag-inf": lambda t: t + "[engine.storage]\nmax_lag_seconds = inf\n",
        "concurrency-absurd": lambda t: t + "[engine.concurrency]\nrecover = 100000\n",
        "top-key": lambda t: t.replace("store_path", "stor_path"),
        "pool-key": lambda t: t.replace('username = "root"', 'usrname = "root"', 1),
        "section-key": lambda t: t + "[engine.timeout]\ncall_seconds = 5\n",
        "audit-key": lambda t: t + "[audit]\nkey_fle = 'k'\n",
        "plain-http": lambda t: t.replace("https://192.0.2.10", "http://192.0.2.10"),
    }
    return edits[case](text)


SAYS = {
    "ca-missing": "nope.pem does not exist",
    "ca-directory": "cannot be read (Is a directory)",
    "ca-empty": "holds no PEM certificate",
    "timeout-inf": "engine.timeouts.call_seconds: got inf; expected a finite number",
    "timeout-nan": "engine.timeouts.connect_seconds: got nan; expected a finite number",
    "timeout-absurd": "engine.timeouts.task_seconds: got 1000000000000.0; expected a number of "
    "at most 86400",
    "lag-inf": "engine.storage.max_lag_seconds: got inf; expected a finite number",
    "concurrency-absurd": "engine.concurrency.recover: got 100000; expected a number of at most "
    "256",
    "top-key": "stor_path: unknown key; did you mean 'store_path'?",
    "pool-key": "engine.pools.prod.usrname: unknown key; did you mean 'username'?",
    "section-key": "engine.timeout: unknown key; did you mean 'timeouts'?",
    "audit-key": "audit.key_fle: unknown key; did you mean 'key_file'?",
    "plain-http": "is plain HTTP",
}


@pytest.mark.parametrize("case", sorted(SAYS))
def test_a_bad_configuration_is_one_line_exit_2(tmp_path, drbot, case):
    """Each bad configuration is refused by `drbot runs` in one line naming what to fix."""
    path = tmp_path / "drbot.toml"
    path.write_text(_edit(config_text(tmp_path / "drbot.db"), case, tmp_path))
    path.chmod(0o600)
    result = drbot("runs", "--config", path)
    line = refused(result)
    assert len(result.output.strip().splitlines()) == 1, result.output
    assert SAYS[case] in line


ENV = {
    "urls-as-a-string": (
        {"DRBOT_ENGINE__POOLS__PROD__URLS": "https://10.0.0.10"},
        "DRBOT_ENGINE__POOLS__PROD__URLS is not valid JSON",
    ),
    "malformed-json": ({"DRBOT_ENGINE": "{pools: 1"}, "DRBOT_ENGINE is not valid JSON"),
    "not-a-number": (
        {"DRBOT_ENGINE__TIMEOUTS__CALL_SECONDS": "soon"},
        "engine.timeouts.call_seconds: got 'soon'; expected a number",
    ),
    "not-a-table": ({"DRBOT_AUDIT": "[1, 2]"}, "audit: got [1, 2]; expected a table"),
}


@pytest.mark.parametrize("case", sorted(ENV))
def test_drbot_variables_that_do_not_parse_are_named(tmp_path, configure, drbot, case):
    """A DRBOT_* value that does not parse is refused in one line naming the variable or key."""
    env, says = ENV[case]
    result = drbot("runs", "--config", configure(tmp_path / "drbot.db"), env=env)
    line = refused(result)
    assert says in line


def test_a_bad_power_is_refused_with_the_choices(tmp_path, configure, drbot):
    """`--power bogus` is refused before anything is planned, listing the valid values."""
    result = drbot(
        "plan", "test-failover", "all", "--power", "bogus", "--config", configure(tmp_path / "d")
    )
    assert result.exit_code == 2
    assert "'bogus' is not one of 'start', 'start-paused', 'leave-off'" in flat(result.output)
    assert "Traceback" not in result.output


@pytest.mark.parametrize("run_id", ["99999999999999999999", "0", "-3"])
def test_a_run_id_sqlite_cannot_hold_is_refused(tmp_path, configure, drbot, run_id):
    """`drbot runs show` and `resume` refuse ids outside 1..2**63-1 with exit 2."""
    config = configure(tmp_path / "drbot.db")
    for command in (("runs", "show"), ("resume",), ("abort",)):
        result = drbot(*command, "--", run_id, "--config", config)
        assert result.exit_code == 2, (command, result.output, result.exception)
        assert "Invalid value for 'run_id'" in flat(result.output)


def test_a_pasted_long_target_is_echoed_shortened(sim, tmp_path, drbot):
    """A pasted 1,500- or 10,000-character target (or kind) is refused with its start and its
    length, or its length alone, never the whole paste."""
    world = sim("mini")
    lines = [f'store_path = "{tmp_path / "drbot.db"}"']
    for name, pool in world.config.pools.items():
        lines += [f"[engine.pools.{name}]", f"urls = {json.dumps(pool.urls)}"]
        lines += [f'username = "{pool.username}"', "allow_plaintext = true"]
        lines += [f'password = "{pool.password.get_secret_value()}"', f'site = "{pool.site}"']
    lines += ["[[engine.pairs]]", 'protected = "prod"', 'dr = "dr"']
    lines += ["[engine.storage]", 'adapter = "sim"', f'control_url = "{world.control_url}"']
    config = tmp_path / "drbot.toml"
    config.write_text("\n".join(lines) + "\n")
    config.chmod(0o600)
    for length in (1_500, 10_000):
        result = drbot("plan", "test-failover", "x" * length, "--config", config)
        line = refused(result)
        assert "x" * 100 not in line
        assert len(result.output) < 600
    assert "(1500 characters)" in refused(
        drbot("plan", "test-failover", "x" * 1_500, "--config", config)
    )
    kind = drbot("plan", "k" * 10_000, "all", "--config", config)
    assert "k" * 100 not in refused(kind)
    assert len(kind.output) < 600
