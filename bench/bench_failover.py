"""Benchmark of a failover of 1,000 VMs in 100 vApps, against XenCenter's way of doing it.

The estate (generated here): a primary pool whose 1,000 VMs sit in 100 vApps of three order
groups (2 databases, start delay 30 s; 4 app servers, 10 s; 4 web servers, none), on 8
replicated iSCSI SRs, and a DR pool of `--dr-hosts` hosts that each boot `--workers` VMs at
once. The simulator runs in its own process (so its threads do not share the engine's GIL) on
the scenario's latency model, sped up by `--speed`; every figure is in *simulated* seconds
(real seconds times the speed).

Measured:
- makespan of the engine's failover (promote, attach, recover, start in order), from the run's
  start to its end;
- the lower bound computed from the scenario: the longer of the critical path (attach, open the
  metadata, then the slowest vApp: its recovery and its groups' boots and delays) and the total
  boot work divided by the DR hosts' parallel capacity (after attach and open); their ratio
  (target <= 1.15);
- XAPI calls per VM, from the simulator's call log;
- the same failover done as XenCenter's wizard does it (reference §5.2.7): attach, then each
  vApp recovered one after the other, then each vApp started one after the other
  (`VM_appliance.start`), on a fresh simulator; and the speed-up (target >= 10x).

Run: `python bench/bench_failover.py [--vapps 100] [--speed 10] [--xc-speed 100]`.
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import sys
import tempfile
import time
from collections import Counter
from datetime import datetime
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bot.simconfig import from_sim_endpoints
from engine.clock import SystemClock
from engine.config import Concurrency
from engine.inventory import Inventory
from engine.planner import PlanOptions, Site, plan
from engine.runner import Runner
from engine.storage.sim import SimStorageAdapter
from engine.xapi import XapiClient
from store import open_store

GROUPS = [("db", 2, 0, 30), ("app", 4, 1, 10), ("web", 4, 2, 0)]  # role, count, order, delay
SRS = 8
LAT = {  # the scenario's latency model (seconds), the simulator's defaults written out
    "vm_start": 20.0,
    "vm_recover": 2.0,
    "sr_probe": 3.0,
    "pbd_plug": 2.0,
    "sr_scan": 1.0,
    "open_database": 2.0,
}


def scenario(vapps: int, dr_hosts: int, workers: int) -> str:
    """TOML of the benchmark estate (format of sim/xapi/scenario.py)."""
    vms_per_app = sum(count for _, count, _, _ in GROUPS)
    prod_hosts = max(2, (vapps * vms_per_app * 2) // 900 + 1)
    out = [
        "[scenario]",
        f'name = "bench-failover-{vapps}"',
        f"xenopsd_workers = {workers}",
        "[latency]",
        *[f"{k} = {v}" for k, v in LAT.items()],
        "[replication]",
        "lag_seconds = 0.0",
        "[[sites]]",
        'name = "primary"',
        'address_prefix = "127.0.1"',
        'array = { target = "10.10.1.50", iqn = "iqn.2001-05.com.example:prod" }',
        "[[sites.pools]]",
        'name = "prod"',
        'metadata_srs = ["Gold 01", "Gold 02"]',
        "hosts = [",
        *[
            f'  {{ name = "prod-{i:03d}", memory_gb = 1024, cpus = 64 }},'
            for i in range(prod_hosts)
        ],
        "]",
        'networks = [{ name = "VM Network", bridge = "xenbr1" }]',
        "srs = [",
        *[
            f'  {{ name = "Gold {i + 1:02d}", type = "lvmoiscsi", kind = "replicated", '
            'replicate_to = "dr", size_gb = 65536 },'
            for i in range(SRS)
        ],
        "]",
        "appliances = [",
        *[f'  {{ name = "app-{a:03d}" }},' for a in range(vapps)],
        "]",
    ]
    for a in range(vapps):
        for role, count, order, delay in GROUPS:
            out += [
                "[[sites.pools.vms]]",
                f'name = "app-{a:03d}-{role}-{{n}}"',
                f"count = {count}",
                "memory_gb = 2",
                f'appliance = "app-{a:03d}"',
                f"order = {order}",
                f"start_delay = {delay}",
                f'disks = [{{ sr = "Gold {a % SRS + 1:02d}", size_gb = 20 }}]',
                'nics = ["VM Network"]',
            ]
    out += [
        "[[sites]]",
        'name = "dr"',
        'address_prefix = "127.0.2"',
        'array = { target = "10.20.1.50", iqn = "iqn.2001-05.com.example:dr" }',
        "[[sites.pools]]",
        'name = "dr"',
        "hosts = [",
        *[f'  {{ name = "dr-{i:03d}", memory_gb = 4096, cpus = 128 }},' for i in range(dr_hosts)],
        "]",
        'networks = [{ name = "VM Network", bridge = "xenbr1" }]',
        'srs = [{ name = "Local storage", type = "lvm", kind = "local", size_gb = 900 }]',
    ]
    return "\n".join(out) + "\n"


def lower_bound(vapps: int, dr_hosts: int, workers: int) -> dict[str, float]:
    """The makespan no schedule can beat on this scenario (simulated seconds)."""
    per_app = sum(count for _, count, _, _ in GROUPS)
    # DR_task.create probes, then plugs the SR on every host one after the other, and the SR
    # is scanned (today's xapi does not scan on plug). The engine attaches one LUN at a time,
    # as XenCenter does (docs/xapi-behaviours.md §9): every attach is on the critical path.
    attach = SRS * (LAT["sr_probe"] + LAT["pbd_plug"] * dr_hosts + LAT["sr_scan"])
    prefix = attach + LAT["open_database"]
    chain = LAT["vm_recover"] * per_app + sum(LAT["vm_start"] + d for _, _, _, d in GROUPS)
    critical = prefix + chain
    work = prefix + vapps * per_app * LAT["vm_start"] / (dr_hosts * workers)
    return {"critical_path": critical, "work_bound": work, "lower_bound": max(critical, work)}


def xencenter_estimate(vapps: int, dr_hosts: int) -> float:
    """XenCenter's sequential schedule on the same model (simulated seconds), for reference."""
    per_app = sum(count for _, count, _, _ in GROUPS)
    attach = SRS * (LAT["sr_probe"] + LAT["pbd_plug"] * dr_hosts + LAT["sr_scan"])
    recover = vapps * LAT["vm_recover"] * per_app
    start = vapps * sum(LAT["vm_start"] + d for _, _, _, d in GROUPS)
    return attach + LAT["open_database"] + recover + start


