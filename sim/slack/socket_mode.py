"""Socket Mode's WebSocket side (reference slack.md §4.2), on the `websockets` sync server.

An app calls apps.connections.open with its xapp token and gets a one-time
`ws://.../link/?ticket=...` URL. On connecting it receives
`{"type": "hello", "num_connections": n, ...}`, then envelopes
`{"envelope_id", "type": "slash_commands" | "interactive" | "events_api", "payload",
"accepts_response_payload", ...}`, each of which it acknowledges by sending back
`{"envelope_id": ..., "payload"?: {...}}`. Up to ten connections may be open; each envelope
goes to one of them (round robin here: Slack says not to assume a pattern). The server may
send `{"type": "disconnect", "reason": "refresh_requested" | "warning" | "link_disabled" |
"too_many_websockets"}`; a connection told to refresh gets no further envelopes, and one
told to go is closed when the app's replacement connection arrives. With
`Deadlines.socket_refresh` set, each connection is warned 10 s before it is asked to refresh.
"""

from __future__ import annotations

import itertools
import json
import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from http import HTTPStatus
from urllib.parse import parse_qs, urlparse

from websockets.exceptions import ConnectionClosed
from websockets.sync.server import Server, ServerConnection, serve

from sim.slack.world import World

MAX_CONNECTIONS = 10
log = logging.getLogger(__name__)


@dataclass
class Link:
    id: int
    connection: ServerConnection
    draining: bool = False
    told_at: float = 0.0  # when it was told to go (draining)
    envelopes: int = 0
    acks: int = 0
    opened_at: float = 0.0
    warned: bool = False
    lock: threading.Lock = field(default_factory=threading.Lock)

    def send(self, message: dict) -> bool:
        try:
            with self.lock:
                self.connection.send(json.dumps(message))
            return True
        except (ConnectionClosed, OSError, RuntimeError):
            return False


