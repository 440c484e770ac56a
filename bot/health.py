"""`/healthz`, `/readyz` and `/metrics` of `drbot serve`, on `[observability] host:port`.

- `/healthz`: 200 while the process serves HTTP at all (the liveness probe: restart it if not).
- `/readyz`: 200 when drbot can do its job, else 503; the body (JSON) says each check:
  * `slack`: the Socket Mode connection is up (HTTP mode: the request server is up);
  * `store`: a write to the store commits (not read-only, not a full disk, not locked);
  * `pool:<name>`: the pool answered the last look (`pool.get_all`, every
    `pool_check_seconds`, from a thread of its own, so a dead pool never slows a probe).
  Only the DR pools (the `dr` of each pair) make the bot unready: a protected pool that does
  not answer is the disaster drbot is there for, and it is reported without failing readiness.
- `/metrics`: Prometheus text format (bot/metrics.py).

`observe(wiring)` starts the metrics before the bot makes its first XAPI call;
`start_health(...)` serves the three paths once the bot runs. `drbot serve` calls both.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from pydantic import BaseModel

from bot.logs import ObservabilityConfig, run_log
from bot.metrics import Metrics
from commands.service import Service
from commands.wiring import Wiring
from engine.errors import DRError
from store import StoreError

log = logging.getLogger(__name__)

PROBE_KEY = "health"  # store.kv namespace the store check writes to
SERVING = "/healthz, /readyz and /metrics on %s"
PORT_UNUSABLE = (
    "/healthz, /readyz and /metrics are not served: {host}:{port} cannot be used ({error}); "
    "set [observability] port (or DRBOT_OBSERVABILITY__PORT) to a free port, or enabled = false"
)


class Check(BaseModel):
    name: str
    ok: bool
    gating: bool = True  # does a failure make the bot unready
    detail: str = ""


class Readiness(BaseModel):
    ready: bool
    checks: list[Check]


class HealthMonitor:
    """What `/readyz` reports. `refresh()` looks at every pool (the monitor's thread calls it
    every `interval` seconds once `start()`ed; tests call it directly)."""

    def __init__(
        self, wiring: Wiring, connected: Callable[[], bool], *, interval: float = 30.0
    ) -> None:
        self.wiring = wiring
        self.connected = connected
        self.interval = interval
        self._pools: dict[str, Check] = {}
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        dr = {pair.dr for pair in wiring.config.pairs}
        self.gating = dr or set(wiring.config.pools)

    def refresh(self) -> None:
        """Look at each pool once (the connections this thread opened are closed after)."""
        try:
            for name in self.wiring.config.pools:
                try:
                    self.wiring.client(name).call("pool.get_all")
                    check = Check(name=f"pool:{name}", ok=True, gating=name in self.gating)
                except DRError as exc:
                    check = Check(
                        name=f"pool:{name}", ok=False, gating=name in self.gating, detail=str(exc)
                    )
                with self._lock:
                    self._pools[name] = check
        finally:
            self.wiring.release_thread()

    def reachable(self) -> dict[str, bool]:
        with self._lock:
            return {name: check.ok for name, check in self._pools.items()}

    def readiness(self) -> Readiness:
        checks = [self._slack(), self._store()]
        with self._lock:
            looked = dict(self._pools)
        for name in self.wiring.config.pools:
            checks.append(
                looked.get(name)
                or Check(
                    name=f"pool:{name}",
                    ok=False,
                    gating=name in self.gating,
                    detail="not looked at yet",
                )
            )
        return Readiness(ready=all(c.ok for c in checks if c.gating), checks=checks)

    def _slack(self) -> Check:
        try:
            ok = bool(self.connected())
        except Exception as exc:  # a probe reports; it never raises
            return Check(name="slack", ok=False, detail=str(exc))
        return Check(name="slack", ok=ok, detail="" if ok else "not connected to Slack")

    def _store(self) -> Check:
        try:
            self.wiring.store.kv(PROBE_KEY)["probe"] = self.wiring.clock.now().isoformat()
        except StoreError as exc:
            return Check(name="store", ok=False, detail=str(exc))
        return Check(name="store", ok=True)

    def start(self) -> None:
        def loop() -> None:
            while True:
                try:
                    self.refresh()
                except Exception:
                    log.exception("health: looking at the pools failed")
                if self._stop.wait(self.interval):
                    return

        self._thread = threading.Thread(target=loop, name="drbot-health", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)


class HealthServer:
    """The HTTP server of the three paths; `port` is the one bound (0 in the config: any)."""

    def __init__(self, host: str, port: int, monitor: HealthMonitor, metrics: Metrics) -> None:
        self.monitor = monitor
        self.metrics = metrics
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # http.server's name
                path = self.path.split("?", 1)[0]
                if path == "/healthz":
                    self._send(200, "text/plain; charset=utf-8", b"ok\n")
                elif path == "/readyz":
                    state = server.monitor.readiness()
                    body = json.dumps(state.model_dump(), indent=2).encode() + b"\n"
                    self._send(200 if state.ready else 503, "application/json", body)
                elif path == "/metrics":
                    body = generate_latest(server.metrics.registry)
                    self._send(200, CONTENT_TYPE_LATEST, body)
                else:
                    self._send(404, "text/plain; charset=utf-8", b"not found\n")

            def _send(self, code: int, ctype: str, body: bytes) -> None:
                self.send_response(code)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: object) -> None:
                log.debug(format, *args)

        self._http = ThreadingHTTPServer((host, port), Handler)
        self._http.daemon_threads = True
        self.port = int(self._http.server_address[1])
        self._thread = threading.Thread(
            target=self._http.serve_forever, kwargs={"poll_interval": 0.2}, daemon=True
        )

    def start(self) -> HealthServer:
        self._thread.start()
        self.monitor.start()
        return self

    def stop(self) -> None:
        self.monitor.stop()
        self._http.shutdown()
        self._http.server_close()


def observe(wiring: Wiring) -> Metrics:
    """The bot's metrics, counting XAPI calls of every client made from now on."""
    metrics = Metrics(wiring.store)
    wiring.xapi_observer = metrics.xapi_observer
    return metrics


def start_health(
    config: ObservabilityConfig,
    metrics: Metrics,
    service: Service,
    connected: Callable[[], bool],
    slack_clients: list[object],
) -> HealthServer | None:
    """Count the service's runs and steps and the Slack clients' errors, log each run's steps,
    and serve `/healthz`, `/readyz` and `/metrics` (unless `enabled` is false)."""
    store = service.wiring.store
    service.subscribe(metrics.on_event(store))
    service.subscribe(run_log(store))
    for client in slack_clients:
        metrics.watch_slack(client)
    if not config.enabled:
        return None
    monitor = HealthMonitor(service.wiring, connected, interval=config.pool_check_seconds)
    metrics.pools_reachable(monitor.reachable)
    try:
        server = HealthServer(config.host, config.port, monitor, metrics)
    except OSError as exc:
        # The bot matters more than its probes: it serves on, and says how to fix the port.
        log.error(PORT_UNUSABLE.format(host=config.host, port=config.port, error=exc.strerror))
        return None
    url = f"http://{config.host}:{server.port}"
    log.info(SERVING, url, extra={"url": url})
    return server.start()