# -- the simulator in its own process -----------------------------------------------------------


def _serve(toml: str, speed: float, conn: Any) -> None:
    from sim.xapi import serve

    # The simulator runs Async tasks on a pool of 32 threads shared by every pool, and a
    # VM.start holds its thread through its start_delay; real XAPI gives each task its own
    # thread. Size the pool for this estate so the hosts' boot slots, not the simulator's
    # threads, are what limits parallelism (the lower bound assumes so).
    start_servers = serve.server.start_servers
    serve.server.start_servers = lambda world, **kw: start_servers(world, max_workers=512, **kw)
    start_sim = serve.start_sim

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "bench.toml"
        path.write_text(toml)
        handle = start_sim(path, speed=speed)
        conn.send(handle.endpoints)
        conn.recv()
        handle.stop()


class Sim:
    def __init__(self, toml: str, speed: float) -> None:
        self.speed = speed
        self.parent, child = mp.Pipe()
        ctx = mp.get_context("spawn")
        self.proc = ctx.Process(target=_serve, args=(toml, speed, child), daemon=True)
        self.proc.start()
        self.endpoints = self.parent.recv()
        self.config = from_sim_endpoints(self.endpoints)
        self.storage = SimStorageAdapter(self.endpoints["control"])

    def client(self, pool: str) -> XapiClient:
        return XapiClient.connect(self.config.pool(pool), timeout=600)

    def control(self, method: str, path: str) -> Any:
        import json
        import urllib.request

        req = urllib.request.Request(
            self.endpoints["control"] + path, method=method, data=b"" if method != "GET" else None
        )
        with urllib.request.urlopen(req, timeout=60) as resp:
            raw = resp.read()
        return json.loads(raw) if raw else None

    def last_seq(self) -> int:
        calls = self.control("GET", "/calls?since=0")
        calls = calls["calls"] if isinstance(calls, dict) else calls
        return calls[-1]["seq"] if calls else 0

    def calls_since(self, seq: int) -> list[dict[str, Any]]:
        calls = self.control("GET", f"/calls?since={seq}")
        return calls["calls"] if isinstance(calls, dict) else calls

    def stop(self) -> None:
        self.parent.send("stop")
        self.proc.join(60)


