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
import typer

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


def test_restore_refuses_while_serve_uses_the_store_and_works_once_it_stopped(
    app: typer.Typer, sims: Simulators, tmp_path: Path
) -> None:
    """`store restore --force` over the store a running `drbot serve` has open exits 2 naming
    that process and saying to stop the bot, and replaces nothing; once the bot stopped, the
    same restore puts the copy in place."""
    from bot.settings import load_settings
    from store import open_store
    from store.backup import backup
    from tests.ops.conftest import invoke

    store_path = load_settings(str(sims.config_path)).store_path
    with serving(sims) as child:
        wait_until(lambda: sims.slack.socket.links(), timeout=60)
        copy = tmp_path / "copy.db"
        backup(store_path, copy)
        with open_store(copy) as other:
            other.kv("restore-test")["from"] = "the copy"
        refused = invoke(app, "store", "restore", copy, "--config", sims.config_path, "--force")
        assert refused.exit_code == 2, refused.output
        assert f"in use by process {child.proc.pid}" in refused.output
        assert "stop that drbot first" in refused.output
        assert child.stop() == 0
    with open_store(store_path) as store:
        assert "from" not in store.kv("restore-test")
    done = invoke(app, "store", "restore", copy, "--config", sims.config_path, "--force")
    assert done.exit_code == 0, done.output
    with open_store(store_path) as store:
        assert store.kv("restore-test")["from"] == "the copy"
