"""`drbot demo` end to end, from a shell: the story told in Slack, both simulators and the
real bot in Socket Mode, in under a minute, readable at 80 columns."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest


@pytest.mark.slow
def test_demo_tells_the_whole_story_and_exits_zero(tmp_path: Path) -> None:
    """The demo's test failover cleans up, the failover needs two approvers (the requester
    and a viewer are refused), the failback succeeds; the conversation fits 80 columns."""
    state = tmp_path / "demo"
    proc = subprocess.run(
        [sys.executable, "-m", "bot.cli", "demo", "--state-dir", str(state)],
        capture_output=True,
        text=True,
        timeout=110,
        env={**os.environ, "COLUMNS": "80"},
        check=False,
    )
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out
    assert "Cleanup verified: nothing this test created is left at dr" in out
    assert "may not use `approve`" in out  # olivia, the requester, holds no approver role
    assert "Approved by @alex, @priya" in out
    assert "run 1 test-failover of all: " in out
    assert "run 2 failover of all: " in out
    assert "run 3 failback of all: succeeded" in out
    assert "[1] Approve" in out  # the pending failover, as alex's screen showed it
    assert max(len(line) for line in out.splitlines()) <= 80
    assert (state / "endpoints.json").exists()
    assert (state / "drbot.toml").exists()
