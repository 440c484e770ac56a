"""`drbot demo --interactive` and `drbot demo --keep-running` from a shell: a person types
commands as a chosen user and clicks buttons by number; kept running, everything stays up
for other clients until the process is told to stop."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest

ENV = {**os.environ, "COLUMNS": "80"}


@pytest.mark.slow
def test_interactive_types_as_a_person_and_clicks_by_number(tmp_path: Path) -> None:
    """olivia asks for a test failover; `as bob` (nobody) is refused naming who there is;
    as alex, `click 1` approves it (button 1 of the newest message with buttons) and his
    screen shows it; each answer shows only what changed (the readiness message once, not
    again after every command); `quit` lets the run finish before everything stops."""
    typed = "\n".join(
        [
            "/dr status",
            "/dr test-failover all --disable-ha",
            "as bob",
            "as alex",
            "click 1",
            "/dr runs",
            "hello",
            "quit",
        ]
    )
    proc = subprocess.run(
        [sys.executable, "-m", "bot.cli", "demo", "--interactive", "--state-dir", str(tmp_path)],
        input=typed + "\n",
        capture_output=True,
        text=True,
        timeout=120,
        env=ENV,
        check=False,
    )
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out
    assert "DR READINESS" in out
    assert "[1] Approve" in out  # olivia's screen numbered the buttons
    assert "Approved by @alex" in out  # his click, seen on his screen at once
    assert "Traceback" not in out
    assert "Type `/dr ...`, `click N`" in out  # "hello" is not understood, and said so
    assert "No user 'bob' in this workspace; known: " in out
    assert out.count("DR READINESS") == 1
    assert "Simulators and bot stopped." in out


@pytest.mark.slow
def test_keep_running_serves_until_told_to_stop(tmp_path: Path) -> None:
    """The story shows each refused approver what only they saw; after it the simulators
    and the bot stay up (the endpoints file's Slack double answers); SIGTERM stops
    everything and the process exits 0."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "bot.cli", "demo", "--keep-running", "--state-dir", str(tmp_path)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=ENV,
    )
    try:
        assert proc.stdout is not None
        seen = []
        for line in proc.stdout:  # ends when the process does (a bounded story)
            seen.append(line)
            if line.startswith("Ctrl-C stops it."):
                break
        assert any("Everything keeps running" in line for line in seen), "".join(seen)
        told = "".join(seen)
        assert "drbot, to olivia only: " in told  # the requester's refusal, as she saw it
        assert "drbot, to victor only: " in told  # the viewer's, as he saw it
        endpoints = json.loads((tmp_path / "endpoints.json").read_text())
        control = endpoints["slack"]["control"] + "/workspace"
        with urllib.request.urlopen(control, timeout=10) as answer:
            assert json.loads(answer.read())["team"]
        proc.send_signal(signal.SIGTERM)
        rest, _ = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 0, rest
    assert "Simulators and bot stopped." in rest
