"""The files written for the simulators, on the CLI side that starts them: a configuration
built from their endpoints (the engine no longer guesses it), owner-only, never over a
person's file unless forced; and the endpoints file, written once and whole when every
simulator is up."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from bot.settings import load_settings
from bot.simconfig import from_sim_endpoints, write_config, write_endpoints
from engine.errors import ConfigError

ENDPOINTS = {
    "control": "http://127.0.0.1:9100",
    "sites": {
        "primary": {
            "pools": ["prod"],
            "coordinator": "http://127.0.0.2:8080",
            "members": ["http://127.0.0.3:8080"],
            "users": {"pool-admin": ["admin", "admin-pw"]},
        },
        "dr": {
            "pools": ["dr"],
            "coordinator": "http://127.0.0.4:8080",
            "members": [],
            "users": {"pool-admin": ["admin", "dr-pw"]},
        },
    },
}


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_the_simulators_endpoints_make_a_configuration_with_plain_http_allowed():
    """Each site's pool is a pool (coordinator first), the DR-named site protects the other,
    the storage is the simulator's, and its loopback http:// is allowed as plain text."""
    config = from_sim_endpoints(ENDPOINTS)
    assert config.pools["prod"].urls == ["http://127.0.0.2:8080", "http://127.0.0.3:8080"]
    assert config.pools["prod"].allow_plaintext
    assert [(p.protected, p.dr) for p in config.pairs] == [("prod", "dr")]
    assert config.storage.control_url == "http://127.0.0.1:9100"
    assert config.pools["dr"].password.get_secret_value() == "dr-pw"


def test_endpoints_without_sites_are_refused():
    """An endpoints file without sites says how to get a proper one."""
    with pytest.raises(ConfigError, match="drbot sim serve"):
        from_sim_endpoints({"control": "http://x"})


def test_the_engine_no_longer_knows_the_simulators():
    """engine/config.py has no simulator endpoints reader any more (it lives in bot/)."""
    import engine.config

    assert not hasattr(engine.config, "from_sim_endpoints")
    assert not hasattr(engine.config, "_is_dr_site")


def test_the_written_configuration_is_owner_only_and_loads(tmp_path):
    """write_config makes a 0600 file (its new directory 0700) that drbot loads as written."""
    path = tmp_path / "new" / "drbot.toml"
    write_config(ENDPOINTS, path, Path("drbot.db"))
    assert _mode(path) == 0o600
    assert _mode(path.parent) == 0o700
    settings = load_settings(path)
    assert settings.engine.pools["dr"].password.get_secret_value() == "dr-pw"
    assert settings.store_path == (path.parent / "drbot.db").resolve()


def test_a_configuration_is_replaced_only_when_forced(tmp_path):
    """An existing file is refused and kept; with force it is replaced (still 0600)."""
    path = tmp_path / "drbot.toml"
    path.write_text("# mine\n")
    with pytest.raises(FileExistsError, match="--force"):
        write_config(ENDPOINTS, path, Path("drbot.db"))
    assert path.read_text() == "# mine\n"
    write_config(ENDPOINTS, path, Path("drbot.db"), force=True)
    assert "admin-pw" in path.read_text()
    assert _mode(path) == 0o600


def test_the_endpoints_file_replaces_an_old_one_whole(tmp_path):
    """write_endpoints leaves one 0600 file holding exactly the new endpoints, no temp file."""
    path = tmp_path / "endpoints.json"
    path.write_text("stale")
    write_endpoints({**ENDPOINTS, "slack": {"api_url": "http://127.0.0.5/api/"}}, path)
    assert json.loads(path.read_text())["slack"]["api_url"] == "http://127.0.0.5/api/"
    assert _mode(path) == 0o600
    assert sorted(p.name for p in tmp_path.iterdir()) == ["endpoints.json"]


def _serve(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "bot.cli", "sim", "serve", "--scenario", "mini", *args],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "COLUMNS": "200"},
        check=False,
    )


def test_no_endpoints_file_appears_until_every_simulator_is_up(tmp_path):
    """When the Slack double cannot start (a bad seed), `sim serve` exits 2 and has written no
    endpoints file: none that names the XAPI sites without Slack, not even for a moment."""
    seed = tmp_path / "seed.toml"
    seed.write_text("this is = not [a seed")
    endpoints = tmp_path / "endpoints.json"
    proc = _serve(tmp_path, "--endpoints", str(endpoints), "--slack-seed", str(seed))
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert "Traceback" not in proc.stdout + proc.stderr
    assert not endpoints.exists()
