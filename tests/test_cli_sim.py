"""`drbot sim serve` from a shell: both simulators, the endpoints file, a usable config."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import XenAPI
from slack_sdk import WebClient

from bot.settings import load_settings
from sim.xapi.persist import STATE_FILE
from tests.sim_serve import sim_serve


@pytest.fixture
def served(tmp_path: Path):
    """`drbot sim serve` running the mini scenario, stopped with Ctrl-C at the end."""
    endpoints, config = tmp_path / "endpoints.json", tmp_path / "drbot.toml"
    with sim_serve(["--scenario", "mini"], endpoints, config) as (proc, _printed, endpoints_data):
        yield proc, endpoints_data, config


def test_serve_names_both_simulators_and_they_answer(served) -> None:
    """The endpoints file names the XAPI sites and the Slack double, and both answer."""
    _, endpoints, _ = served
    site = endpoints["sites"]["dr"]
    session = XenAPI.Session(site["coordinator"])
    session.xenapi.login_with_password(*site["users"]["pool-operator"], "1.0", "test")
    assert session.xenapi.pool.get_all()
    session.xenapi.session.logout()
    session("close")()
    slack = endpoints["slack"]
    auth = WebClient(token=slack["bot_token"], base_url=slack["api_url"]).auth_test()
    assert auth["user_id"] == slack["bot_user_id"]


def test_serve_writes_a_configuration_drbot_can_use(served) -> None:
    """The --config file drives the operator CLI against the simulators it names."""
    _, _, config = served
    settings = load_settings(config)
    assert [(p.protected, p.dr) for p in settings.engine.pairs] == [("prod", "dr")]
    proc = subprocess.run(
        [sys.executable, "-m", "bot.cli", "status", "--json", "--config", str(config)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    report = json.loads(proc.stdout)
    assert report["pairs"][0]["readiness"]["verdict"] in {"ready", "degraded", "not-ready"}


def test_serve_stops_cleanly_on_ctrl_c(served) -> None:
    """Ctrl-C stops both simulators and the command exits 0."""
    proc, _, _ = served
    proc.send_signal(signal.SIGINT)
    proc.communicate(timeout=60)
    assert proc.returncode == 0


def test_serve_refuses_an_unreadable_saved_world_with_the_fix(tmp_path: Path) -> None:
    """A corrupt --state-dir gives exit 2 and says to remove the directory, not a traceback."""
    state = tmp_path / "state"
    state.mkdir()
    (state / STATE_FILE).write_text("{ not json")
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "bot.cli",
            "sim",
            "serve",
            "--scenario",
            "mini",
            "--state-dir",
            str(state),
            "--endpoints",
            str(tmp_path / "e.json"),
            "--no-slack",
        ],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "COLUMNS": "200"},
        check=False,
    )
    assert proc.returncode == 2
    assert "Remove the directory" in proc.stdout
    assert "Traceback" not in proc.stdout + proc.stderr