def _plan_failover(sim: Sim) -> Any:
    prod, dr = sim.client("prod"), sim.client("dr")
    known = Inventory.load(prod, "prod")  # what the bot knew before the disaster
    sim.control("POST", "/sites/primary/fail")
    p = plan(
        "failover",
        "all",
        source=Site("prod", known, None, site="primary", reachable=False),
        dest=Site("dr", Inventory.load(dr, "dr"), dr, site="dr"),
        options=PlanOptions(),
        storage=sim.storage,
    )
    if p.blockers:
        raise SystemExit(f"the plan has blockers: {p.blockers}")
    return p, dr


def _rto(store: Any, run_id: int) -> float:
    """Real seconds from the run's first side effect to the last VM started (its RTO marks)."""
    steps = store.steps.for_run(run_id)
    marks = {s.key: s.result["at"] for s in steps if s.key.startswith("mark:")}
    start, end = (datetime.fromisoformat(marks[f"mark:rto-{k}"]) for k in ("start", "end"))
    return (end - start).total_seconds()


def _phases(store: Any, run_id: int, t0: datetime, speed: float) -> dict[str, str]:
    """When each kind of step ran, in simulated seconds from the run's creation."""
    spans: dict[str, list[float]] = {}
    for step in store.steps.for_run(run_id):
        kind = step.key.split(":", 1)[0]
        start = (step.started_at - t0).total_seconds() * speed
        end = (step.finished_at or step.started_at) - t0
        span = spans.setdefault(kind, [start, start])
        span[0] = min(span[0], start)
        span[1] = max(span[1], end.total_seconds() * speed)
    return {k: f"{a:.0f}-{b:.0f}" for k, (a, b) in spans.items()}


def engine_failover(toml: str, speed: float, starts: int, recover: int) -> dict[str, Any]:
    sim = Sim(toml, speed)
    try:
        p, dr = _plan_failover(sim)
        with tempfile.TemporaryDirectory() as tmp:
            store = open_store(Path(tmp) / "bench.db")
            clients = {"dr": dr}
            runner = Runner(
                store,
                clients,
                sim.storage,
                SystemClock(),
                Concurrency(recover=recover, start=starts, shutdown=starts),
                task_timeout=3600,
            )
            seq = sim.last_seq()
            t0 = time.monotonic()
            run_id = runner.start(p, requested_by="bench")
            run = runner.wait(run_id, timeout=3600)
            real = time.monotonic() - t0
            calls = sim.calls_since(seq)
            phases = _phases(store, run_id, t0=run.created_at, speed=speed)
            rto = _rto(store, run_id) * speed
            outcome = Counter(o.status for o in run.outcome.vms.values())
            store.close()
        return {
            "state": run.state,
            "vms": len(p.vms),
            "outcomes": dict(outcome),
            "makespan": rto,
            "run_seconds": real * speed,
            "real_seconds": real,
            "calls": len(calls),
            "calls_by_method": Counter(c["method"] for c in calls).most_common(8),
            "phases": phases,
        }
    finally:
        sim.stop()


