"""Benchmark of an estate of many pools: readiness of all of them, and a whole site's failover.

1. Readiness (`drbot status`) of 10 protected pools of 1,000 VMs each (5 sites of 2 pools) into
   3 DR pools (`sim.xapi.generator`, `--sites 5 --pools-per-site 2 --dr-sites 3`):
   - cold: a fresh wiring (log in to 13 pools, load their inventories, read replication,
     assess every pair and the loss of each site): the product's `status` as the CLI runs it;
     each pool is read once and the pools in parallel threads; target < 3 s;
   - warm: the same assessment from inventories that follow `event.from` (a running bot's
     view), storage state read again; target < 100 ms.
2. A site failover: 3 pools of 300 VMs (30 vApps of 10, three order groups: the estate of
   bench_failover.py, per pool) at one site, lost, failed over into one DR pool by
   `failover site:primary` (commands/estate.py: one run per pool, queued into the DR pool).
   Figures in simulated seconds (the simulator runs `--speed` times faster than a pool):
   - makespan: from the first run's first side effect to the last VM started;
   - the critical-path bound of that schedule (the pools one after another: each pool's
     bound, computed as bench_failover.py computes it, summed), and the ratio (target <=
     1.15 x);
   - the same bound tightened by one fact it leaves out: no VM boots before its vApp is
     recovered whole (`VM.recover` refuses a VM of a vApp, so `VM_appliance.recover` recovers
     its VMs one after another: `vm_recover` x its VMs), so every pool's boot slots stay idle
     at least that long after attach and open. Still a lower bound; printed beside the first;
   - where each run spent its time: the span and count of each kind of step;
   - the bound of an ideal combined schedule (every pool's LUNs attached at once, then all
     900 VMs sharing the DR hosts' boot slots): what a combined plan could at best reach.

The site is lost after drbot read its pools (`status`, as a running bot has before the night):
the plans are made from that read (commands/wiring.py `site`), not blind. A blind plan (a pool
never read, or read longer ago than the replication lag allowed) costs each run a read of the
replicated metadata before its first recovery (`expand` steps: about 35 simulated s a pool).

The simulators run in a child process (their threads do not share the engine's GIL). The
machine's load is printed with the figures: on a shared machine, measure when it is quiet.

Run: `python bench/bench_estate.py [--repeat 5] [--speed 20] [--skip-readiness|--skip-failover]`.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_failover import GROUPS, LAT, SRS, Sim, lower_bound
from bench_failover import scenario as failover_scenario

from commands.actor import Actor
from commands.config import PolicyConfig
from commands.requests import FailoverRequest
from commands.results import EstateResult
from commands.service import Service
from commands.status import read_pools, status
from commands.wiring import Wiring
from engine.config import Concurrency
from engine.readiness import assess_estate
from sim.xapi.generator import generate

CLI = Actor(id="bench", via="cli")


def load() -> str:
    one, five, fifteen = os.getloadavg()
    return f"load average {one:.2f} {five:.2f} {fifteen:.2f} on {os.cpu_count()} CPUs"


# -- 1. readiness ----------------------------------------------------------------------------


def readiness(vms: int, repeat: int) -> None:
    toml = generate(vms, sites=5, pools_per_site=2, dr_sites=3)
    sim = Sim(toml, 1000.0)
    try:
        config = sim.config
        pools = sum(1 for p in config.pairs)
        print(f"readiness: {pools} protected pools x {vms} VMs into 3 DR pools ({load()})")
        colds = []
        with tempfile.TemporaryDirectory() as tmp:
            for i in range(repeat):
                wiring = Wiring(config, Path(tmp) / f"cold-{i}.db")
                t0 = time.perf_counter()
                report = status(wiring, None)
                colds.append(time.perf_counter() - t0)
                wiring.close()
            verdicts = sorted({p.verdict for p in report.pairs})
            vm_total = sum(p.vms for p in report.pairs)
            print(
                f"  cold status: median {statistics.median(colds):.2f} s, best "
                f"{min(colds):.2f} s over {repeat} (target < 3 s); {len(report.pairs)} pairs, "
                f"{vm_total} VMs, verdicts {verdicts}"
            )
            wiring = Wiring(config, Path(tmp) / "warm.db")
            names = [n for p in config.pairs for n in (p.protected, p.dr)]
            sites = read_pools(wiring, names)
            for site in sites.values():
                assert site.inventory is not None
                site.inventory.follow(poll_seconds=5)
            warms = []
            for _ in range(repeat * 4):
                for site in sites.values():
                    inv = site.inventory
                    site.reachable = inv is not None and inv.last_error is None
                t0 = time.perf_counter()
                assess_estate(
                    config.pairs,
                    sites,
                    storage=wiring.adapter,
                    last_drill=wiring.store.drills.recent,
                    clock=wiring.clock,
                )
                warms.append(time.perf_counter() - t0)
            for site in sites.values():
                if site.inventory is not None:
                    site.inventory.stop()
            wiring.close()
            print(
                f"  warm assessment (followed inventories): median "
                f"{statistics.median(warms) * 1000:.0f} ms, best {min(warms) * 1000:.0f} ms "
                f"over {len(warms)} (target < 100 ms)"
            )
    finally:
        sim.stop()


# -- 2. a site failover ------------------------------------------------------------------------


def site_scenario(pools: int, vapps: int, dr_hosts: int, workers: int) -> str:
    """bench_failover.py's estate with `pools` copies of its pool at the primary site."""
    one = failover_scenario(vapps, dr_hosts, workers)
    head, rest = one.split("[[sites.pools]]\n", 1)
    pool, dr = rest.split("[[sites]]\n", 1)
    copies = [
        "[[sites.pools]]\n"
        + pool.replace('name = "prod"', f'name = "prod-{i}"')
        .replace('"prod-0', f'"p{i}-h0')
        .replace("app-", f"p{i}-app-")
        for i in range(1, pools + 1)
    ]
    return head + "".join(copies) + "[[sites]]\n" + dr


