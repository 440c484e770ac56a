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


def test_serve_configuration_logs_in_as_the_pool_operator_account(served) -> None:
    """The written configuration uses each pool's pool-operator account, as the README tells
    an operator to set up a real pool, so that `config check` finds nothing to say about it."""
    _, endpoints, config = served
    settings = load_settings(config)
    for name, pool in settings.engine.pools.items():
        assert pool.username == endpoints["pools"][name]["users"]["pool-operator"][0]


def test_serve_says_what_it_serves_and_what_to_run_next_within_80_columns(tmp_path) -> None:
    """At 80 columns every line fits, both control APIs are named with their addresses, and
    the last lines say which commands to run next with the configuration just written."""
    endpoints, config = tmp_path / "endpoints.json", tmp_path / "drbot.toml"
    proc = subprocess.Popen(  # in its directory, with the file names the README uses
        [
            *(sys.executable, "-m", "bot.cli", "sim", "serve", "--scenario", "mini"),
            *("--speed", "1000", "--endpoints", endpoints.name, "--config", config.name),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        cwd=tmp_path,
        env={**os.environ, "COLUMNS": "80", "PYTHONPATH": str(Path(__file__).parents[1])},
    )
    assert proc.stdout is not None
    lines = []
    try:
        for line in proc.stdout:
            lines.append(line.rstrip("\n"))
            if "Ctrl-C here stops the simulators" in line:
                break
    finally:
        proc.send_signal(signal.SIGINT)
        proc.communicate(timeout=60)
    printed = "\n".join(lines)
    assert max(len(line) for line in lines) <= 80, printed
    assert "\u2026" not in printed  # no address cut short
    data = json.loads(endpoints.read_text())
    assert data["pools"]["prod"]["coordinator"] in printed
    assert data["control"] in printed
    assert data["slack"]["control"] in printed
    assert "drbot serve --config drbot.toml" in printed
    assert "drbot config check --config drbot.toml" in printed


def test_ctl_enable_metadata_stores_a_pools_metadata_on_its_replicated_srs(served) -> None:
    """`drbot sim ctl enable-metadata POOL` does what XenCenter's DR > Configure does: the
    pool's metadata lands on each of its replicated SRs (prod has it on Gold only)."""
    _, endpoints, _ = served
    proc = subprocess.run(
        [
            *(sys.executable, "-m", "bot.cli", "sim", "ctl", "--endpoints"),
            *(str(_endpoints_path(served)), "enable-metadata", "prod"),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "COLUMNS": "200"},
        check=False,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "Gold, Silver" in proc.stdout
    site = endpoints["pools"]["prod"]
    session = XenAPI.Session(site["coordinator"])
    session.xenapi.login_with_password(*site["users"]["read-only"], "1.0", "test")
    try:
        (pool,) = session.xenapi.pool.get_all()
        vdis = session.xenapi.pool.get_metadata_VDIs(pool)
        srs = {session.xenapi.SR.get_name_label(session.xenapi.VDI.get_SR(v)) for v in vdis}
    finally:
        session.xenapi.session.logout()
        session("close")()
    assert {"Gold", "Silver"} <= srs


def test_ctl_enable_metadata_refuses_what_it_cannot_do_saying_why(served) -> None:
    """An unknown pool is refused (exit 2) with the pools the endpoints file has; a DR pool
    with no mirror attached yet changes nothing and says so (exit 1)."""
    proc = subprocess.run(
        [
            *(sys.executable, "-m", "bot.cli", "sim", "ctl", "--endpoints"),
            *(str(_endpoints_path(served)), "enable-metadata", "nope"),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "COLUMNS": "200"},
        check=False,
    )
    assert proc.returncode == 2
    assert "prod, dr" in proc.stdout
    dr = subprocess.run(
        [
            *(sys.executable, "-m", "bot.cli", "sim", "ctl", "--endpoints"),
            *(str(_endpoints_path(served)), "enable-metadata", "dr"),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "COLUMNS": "200"},
        check=False,
    )
    assert dr.returncode == 1
    assert "no replicated SR attached yet" in dr.stdout


def _endpoints_path(served) -> Path:
    """The endpoints file the `served` fixture's simulator wrote (beside its configuration)."""
    return served[2].parent / "endpoints.json"
