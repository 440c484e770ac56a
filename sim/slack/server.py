"""The Slack double as one object: `SlackSim.start()` serves the Web API, upload URLs,
response_urls, file downloads and the control endpoint over HTTP, and Socket Mode over a
WebSocket, all on loopback with OS-chosen ports; `.endpoints()` says where; `.stop()` ends it.

    sim = SlackSim.start()                       # default drbot seed, wall clock
    sim = SlackSim.start(seed="my.toml", clock=ManualClock())
    WebClient(token=sim.endpoints()["bot_token"], base_url=sim.endpoints()["api_url"])
    sim.person("olivia").command("/dr", "status", channel="dr-ops")
"""

from __future__ import annotations

import json
import logging
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from sim.slack import control, messages, responses, webapi
from sim.slack.actors import ActorError, Person
from sim.slack.clock import Clock, SystemClock
from sim.slack.delivery import Dispatcher
from sim.slack.handles import Deadlines
from sim.slack.record import Record
from sim.slack.socket_mode import SocketModeServer
from sim.slack.workspace import Workspace
from sim.slack.world import World

log = logging.getLogger(__name__)


class SlackSim:
    def __init__(self, world: World, host: str, port: int) -> None:
        self.world = world
        self.dispatcher = Dispatcher(world)
        self.socket = SocketModeServer(world, host, self.dispatcher.acknowledge)
        self._http = _HttpServer((host, port), _handler_for(self))
        self._http_thread = threading.Thread(
            target=self._http.serve_forever,
            kwargs={"poll_interval": 0.05},  # shutdown() waits up to one poll
            name="slack-sim-http",
            daemon=True,
        )
        self._stopped = False
        bound_host, bound_port = self._http.server_address[:2]
        world.base_url = f"http://{bound_host!s}:{bound_port}/"

    @classmethod
    def start(
        cls,
        seed: str | Path | dict | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        clock: Clock | None = None,
        deadlines: Deadlines | None = None,
    ) -> SlackSim:
        """Load the seed (None: drbot's default), bind, and serve in background threads."""
        world = World(Workspace.load(seed), clock or SystemClock(), deadlines or Deadlines())
        sim = cls(world, host, port)
        world.socket_url = sim.socket.start()
        sim.dispatcher.start(sim.socket)
        sim._http_thread.start()
        return sim

    def stop(self) -> None:
        """Close every listener; safe to call twice."""
        if self._stopped:
            return
        self._stopped = True
        self.dispatcher.stop()
        self.socket.stop()
        self._http.shutdown()
        self._http.server_close()
        self._http_thread.join(timeout=5)

    def __enter__(self) -> SlackSim:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # ---- what callers need -----------------------------------------------------------------

    def endpoints(self) -> dict[str, Any]:
        """The `slack` section of the endpoints file."""
        ws = self.world.workspace
        people, channels, groups = ws.names()
        return {
            "api_url": f"{self.world.base_url}api/",
            "bot_token": ws.app.bot_token,
            "app_token": ws.app.app_token,
            "signing_secret": ws.app.signing_secret,
            "users": people,
            "channels": channels,
            "usergroups": groups,
            "team_id": ws.team_id,
            "app_id": ws.app.id,
            "bot_user_id": ws.app.bot_user_id,
            "control": f"{self.world.base_url}control",
        }

    @property
    def record(self) -> Record:
        return self.world.record

    @property
    def workspace(self) -> Workspace:
        return self.world.workspace

    def calls(self, method: str | None = None) -> list[webapi.ApiCall]:
        """The Web API requests the app made (of one method, or all), in order."""
        return [c for c in list(self.world.calls) if method is None or c.method == method]

    def person(self, ref: str) -> Person:
        """Act as a person, by name or user ID."""
        user = self.world.workspace.user(ref)
        if user is None or user.is_bot:
            known = ", ".join(
                sorted(u.name for u in self.world.workspace.users.values() if not u.is_bot)
            )
            raise ActorError(messages.UNKNOWN_USER.format(ref=ref, known=known))
        return Person(self.world, self.dispatcher, user)

    def configure_delivery(
        self,
        *,
        socket_mode: bool | None = None,
        request_url: str | None = None,
        clock_skew: float | None = None,
    ) -> None:
        """Switch between Socket Mode and HTTP mode (a request URL), as in the app's settings.
        Turning Socket Mode off tells open connections `disconnect` / `link_disabled`, as Slack
        does. `clock_skew` shifts the timestamp HTTP-mode requests are signed with (seconds;
        beyond 300 either way Bolt must refuse them)."""
        app = self.world.workspace.app
        with self.world.lock:
            was_socket_mode = app.socket_mode
            if request_url is not None:
                app.request_url = request_url
            if socket_mode is not None:
                app.socket_mode = bool(socket_mode)
            if clock_skew is not None:
                self.world.request_clock_skew = float(clock_skew)
        if was_socket_mode and not app.socket_mode:
            self.socket.disconnect("link_disabled", close=True)

    def describe(self) -> dict[str, Any]:
        ws = self.world.workspace
        now = self.world.now()
        return {
            "team": {"id": ws.team_id, "name": ws.team_name, "domain": ws.domain, "plan": ws.plan},
            "app": {
                "id": ws.app.id,
                "bot_user_id": ws.app.bot_user_id,
                "scopes": sorted(ws.app.scopes),
                "socket_mode": ws.app.socket_mode,
                "request_url": ws.app.request_url,
            },
            "users": [u.to_api(ws.team_id, now) for u in ws.users.values()],
            "usergroups": [g.to_api(ws.team_id, True) for g in ws.groups.values()],
            "channels": [
                {**c.to_api(now, ws.app.bot_user_id), "members": c.members}
                for c in ws.channels.values()
            ],
        }


