"""`drbot serve` as a service manager runs it (a child process): JSON logs on stderr, the
health server on the configured port, ready once Slack and the pools answer, stopped by
SIGTERM with exit code 0; a port already taken does not stop the bot."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from bot.demo import Simulators, simulators, wait_until


@pytest.fixture(scope="module")
def sims(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Simulators]:
    with simulators(tmp_path_factory.mktemp("serve"), scenario="mini", speed=1000.0) as s:
        yield s


class Child:
    """`drbot serve` in a child process; its stderr lines kept as they come."""

    def __init__(self, config: Path, env: dict[str, str]) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "bot.cli", "serve", "--config", str(config)],
            env={**os.environ, "PYTHONUNBUFFERED": "1", **env},
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        self.lines: list[str] = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.proc.stderr is not None
        for line in self.proc.stderr:
            self.lines.append(line)

    def logged(self) -> list[dict]:
        return [json.loads(line) for line in list(self.lines) if line.startswith("{")]

    def stop(self) -> int:
        """SIGTERM, as a service manager stops it; the exit code."""
        self.proc.send_signal(signal.SIGTERM)
        code = self.proc.wait(timeout=60)
        self.close()
        return code

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=30)
        self._reader.join(timeout=10)
        if self.proc.stderr is not None:
            self.proc.stderr.close()


@contextmanager
def serving(sims: Simulators, **env: str) -> Iterator[Child]:
    child = Child(sims.config_path, env)
    try:
        yield child
    finally:
        child.close()


def _get(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=10) as resp:
            return resp.status, resp.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()


def test_serve_logs_json_serves_health_and_stops_on_sigterm(sims: Simulators) -> None:
    """With the port left to the system, serve logs where /healthz is; /healthz answers, /readyz
    turns 200 once Slack is connected and the pools answered, /metrics is Prometheus text; every
    stderr line is JSON; SIGTERM ends it with exit code 0."""
    with serving(
        sims, DRBOT_OBSERVABILITY__PORT="0", DRBOT_OBSERVABILITY__POOL_CHECK_SECONDS="1"
    ) as child:
        line = wait_until(lambda: next((e for e in child.logged() if "url" in e), None), timeout=60)
        url = line["url"]
        assert _get(url + "/healthz") == (200, "ok\n")
        wait_until(lambda: _get(url + "/readyz")[0] == 200, timeout=60)
        status, metrics = _get(url + "/metrics")
        assert status == 200
        assert "drbot_pool_reachable" in metrics
        assert child.stop() == 0
    assert child.lines
    for text in child.lines:
        if not text.startswith("{"):
            assert "Traceback" not in text
    assert {e["level"] for e in child.logged()} <= {"DEBUG", "INFO", "WARNING", "ERROR"}


def test_a_port_in_use_is_reported_and_the_bot_serves_on(sims: Simulators) -> None:
    """When the health port is taken, serve logs one error naming the port and the key to
    change, and goes on serving Slack (the bot matters more than its probes)."""
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with serving(sims, DRBOT_OBSERVABILITY__PORT=str(port)) as child:
            error = wait_until(
                lambda: next((e for e in child.logged() if e["level"] == "ERROR"), None),
                timeout=60,
            )
            assert f"127.0.0.1:{port}" in error["message"]
            assert "[observability] port" in error["message"]
            wait_until(lambda: sims.slack.socket.links(), timeout=60)
            assert child.proc.poll() is None
            assert child.stop() == 0
