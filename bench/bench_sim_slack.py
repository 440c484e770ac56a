"""Benchmark of sim/slack through the unchanged slack_sdk / slack_bolt clients, on loopback.

Measures and prints:
- `auth.test` and `chat.postMessage` round trips through `slack_sdk.WebClient` (one new HTTP
  connection per call, as WebClient makes them);
- command-to-ack latency: a person types `/dr` and a Bolt app acks it, over Socket Mode
  (Bolt's built-in `SocketModeHandler`) and over HTTP mode (Bolt's WSGI adapter, signed
  requests), timed from the person's keystroke to the settled ack;
- messages a second the double accepts across 20 channels from concurrent clients, with rate
  limits off (the double's own capacity), and with Slack's rules on (~1 message a second per
  channel after a burst of 5), one client per channel that waits out each `Retry-After` as
  slack_sdk's RateLimitErrorRetryHandler would: what an app can really get through.

Run: `python bench/bench_sim_slack.py [--calls 300] [--commands 100] [--seconds 3]`.
Prints the figures and exits 0.
"""

from __future__ import annotations

import argparse
import logging
import statistics
import sys
import threading
import time
import tomllib
from importlib import resources
from pathlib import Path
from socketserver import ThreadingMixIn
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from rich.console import Console
from rich.table import Table
from slack_bolt import App
from slack_bolt.adapter.socket_mode import SocketModeHandler
from slack_bolt.adapter.wsgi import SlackRequestHandler
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from sim.slack.server import SlackSim

CHANNELS = 20


def seed(*, rate_limits: bool) -> dict:
    """drbot's default workspace plus 20 channels the bot and olivia are in."""
    data = tomllib.loads(resources.files("sim.slack").joinpath("seeds", "default.toml").read_text())
    data["channels"] += [
        {"name": f"bench-{n:02d}", "members": ["olivia"], "bot_member": True}
        for n in range(1, CHANNELS + 1)
    ]
    data["limits"]["rate_limits"] = rate_limits
    return data


def bench_channels(sim: SlackSim) -> list[str]:
    return [cid for name, cid in sim.endpoints()["channels"].items() if name.startswith("bench-")]


def client(sim: SlackSim) -> WebClient:
    endpoints = sim.endpoints()
    return WebClient(token=endpoints["bot_token"], base_url=endpoints["api_url"])


def stats_ms(samples: list[float]) -> tuple[str, str, str, str]:
    ordered = sorted(samples)
    p95 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.95))]
    return (
        str(len(samples)),
        f"{statistics.median(ordered) * 1000:.2f}",
        f"{p95 * 1000:.2f}",
        f"{max(ordered) * 1000:.2f}",
    )


def timed(call, n: int) -> list[float]:
    samples = []
    for i in range(n):
        t0 = time.perf_counter()
        call(i)
        samples.append(time.perf_counter() - t0)
    return samples


def round_trips(calls: int) -> dict[str, list[float]]:
    with SlackSim.start(seed=seed(rate_limits=False)) as sim:
        web = client(sim)
        channels = bench_channels(sim)
        web.auth_test()  # warm up
        return {
            "auth.test": timed(lambda i: web.auth_test(), calls),
            "chat.postMessage": timed(
                lambda i: web.chat_postMessage(channel=channels[i % CHANNELS], text=f"m{i}"), calls
            ),
        }


def acking_app(sim: SlackSim) -> App:
    endpoints = sim.endpoints()
    app = App(client=client(sim), signing_secret=endpoints["signing_secret"])

    @app.command("/dr")
    def dr(ack):
        ack()

    return app


class _ThreadingWSGIServer(ThreadingMixIn, WSGIServer):
    daemon_threads = True


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, *args) -> None:
        pass


