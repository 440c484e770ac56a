"""Fixtures: a fresh Slack double per test (wall clock or a ManualClock), and the test Bolt
app connected to it over Socket Mode or HTTP mode."""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator
from socketserver import ThreadingMixIn
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

import pytest
from slack_bolt.adapter.socket_mode import SocketModeHandler
from slack_bolt.adapter.wsgi import SlackRequestHandler
from slack_sdk import WebClient

from sim.slack.clock import ManualClock
from sim.slack.server import SlackSim
from tests.sim_slack.bolt_app import make_app

OPS = "C0DROPS001"


@pytest.fixture
def sim() -> Iterator[SlackSim]:
    slack = SlackSim.start()
    yield slack
    slack.stop()


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture
def manual_sim(clock: ManualClock) -> Iterator[SlackSim]:
    slack = SlackSim.start(clock=clock)
    yield slack
    slack.stop()


def bot(slack: SlackSim) -> WebClient:
    """The app's bot-token WebClient, pointed at the double."""
    endpoints = slack.endpoints()
    return WebClient(token=endpoints["bot_token"], base_url=endpoints["api_url"])


@pytest.fixture
def raw_app(sim: SlackSim) -> Iterator[RawSocketApp]:
    """A bare Socket Mode app that acknowledges every envelope and keeps it."""
    raw = RawSocketApp(sim)
    raw.wait_frames(1)
    yield raw
    raw.close()


def connect_socket_mode(slack: SlackSim, retries: int = 0) -> SocketModeHandler:
    endpoints = slack.endpoints()
    app = make_app(endpoints, channel=OPS, retries=retries)
    handler = SocketModeHandler(app, endpoints["app_token"])
    handler.connect()
    wait_until(lambda: len(slack.socket.links()) >= 1)
    return handler


def wait_until(condition, timeout: float = 5.0) -> None:
    """Wait, with a bound, for something the app does in its own threads."""
    pause = threading.Event()
    waited = 0.0
    while not condition():
        if waited >= timeout:
            raise TimeoutError(f"condition not reached within {timeout}s")
        pause.wait(0.01)
        waited += 0.01


def close_socket_mode(slack: SlackSim, handler: SocketModeHandler) -> None:
    """Close Bolt's handler without waiting out its socket read and queue poll: once the
    client has marked itself closed, the sim drops the connection, which wakes the reader,
    and the client's threads finish by themselves."""
    closing = threading.Thread(target=handler.close, daemon=True)
    closing.start()
    wait_until(lambda: handler.client.closed)
    slack.socket.drop()


@pytest.fixture
def socket_app(sim: SlackSim) -> Iterator[SocketModeHandler]:
    handler = connect_socket_mode(sim)
    yield handler
    close_socket_mode(sim, handler)


class _ThreadingWSGIServer(ThreadingMixIn, WSGIServer):
    daemon_threads = True


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, *args) -> None:
        pass


@pytest.fixture
def http_app(sim: SlackSim) -> Iterator[str]:
    """The test app behind Bolt's WSGI adapter on loopback; the sim POSTs to it."""
    app = make_app(sim.endpoints(), channel=OPS)
    server = make_server(
        "127.0.0.1",
        0,
        SlackRequestHandler(app),
        server_class=_ThreadingWSGIServer,
        handler_class=_QuietHandler,
    )
    thread = threading.Thread(
        target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
    )
    thread.start()
    url = f"http://127.0.0.1:{server.server_port}/slack/events"
    sim.configure_delivery(socket_mode=False, request_url=url)
    yield url
    server.shutdown()
    server.server_close()


class RawSocketApp:
    """A bare Socket Mode client on the `websockets` sync client: opens a connection the way
    Slack documents (apps.connections.open, then the WebSocket), keeps every frame it gets,
    and acknowledges envelopes only if told to. Lets a test play an app that is slow."""

    def __init__(self, slack: SlackSim, *, ack: bool = True) -> None:
        from slack_sdk import WebClient
        from websockets.sync.client import connect

        endpoints = slack.endpoints()
        url = WebClient(base_url=endpoints["api_url"]).apps_connections_open(
            app_token=endpoints["app_token"]
        )["url"]
        self.ack = ack
        self.frames: list[dict] = []
        self._arrived = threading.Condition()
        self._stack = contextlib.ExitStack()  # websockets wants connect() as a context manager
        self.connection = self._stack.enter_context(connect(url))
        self._thread = threading.Thread(target=self._read, daemon=True)
        self._thread.start()

    def _read(self) -> None:
        import json

        from websockets.exceptions import ConnectionClosed

        try:
            for raw in self.connection:
                frame = json.loads(raw)
                with self._arrived:
                    self.frames.append(frame)
                    self._arrived.notify_all()
                if self.ack and frame.get("envelope_id"):
                    self.connection.send(json.dumps({"envelope_id": frame["envelope_id"]}))
        except ConnectionClosed:
            pass

    def wait_frames(self, count: int, timeout: float = 5.0) -> list[dict]:
        with self._arrived:
            if not self._arrived.wait_for(lambda: len(self.frames) >= count, timeout):
                raise TimeoutError(f"expected {count} frames, got {self.frames}")
            return list(self.frames)

    def envelopes(self) -> list[dict]:
        return [f for f in self.frames if f.get("envelope_id")]

    def close(self) -> None:
        self._stack.close()
        self._thread.join(timeout=5)