class _HttpServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = False


def _handler_for(sim: SlackSim) -> type[BaseHTTPRequestHandler]:
    world = sim.world

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        server_version = "SlackSim/1"

        def log_message(self, format: str, *args: Any) -> None:
            log.debug("%s %s", self.address_string(), format % args)

        def _body(self) -> bytes:
            length = int(self.headers.get("Content-Length") or 0)
            return self.rfile.read(length) if length else b""

        def _send(
            self,
            status: int,
            body: Any,
            headers: dict[str, str] | None = None,
            content_type: str = "application/json; charset=utf-8",
        ) -> None:
            raw = (
                body
                if isinstance(body, bytes)
                else (body.encode() if isinstance(body, str) else json.dumps(body).encode())
            )
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(raw)))
            for name, value in (headers or {}).items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(raw)

        def do_GET(self) -> None:
            self._dispatch("GET")

        def do_POST(self) -> None:
            self._dispatch("POST")

        def _dispatch(self, verb: str) -> None:
            try:
                self._route(verb)
            except Exception:  # a bug in the sim must not kill the server thread
                log.exception("slack sim: request %s %s failed", verb, self.path)
                self._send(500, {"ok": False, "error": "internal_error"})

        def _route(self, verb: str) -> None:
            parts = urlsplit(self.path)
            path, query = parts.path, parts.query
            body = self._body()
            if path.startswith("/api/"):
                headers = {k.lower(): v for k, v in self.headers.items()}
                status, extra, answer = webapi.handle(world, path[5:], headers, query, body)
                self._send(status, answer, extra)
            elif path.startswith("/upload/v1/") and verb == "POST":
                status, text = webapi.receive_upload(world, path[len("/upload/v1/") :], body)
                self._send(status, text, content_type="text/plain; charset=utf-8")
            elif path.startswith(("/hooks/commands/", "/hooks/actions/")) and verb == "POST":
                handle_id = path.split("/", 3)[3]
                status, answer = responses.use_response_url(world, handle_id, body)
                self._send(status, answer)
            elif path.startswith("/files/") and verb == "GET":
                file_id = path.split("/")[2]
                stored = world.files.get(file_id)
                if stored is None or stored.content is None:
                    self._send(404, {"ok": False, "error": "file_not_found"})
                else:
                    self._send(200, stored.content, content_type="application/octet-stream")
            elif path == "/control" or path.startswith("/control/"):
                try:
                    data = json.loads(body.decode("utf-8")) if body else {}
                except (UnicodeDecodeError, json.JSONDecodeError):
                    self._send(400, {"error": messages.CONTROL_BAD_JSON})
                    return
                status, answer = control.route(sim, verb, path, query, data)
                self._send(status, answer)
            else:
                self._send(404, {"ok": False, "error": "not_found", "path": path})

    return Handler
