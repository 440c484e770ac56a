"""`drbot serve --config FILE`: run the Slack bot until Ctrl-C.

Socket Mode (the default) needs no inbound traffic: Bolt's built-in Socket Mode client opens
the WebSocket with the app token, and reconnects by itself when the connection drops, goes
stale (no pong), or Slack asks it to refresh (`disconnect` frames); serve also watches the
connection and reconnects if the client gave up. HTTP mode serves Bolt's WSGI adapter on
`[slack.http]`; Bolt refuses requests whose signature is bad, missing or older than 5 minutes.

At start it marks runs whose process died `interrupted` and posts each in its thread with
Resume / Abort buttons; it never resumes one by itself. A pool that does not answer does not
stop it: clients connect on first use, and `status` says which site is lost.
"""

from __future__ import annotations

import logging
import signal
import threading
from collections.abc import Callable
from pathlib import Path
from socketserver import ThreadingMixIn
from typing import Annotated
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

import typer

from bot.reports.config import ReportsConfig
from bot.reports.service import RunningReports, start_reports
from bot.slack import messages as m
from bot.slack.app import SlackBot, make_client, slack_members
from bot.slack.config import SlackConfig
from commands.service import Service
from engine.clock import Clock

log = logging.getLogger(__name__)

WATCH_EVERY = 5.0  # real seconds between looks at the Socket Mode connection


class _ThreadingWSGIServer(ThreadingMixIn, WSGIServer):
    daemon_threads = True


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        log.debug(format, *args)


class Serving:
    """A running bot: `stop()` ends it. Built by `start_bot` (used by serve, the demo, tests)."""

    def __init__(self, bot: SlackBot, stop: Callable[[], None]) -> None:
        self.bot = bot
        self._stop = stop
        self.url: str | None = None  # HTTP mode: the request URL
        self.reports: RunningReports | None = None  # the scheduled reports (bot/reports)
        self.connected: Callable[[], bool] = lambda: True  # /readyz: Socket Mode is up

    def stop(self) -> None:
        if self.reports is not None:
            self.reports.shutdown()
        self._stop()


def start_bot(
    config: SlackConfig,
    service: Service,
    *,
    clock: Clock,
    reports: ReportsConfig | None = None,
) -> Serving:
    """Start the bot over `service` in the configured mode, and the scheduled `reports`
    (summaries, alerts, drills, digests: bot/reports) when given; returns at once."""
    bot = SlackBot(config, service, clock=clock)
    bot.start()
    bot.announce_interrupted(bot.service.interrupted_at_start())
    serving = _serve_http(bot, config) if config.mode == "http" else _serve_socket(bot, config)
    if reports is not None:
        reports = reports.with_channels(config.channels.reports, config.channels.audit)
        serving.reports = start_reports(service.wiring, bot.client, reports, clock)
        if serving.reports is not None:
            bot.next_drill = serving.reports.next_drill
            bot.schedule_lines = serving.reports.status_lines
    return serving


def _serve_socket(bot: SlackBot, config: SlackConfig) -> Serving:
    from slack_bolt.adapter.socket_mode import SocketModeHandler

    assert config.app_token is not None
    handler = SocketModeHandler(bot.app, config.app_token.get_secret_value())
    handler.connect()
    stopping = threading.Event()

    def watch() -> None:
        # The client reconnects by itself; this covers the case where it stopped trying.
        while not stopping.wait(WATCH_EVERY):
            try:
                if not handler.client.is_connected():
                    log.warning("Socket Mode connection lost; reconnecting")
                    handler.client.connect_to_new_endpoint(force=True)
            except Exception:
                log.exception("Socket Mode reconnect failed; will retry")

    watcher = threading.Thread(target=watch, name="drbot-socket-watch", daemon=True)
    watcher.start()

    def stop() -> None:
        stopping.set()
        closing = threading.Thread(target=handler.close, daemon=True)
        closing.start()
        closing.join(timeout=5)
        bot.stop()

    serving = Serving(bot, stop)
    serving.connected = handler.client.is_connected
    return serving


def _serve_http(bot: SlackBot, config: SlackConfig) -> Serving:
    from slack_bolt.adapter.wsgi import SlackRequestHandler

    server = make_server(
        config.http.host,
        config.http.port,
        SlackRequestHandler(bot.app),
        server_class=_ThreadingWSGIServer,
        handler_class=_QuietHandler,
    )
    thread = threading.Thread(
        target=server.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True
    )
    thread.start()

    def stop() -> None:
        server.shutdown()
        server.server_close()
        bot.stop()

    serving = Serving(bot, stop)
    serving.url = f"http://{config.http.host}:{server.server_port}{config.http.path}"
    return serving


def serve(
    config: Annotated[
        Path | None,
        typer.Option("--config", help="drbot.toml (else DRBOT_CONFIG, else ./drbot.toml)."),
    ] = None,
) -> None:
    """Run the Slack bot (Socket Mode by default; HTTP mode with \\[slack] mode = "http")."""
    from bot.health import observe, start_health
    from bot.logs import configure_logging, secrets_of
    from bot.ops.output import console, fail
    from bot.settings import config_path, load_settings
    from commands.wiring import Wiring
    from engine.clock import SystemClock
    from engine.errors import DRError
    from store import StoreError

    # Handlers first: a service manager may stop the bot while it is still starting, and a
    # SIGTERM then must end it cleanly (exit 0) once it is up, not kill it half-started.
    done = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: done.set())
    try:
        settings = load_settings(config)
    except DRError as exc:
        raise fail(str(exc)) from None
    configure_logging(settings.observability.logs, secrets_of(settings))  # bot/logs.py
    if settings.slack is None:
        raise fail(m.NO_SLACK_SECTION.format(path=config_path(config)))
    missing = settings.slack.ready()
    if missing:
        raise fail(" ".join(missing))
    clock = SystemClock()
    try:
        client = make_client(settings.slack)
        client.auth_test()
    except Exception as exc:
        raise fail(m.SLACK_UNREACHABLE.format(error=exc)) from None
    try:
        wiring = Wiring(settings.engine, settings.store_path, clock=clock)
    except (DRError, StoreError) as exc:
        raise fail(str(exc)) from None
    metrics = observe(wiring)  # bot/health.py: before the first XAPI call
    service = Service(wiring, settings.policy, members=slack_members(client))
    serving = start_bot(settings.slack, service, clock=clock, reports=settings.reports)
    health = start_health(
        settings.observability, metrics, service, serving.connected, [serving.bot.client, client]
    )
    if settings.slack.mode == "http":
        console.print(
            m.SERVING_HTTP.format(
                host=settings.slack.http.host,
                port=settings.slack.http.port,
                path=settings.slack.http.path,
            )
        )
    else:
        console.print(m.SERVING_SOCKET)
    done.wait()
    if health is not None:
        health.stop()
    serving.stop()
    service.close()
    console.print(m.STOPPED)