def _marks(service: Service, run_id: int) -> tuple[datetime, datetime]:
    steps = service.wiring.store.steps.for_run(run_id)
    marks = {s.key: s.result["at"] for s in steps if s.key.startswith("mark:")}
    return (
        datetime.fromisoformat(marks["mark:rto-start"]),
        datetime.fromisoformat(marks["mark:rto-end"]),
    )


def _phases(service: Service, run_id: int, t0: datetime, speed: float) -> str:
    """When each kind of step of a run ran, and how many, in simulated seconds from `t0`."""
    spans: dict[str, list[float]] = {}
    for step in service.wiring.store.steps.for_run(run_id):
        kind = step.key.split(":", 1)[0]
        start = (step.started_at - t0).total_seconds() * speed
        end = ((step.finished_at or step.started_at) - t0).total_seconds() * speed
        span = spans.setdefault(kind, [start, end, 0])
        span[0], span[1], span[2] = min(span[0], start), max(span[1], end), span[2] + 1
    return ", ".join(f"{k} {a:.0f}-{b:.0f} ({n:.0f})" for k, (a, b, n) in spans.items())


def site_failover(pools: int, vapps: int, dr_hosts: int, workers: int, speed: float) -> None:
    per_app = sum(count for _, count, _, _ in GROUPS)
    print(
        f"site failover: {pools} pools x {vapps * per_app} VMs into one DR pool of {dr_hosts} "
        f"hosts x {workers} boots, speed {speed:g} ({load()})"
    )
    one = lower_bound(vapps, dr_hosts, workers)
    queued = pools * one["lower_bound"]
    attach = SRS * (LAT["sr_probe"] + LAT["pbd_plug"] * dr_hosts + LAT["sr_scan"])
    prefix = attach + LAT["open_database"]
    chain = one["critical_path"] - prefix
    boots = vapps * per_app * LAT["vm_start"] / (dr_hosts * workers)
    whole_vapp = LAT["vm_recover"] * per_app  # before which no VM of any vApp can boot
    tight = pools * max(one["critical_path"], prefix + whole_vapp + boots)
    ideal = prefix + max(chain, pools * vapps * per_app * LAT["vm_start"] / (dr_hosts * workers))
    sim = Sim(site_scenario(pools, vapps, dr_hosts, workers), speed)
    try:
        config = sim.config.model_copy(
            update={"concurrency": Concurrency(recover=8, start=64, shutdown=64)}
        )
        with tempfile.TemporaryDirectory() as tmp:
            service = Service(Wiring(config, Path(tmp) / "bench.db"), PolicyConfig())
            status(service.wiring, None)  # a running bot has read its pools before the night
            sim.control("POST", "/sites/primary/fail")
            t0 = time.monotonic()
            asked = service.dispatch(
                FailoverRequest(target="site:primary", reason="bench", break_glass=True), CLI
            )
            if not isinstance(asked, EstateResult):
                raise SystemExit(f"refused: {asked}")
            planned = time.monotonic() - t0
            summary = service.estate.wait(asked.request_id, timeout=7200)
            real = time.monotonic() - t0
            states = [(i.protected, i.state, i.note) for i in summary.items]
            print(f"  runs: {states}; planning {planned:.1f} s real; request {real:.1f} s real")
            if any(i.state != "succeeded" for i in summary.items):
                for i in summary.items:
                    run = service.wiring.store.runs.get(i.run_id) if i.run_id else None
                    print(f"  {i.protected}: {run.error if run else i.note}")
                raise SystemExit(1)
            spans = [_marks(service, i.run_id) for i in summary.items if i.run_id is not None]
            makespan = (max(e for _, e in spans) - min(s for s, _ in spans)).total_seconds()
            first = min(s for s, _ in spans)
            offsets = [
                ((a - first).total_seconds() * speed, (b - first).total_seconds() * speed)
                for a, b in spans
            ]
            print(
                "  each run, first side effect to last VM started (simulated s from the first): "
                + ", ".join(f"{a:.0f}-{b:.0f}" for a, b in offsets)
            )
            for item in summary.items:
                assert item.run_id is not None
                phases = _phases(service, item.run_id, first, speed)
                print(f"  {item.protected} steps (simulated s from the first): {phases}")
            service.close()
        makespan *= speed
        print(f"  makespan {makespan:.0f} s (simulated)")
        print(
            f"  bound of the queued schedule (pools one after another): {queued:.0f} s; "
            f"ratio {makespan / queued:.3f} (target <= 1.15)"
        )
        print(
            f"  the same bound, no boot before a vApp is recovered whole: {tight:.0f} s; ratio "
            f"{makespan / tight:.3f}"
        )
        print(
            f"  bound of an ideal combined schedule: {ideal:.0f} s; ratio {makespan / ideal:.2f} "
            "(what a combined plan could at best save)"
        )
    finally:
        sim.stop()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--vms", type=int, default=1000, help="VMs per protected pool (readiness)")
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--pools", type=int, default=3, help="pools of the lost site")
    ap.add_argument("--vapps", type=int, default=30, help="vApps of 10 VMs per pool")
    ap.add_argument("--dr-hosts", type=int, default=8)
    ap.add_argument("--workers", type=int, default=4, help="VM boots at once per DR host")
    ap.add_argument("--speed", type=float, default=20.0, help="simulated s per real s")
    ap.add_argument("--skip-readiness", action="store_true")
    ap.add_argument("--skip-failover", action="store_true")
    args = ap.parse_args()
    if not args.skip_readiness:
        readiness(args.vms, args.repeat)
    if not args.skip_failover:
        site_failover(args.pools, args.vapps, args.dr_hosts, args.workers, args.speed)


if __name__ == "__main__":
    main()