def command_latency(commands: int) -> dict[str, list[float]]:
    results: dict[str, list[float]] = {}
    with SlackSim.start() as sim:
        olivia = sim.person("olivia")

        def type_command(_: int) -> None:
            delivery = olivia.command("/dr", "status")
            if delivery.status != "acked":
                raise RuntimeError(f"command not acked: {delivery.summary()}")

        handler = SocketModeHandler(acking_app(sim), sim.endpoints()["app_token"])
        handler.connect()
        ready = threading.Event()
        while not sim.socket.links() and not ready.wait(0.01):
            pass
        type_command(0)  # warm up the listener pool
        results["Socket Mode"] = timed(type_command, commands)
        closing = threading.Thread(target=handler.close, daemon=True)
        closing.start()
        while not handler.client.closed and not ready.wait(0.01):
            pass
        sim.socket.drop()

        server = make_server(
            "127.0.0.1",
            0,
            SlackRequestHandler(acking_app(sim)),
            server_class=_ThreadingWSGIServer,
            handler_class=_QuietHandler,
        )
        threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}).start()
        sim.configure_delivery(
            socket_mode=False, request_url=f"http://127.0.0.1:{server.server_port}/slack/events"
        )
        type_command(0)
        results["HTTP mode (signed)"] = timed(type_command, commands)
        server.shutdown()
        server.server_close()
    return results


def throughput(seconds: float, *, rate_limits: bool, threads: int) -> tuple[int, int, float]:
    """(accepted, refused with 429, seconds) posting round robin over 20 channels; a client
    that is refused waits the Retry-After it was given."""
    with SlackSim.start(seed=seed(rate_limits=rate_limits)) as sim:
        channels = bench_channels(sim)
        counts = {"ok": 0, "429": 0}
        lock = threading.Lock()
        stop = time.perf_counter() + seconds

        def post(worker: int) -> None:
            web = client(sim)
            n = worker
            while time.perf_counter() < stop:
                try:
                    web.chat_postMessage(channel=channels[n % CHANNELS], text=f"m{n}")
                    outcome = "ok"
                except SlackApiError as error:
                    if error.response.status_code != 429:
                        raise
                    outcome = "429"
                    pause = float(error.response.headers["Retry-After"])
                    threading.Event().wait(min(pause, max(0.0, stop - time.perf_counter())))
                with lock:
                    counts[outcome] += 1
                n += threads

        t0 = time.perf_counter()
        workers = [threading.Thread(target=post, args=(w,)) for w in range(threads)]
        for worker in workers:
            worker.start()
        for worker in workers:
            worker.join()
        elapsed = time.perf_counter() - t0
        return counts["ok"], counts["429"], elapsed


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--calls", type=int, default=300, help="round trips per method")
    parser.add_argument("--commands", type=int, default=100, help="commands per mode")
    parser.add_argument("--seconds", type=float, default=3.0, help="length of each load run")
    args = parser.parse_args()
    logging.basicConfig(level=logging.CRITICAL)
    console = Console()

    table = Table(title="sim/slack round trips (ms)")
    for column in ("what", "n", "median", "p95", "max"):
        table.add_column(column, justify="right" if column != "what" else "left")
    for name, samples in round_trips(args.calls).items():
        table.add_row(f"WebClient {name}", *stats_ms(samples))
    for name, samples in command_latency(args.commands).items():
        table.add_row(f"/dr command to Bolt ack, {name}", *stats_ms(samples))
    console.print(table)

    load = Table(title=f"chat.postMessage across {CHANNELS} channels, {args.seconds:g} s each")
    for column in ("rate limits", "clients", "accepted", "429s", "accepted/s"):
        load.add_column(column, justify="right" if column != "rate limits" else "left")
    for rate_limits, threads in ((False, 8), (True, CHANNELS)):
        ok, refused, elapsed = throughput(args.seconds, rate_limits=rate_limits, threads=threads)
        load.add_row(
            "Slack's (1/s per channel, burst 5)" if rate_limits else "off (capacity)",
            str(threads),
            str(ok),
            str(refused),
            f"{ok / elapsed:.0f}",
        )
    console.print(load)
    return 0


if __name__ == "__main__":
    sys.exit(main())