class SocketModeServer:
    def __init__(self, world: World, host: str, on_ack: Callable[[str, dict | None], None]) -> None:
        self._world = world
        self._host = host
        self._on_ack = on_ack
        self._links: dict[int, Link] = {}
        self._ids = itertools.count(1)
        self._turn = itertools.count()
        self._lock = threading.Lock()
        self._server: Server | None = None
        self._thread: threading.Thread | None = None
        self.opened = 0  # connections ever accepted (a reconnect shows as a new one)

    # ---- lifecycle --------------------------------------------------------------------------

    def start(self) -> str:
        self._server = serve(
            self._serve_link,
            self._host,
            0,
            process_request=self._check_ticket,
            ping_interval=None,  # the client pings; Slack does not need the server to
            logger=log,
        )
        port = self._server.socket.getsockname()[1]
        self._thread = threading.Thread(
            target=self._server.serve_forever, name="slack-sim-socket", daemon=True
        )
        self._thread.start()
        return f"ws://{self._host}:{port}"

    def stop(self) -> None:
        if self._server is not None:
            with self._lock:
                links = list(self._links.values())
            for link in links:
                try:
                    link.connection.close()
                except Exception:  # noqa: S110 - closing is best effort at shutdown
                    pass
            self._server.shutdown()
        if self._thread is not None:
            self._thread.join(timeout=5)

    # ---- connections ------------------------------------------------------------------------

    def _check_ticket(self, connection: ServerConnection, request):
        query = parse_qs(urlparse(request.path).query)
        ticket = query.get("ticket", [""])[0]
        with self._world.lock:
            valid = self._world.handles.redeem_ticket(
                ticket, self._world.now(), self._world.deadlines
            )
        if not urlparse(request.path).path.startswith("/link") or not valid:
            return connection.respond(
                HTTPStatus.UNAUTHORIZED, "invalid or used ticket: call apps.connections.open\n"
            )
        return None

    def _serve_link(self, connection: ServerConnection) -> None:
        with self._lock:
            # a connection told to go (refresh_requested, or the warning before it) is closed
            # once its replacement arrives, as Slack closes it shortly after
            replaced = [old for old in self._links.values() if old.draining or old.warned]
            for old in replaced:
                del self._links[old.id]
            full = len(self._links) >= MAX_CONNECTIONS
            link = Link(next(self._ids), connection, opened_at=self._world.now())
            if not full:
                self._links[link.id] = link
                self.opened += 1
            count = len(self._links)
        for old in replaced:
            old.connection.close()
        if full:
            link.send(
                {
                    "type": "disconnect",
                    "reason": "too_many_websockets",
                    "debug_info": {"host": "sim"},
                }
            )
            connection.close()
            return
        link.send(
            {
                "type": "hello",
                "num_connections": count,
                "debug_info": {
                    "host": f"applink-sim-{link.id}",
                    "build_number": 1,
                    "approximate_connection_time": 18060,
                },
                "connection_info": {"app_id": self._world.workspace.app.id},
            }
        )
        try:
            for raw in connection:
                self._receive(link, raw)
        except ConnectionClosed:
            pass
        finally:
            with self._lock:
                self._links.pop(link.id, None)

    def _receive(self, link: Link, raw: str | bytes) -> None:
        try:
            message = json.loads(raw)
        except (ValueError, TypeError):
            log.warning("socket mode: ignoring a frame that is not JSON: %r", raw[:200])
            return
        if isinstance(message, dict) and message.get("envelope_id"):
            link.acks += 1
            payload = message.get("payload")
            self._on_ack(
                str(message["envelope_id"]), payload if isinstance(payload, dict) else None
            )

    # ---- delivery ---------------------------------------------------------------------------

    def send_envelope(self, envelope: dict) -> int | None:
        """Send to one open connection, preferring those not told to go; its id, or None if
        there is none."""
        with self._lock:
            ready = [link for link in self._links.values() if not link.draining]
            ready = ready or list(self._links.values())
            if not ready:
                return None
            ready.sort(key=lambda link: link.id)
            link = ready[next(self._turn) % len(ready)]
            link.envelopes += 1
        return link.id if link.send(envelope) else None

    def disconnect(
        self, reason: str = "refresh_requested", link_id: int | None = None, *, close: bool = False
    ) -> int:
        """Tell connections to go away (all, or one), and with `close` hang up on them (as
        after `link_disabled`); returns how many were told."""
        with self._lock:
            targets = [
                link for link in self._links.values() if link_id is None or link.id == link_id
            ]
            for link in targets:
                if not link.draining:
                    link.draining, link.told_at = True, self._world.now()
        told = 0
        for link in targets:
            told += link.send(
                {
                    "type": "disconnect",
                    "reason": reason,
                    "debug_info": {"host": f"applink-sim-{link.id}"},
                }
            )
            if close:
                link.connection.close()
        return told

    def tick(self, now: float) -> None:
        """Act on what fell due by `now`: hang up on connections told to go long enough ago,
        send the periodic `warning` and `refresh_requested`."""
        deadlines = self._world.deadlines
        with self._lock:
            expired = [
                link
                for link in self._links.values()
                if link.draining and now - link.told_at >= deadlines.socket_drain
            ]
            for link in expired:
                del self._links[link.id]
        for link in expired:
            link.connection.close()
        if deadlines.socket_refresh is None:
            return
        with self._lock:
            links = [link for link in self._links.values() if not link.draining]
        for link in links:
            age = now - link.opened_at
            if (
                not link.warned
                and age >= deadlines.socket_refresh - deadlines.socket_refresh_warning
            ):
                link.warned = True
                link.send(
                    {"type": "disconnect", "reason": "warning", "debug_info": {"host": "sim"}}
                )
            if age >= deadlines.socket_refresh:
                self.disconnect("refresh_requested", link.id)

    def drop(self, link_id: int | None = None) -> None:
        """Close connections without a word (a network failure)."""
        with self._lock:
            targets = [
                link for link in self._links.values() if link_id is None or link.id == link_id
            ]
        for link in targets:
            link.connection.close()

    def links(self) -> list[dict]:
        with self._lock:
            return [
                {
                    "id": link.id,
                    "draining": link.draining,
                    "envelopes": link.envelopes,
                    "acks": link.acks,
                }
                for link in sorted(self._links.values(), key=lambda link: link.id)
            ]
