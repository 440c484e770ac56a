"""`drbot demo` end to end: both simulators, the operator commands and a drill, from a shell."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest


@pytest.mark.slow
def test_demo_runs_a_clean_drill_and_exits_zero(tmp_path: Path) -> None:
    """The demo's drill recovers the estate at the DR site, leaves nothing behind and exits 0."""
    state = tmp_path / "demo"
    env = {**os.environ, "COLUMNS": "200"}
    proc = subprocess.run(
        [sys.executable, "-m", "bot.cli", "demo", "--state-dir", str(state), "--speed", "100"],
        capture_output=True,
        text=True,
        timeout=300,
        env=env,
        check=False,
    )
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out
    assert "cleanup left nothing behind: yes" in out
    # The VM created inside the replication lag is the one the drill cannot recover.
    assert "pay-app-04: not-in-metadata" in out
    assert (state / "endpoints.json").exists()
    assert (state / "drbot.toml").exists()