def xencenter_failover(toml: str, speed: float) -> dict[str, Any]:
    """XenCenter's wizard (reference §5.2.7): one thing at a time."""
    sim = Sim(toml, speed)
    try:
        p, dr = _plan_failover(sim)
        t0 = time.monotonic()
        for lun in p.luns:
            state = sim.storage.promote(lun.lun)
            task = dr.run("DR_task.create", lun.sr_type, state.mirror_device_config, [lun.sr_uuid])
            # XenCenter does not scan; on today's xapi it would then find no metadata VDI.
            for sr in dr.call("DR_task.get_introduced_SRs", task):
                dr.call("SR.scan", sr)
        vdis = [dr.call("VDI.get_by_uuid", m.vdi_uuid) for m in p.metadata_vdis if m.latest]
        db = dr.open_database(vdis[0])
        db.open()
        for app in p.appliances:
            task = db.recover_appliance(db.call("VM_appliance.get_by_uuid", app.uuid), True)
            dr.wait([task], timeout=3600)
        db.close()
        for app in p.appliances:
            dr.run("VM_appliance.start", dr.call("VM_appliance.get_by_uuid", app.uuid), False)
        real = time.monotonic() - t0
        running = sum(
            1
            for r in dr.get_all_records("VM").values()
            if r["power_state"] == "Running" and not r["is_control_domain"]
        )
        return {"makespan": real * speed, "real_seconds": real, "running": running}
    finally:
        sim.stop()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--vapps", type=int, default=100)
    ap.add_argument("--dr-hosts", type=int, default=8)
    ap.add_argument("--workers", type=int, default=4, help="VM boots at once per DR host")
    ap.add_argument("--speed", type=float, default=10.0, help="simulated s per real s (engine)")
    ap.add_argument("--xc-speed", type=float, default=100.0, help="... for the XenCenter run")
    ap.add_argument("--recover", type=int, default=8, help="recoveries in flight at once")
    ap.add_argument(
        "--starts",
        type=int,
        default=64,
        help="starts in flight at once (a start also holds its task through its start_delay)",
    )
    ap.add_argument("--skip-xencenter", action="store_true")
    args = ap.parse_args()

    toml = scenario(args.vapps, args.dr_hosts, args.workers)
    capacity = args.dr_hosts * args.workers
    bound = lower_bound(args.vapps, args.dr_hosts, args.workers)
    print(
        f"estate: {args.vapps} vApps x {sum(c for _, c, _, _ in GROUPS)} VMs, "
        f"DR capacity {capacity} boots at once ({args.dr_hosts} hosts x {args.workers})"
    )
    print(
        f"lower bound: critical path {bound['critical_path']:.0f} s, "
        f"work bound {bound['work_bound']:.0f} s -> {bound['lower_bound']:.0f} s"
    )

    eng = engine_failover(toml, args.speed, args.starts, args.recover)
    ratio = eng["makespan"] / bound["lower_bound"]
    print(f"engine failover: {eng['state']}, {eng['outcomes']}")
    print(f"  phases (simulated s from the start): {eng['phases']}")
    print(
        f"  makespan (first side effect to last VM started) {eng['makespan']:.0f} s simulated; "
        f"whole run {eng['run_seconds']:.0f} s ({eng['real_seconds']:.1f} s real at speed "
        f"{args.speed:g})"
    )
    print(f"  ratio of makespan to lower bound {ratio:.3f} (target <= 1.15)")
    print(
        f"  XAPI calls {eng['calls']} = {eng['calls'] / eng['vms']:.2f} per VM; "
        f"top: {eng['calls_by_method']}"
    )

    estimate = xencenter_estimate(args.vapps, args.dr_hosts)
    if args.skip_xencenter:
        print(
            f"XenCenter-style (model estimate only): {estimate:.0f} s -> "
            f"{estimate / eng['makespan']:.1f}x slower"
        )
        return
    xc = xencenter_failover(toml, args.xc_speed)
    print(
        f"XenCenter-style failover: {xc['makespan']:.0f} s simulated ({xc['real_seconds']:.1f} s "
        f"real at speed {args.xc_speed:g}), {xc['running']} VMs running; "
        f"model estimate {estimate:.0f} s"
    )
    print(f"  speed-up of the engine: {xc['makespan'] / eng['makespan']:.1f}x (target >= 10x)")


if __name__ == "__main__":
    main()
