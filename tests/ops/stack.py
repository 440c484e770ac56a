"""The bot as `drbot serve` composes it (bot/slack/serve.py), on sim/xapi and sim/slack:
settings, logging, metrics, the service, the Slack bot and the health server."""

from __future__ import annotations

import io
import logging
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from bot.demo import DemoWorld, simulators
from bot.health import HealthServer, observe, start_health
from bot.logs import configure_logging, secrets_of
from bot.metrics import Metrics
from bot.settings import Settings, load_settings
from bot.slack.app import make_client, slack_members
from bot.slack.serve import start_bot
from commands.service import Service
from commands.wiring import Wiring
from engine.clock import SystemClock


@dataclass
class Stack:
    world: DemoWorld
    settings: Settings
    metrics: Metrics
    health: HealthServer
    logs: io.StringIO

    def get(self, path: str) -> tuple[int, str]:
        """GET `path` from the health server: (status, body)."""
        url = f"http://127.0.0.1:{self.health.port}{path}"
        try:
            with urllib.request.urlopen(url, timeout=10) as resp:  # loopback
                return resp.status, resp.read().decode()
        except urllib.error.HTTPError as exc:
            return exc.code, exc.read().decode()


@contextmanager
def served_stack(state_dir: Path, *, level: str = "DEBUG") -> Iterator[Stack]:
    """Everything `drbot serve` starts, with logs (JSON, at `level`) kept in memory."""
    root = logging.getLogger()
    saved = (list(root.handlers), root.level)
    with simulators(state_dir, scenario="mini", speed=1000.0) as sims:
        settings = load_settings(sims.config_path)
        assert settings.slack is not None
        logs = io.StringIO()
        config = settings.observability.model_copy(
            update={"host": "127.0.0.1", "port": 0, "log_level": level}
        )
        configure_logging(config.logs, secrets_of(settings), stream=logs)
        clock = SystemClock()
        wiring = Wiring(settings.engine, settings.store_path, clock=clock)
        metrics = observe(wiring)
        client = make_client(settings.slack)
        service = Service(wiring, settings.policy, members=slack_members(client))
        serving = start_bot(settings.slack, service, clock=clock, reports=settings.reports)
        health = start_health(config, metrics, service, serving.connected, [serving.bot.client])
        assert health is not None
        world = DemoWorld(
            sims.slack,
            sims.xapi,
            sims.config_path,
            sims.endpoints_path,
            service=service,
            serving=serving,
        )
        from bot.demo import _wait_connected

        _wait_connected(sims.slack)
        try:
            yield Stack(world, settings, metrics, health, logs)
        finally:
            health.stop()
            serving.stop()
            service.close()
            for handler in list(root.handlers):
                root.removeHandler(handler)
            for handler in saved[0]:
                root.addHandler(handler)
            root.setLevel(saved[1])
