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


def test_demo_refuses_to_wipe_a_directory_it_did_not_make(tmp_path: Path) -> None:
    """`--state-dir` naming a directory with someone's files (no demo marker) exits 2 naming
    it, and every file is still there; an empty or demo-made directory is used."""
    from typer.testing import CliRunner

    from bot.cli import _mount, app
    from bot.demo import DEMO_MARKER, wipe_state_dir

    _mount()
    home = tmp_path / "home"
    home.mkdir()
    (home / "notes.txt").write_text("mine")
    result = CliRunner().invoke(app, ["demo", "--state-dir", str(home)])
    assert result.exit_code == 2
    assert "is not a directory the demo made" in result.output
    assert (home / "notes.txt").read_text() == "mine"
    made = tmp_path / "made"
    wipe_state_dir(made)
    (made / "drbot.db").write_text("old run")
    wipe_state_dir(made)
    assert sorted(p.name for p in made.iterdir()) == [DEMO_MARKER]
