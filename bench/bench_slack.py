"""Benchmarks of the Slack bot, through the real Bolt pipeline against sim/slack and sim/xapi
on loopback (figures printed; nothing asserted).

1. Ack latency: 20 people type a /dr command at the same moment, `--rounds` times; the time
   from sending the command to Slack receiving the ack (the double's Socket Mode delivery),
   p50 and p99. Target: p99 <= 200 ms.
2. Slack Web API calls for a failover of `--vms` VMs (default 1,000, in vApps of 10): every
   call the bot makes from the `/dr failover` request to the run's summary, by method, the
   429s Slack served and how many the bot left unhandled (called the method again before
   Retry-After had passed, or never again: the call was lost), calls that failed otherwise,
   and the time to the final summary. Target: <= 100 calls, zero unhandled 429s. Run again
   with sim/slack's tiers cut to a tenth (`--tight`), so the same failover meets 429s.

Run: `python bench/bench_slack.py [--rounds 10] [--vms 1000] [--speed 50] [--tight 0.1]`.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bot.demo import approval_id_of, demo_world
from sim.slack.webapi import ApiCall
from tests.bot.conftest import ask, finished, started_run

PEOPLE = ["olivia", "alex", "priya", "victor", "ada"]


def ack_latency(rounds: int) -> None:
    with (
        tempfile.TemporaryDirectory() as tmp,
        demo_world(Path(tmp), scenario="mini", speed=1000) as world,
    ):
        samples: list[float] = []
        lock = threading.Lock()

        def one(who: str) -> None:
            start = time.perf_counter()
            delivery = world.slack.person(who).command("/dr", "status", channel="dr-ops")
            took = time.perf_counter() - start
            if delivery.status == "acked":
                with lock:
                    samples.append(took)

        for _ in range(rounds):
            threads = [
                threading.Thread(target=one, args=(PEOPLE[n % len(PEOPLE)],)) for n in range(20)
            ]
            for t in threads:
                t.start()
            for t in threads:
                t.join()
            world.serving.bot.worker.wait_idle(60)
        samples.sort()
        p50 = statistics.median(samples) * 1000
        p99 = samples[max(0, int(len(samples) * 0.99) - 1)] * 1000
        print(f"ack latency, 20 concurrent /dr status x {rounds} rounds ({len(samples)} acked):")
        print(f"  p50 {p50:.1f} ms, p99 {p99:.1f} ms (target p99 <= 200 ms)")


def web_api_calls(vms: int, speed: float, tiers: dict[int | str, float] | None = None) -> None:
    """A failover of `vms` VMs from request to summary; with `tiers`, sim/slack's rate tiers
    made that small (calls a minute), so the run meets 429s."""
    from sim.xapi.generator import generate

    with tempfile.TemporaryDirectory() as tmp:
        scenario = Path(tmp) / "big.toml"
        scenario.write_text(generate(vms))
        with demo_world(Path(tmp) / "w", scenario=str(scenario), speed=speed) as world:
            for tier, per_minute in (tiers or {}).items():
                world.slack.world.limiter.set_tier(tier, per_minute)
            world.control("/sites/primary/fail")  # the disaster a failover answers
            first = len(world.slack.calls())
            started = time.perf_counter()
            approval = ask(world, "olivia", "failover all --reason benchmark")
            world.slack.person("alex").click("dr-ops", approval.ts, action_id="dr_approve")
            world.slack.person("priya").click("dr-ops", approval.ts, action_id="dr_approve")
            run_id = started_run(world, approval, timeout=600)
            run = finished(world, run_id, timeout=3600)
            took = time.perf_counter() - started
            calls = world.slack.calls()[first:]
            by_method = Counter(c.method for c in calls)
            limited = [c for c in calls if c.status == 429]
            ignored = unhandled(calls)
            failed = [c for c in calls if c.status not in (200, 429)]
            pacer = world.serving.bot.client.pacer
            where = "Slack's tiers" if not tiers else f"tiers cut to {tiers} a minute"
            print(
                f"failover of {vms} VMs, {where} (approval {approval_id_of(approval)}, "
                f"run {run_id}: {run.state}):"
            )
            print(f"  time from request to final summary: {took:.1f} s (wall)")
            print(f"  Slack Web API calls from request to summary: {len(calls)} (target <= 100)")
            for method, count in by_method.most_common():
                print(f"    {method}: {count}")
            print(
                f"  429s served: {len(limited)}, unhandled: {len(ignored)} (target 0); "
                f"calls that failed otherwise: {len(failed)}; the bot waited "
                f"{pacer.waited:.1f} s for its turns"
            )


def unhandled(calls: list[ApiCall]) -> list[ApiCall]:
    """The 429s the bot did not honour: the same method called again before Retry-After had
    passed, or never again (the call it refused was dropped)."""
    found = []
    for refused in (c for c in calls if c.status == 429):
        later = [c for c in calls if c.method == refused.method and c.at > refused.at]
        wait = float(refused.retry_after or 0)
        if not later or later[0].at < refused.at + wait:
            found.append(refused)
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=10)
    parser.add_argument("--vms", type=int, default=1000)
    parser.add_argument("--speed", type=float, default=50.0)
    parser.add_argument(
        "--tight",
        type=float,
        default=0.1,
        help="also run with sim/slack's tiers 3 and special cut to this share (0: skip)",
    )
    args = parser.parse_args()
    ack_latency(args.rounds)
    web_api_calls(args.vms, args.speed)
    if args.tight > 0:
        web_api_calls(args.vms, args.speed, {3: 50 * args.tight, "special": 600 * args.tight})


if __name__ == "__main__":
    main()
