"""Benchmark of readiness for a big pool: cold from nothing, and warm from the followed inventory.

The simulator serves a generated estate (`sim.xapi.generator`, default 10,000 VMs at the primary
site, a quarter of them in vApps) from a separate process, so the figures are the engine's own
cost plus the wire, not the simulator's work sharing one GIL with it. Measured:

- cold: connect to both pools, load both inventories (one `get_all_records` per class over
  JSON-RPC), read replication state, assess: target <= 3 s, with a round-trip count that does
  not depend on the pool's size (also measured on a 100-VM estate to show it);
- warm: both inventories follow `event.from`; assess again from memory: target <= 200 ms, with
  the pool quiet (the per-VM view is memoised per inventory generation) and just after a change
  (a VM renamed: its row recomputed, the others reused, the view rebuilt);
- freshness: a change made at the pool, seen by the followed inventory (event latency).

Run: `python bench/bench_readiness.py [--vms 10000] [--repeat 5]`. Prints the figures.
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bot.simconfig import from_sim_endpoints
from engine.inventory import Inventory
from engine.planner import PlanOptions, Site, plan
from engine.readiness import assess
from engine.storage.sim import SimStorageAdapter
from engine.xapi import XapiClient


def _serve(vms: int, conn: mp.connection.Connection) -> None:
    """Child process: run the simulator until the parent says stop."""
    from sim.xapi.generator import generate
    from sim.xapi.serve import start_sim

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / f"bench-{vms}.toml"
        path.write_text(generate(vms))
        handle = start_sim(path, speed=1000.0)
        conn.send(handle.endpoints)
        conn.recv()
        handle.stop()


class Sim:
    def __init__(self, vms: int) -> None:
        self.parent, child = mp.Pipe()
        self.proc = mp.get_context("spawn").Process(target=_serve, args=(vms, child), daemon=True)
        self.proc.start()
        self.endpoints = self.parent.recv()

    def stop(self) -> None:
        self.parent.send("stop")
        self.proc.join(30)


def cold(config, pair) -> tuple[float, int, object, list[XapiClient], dict[str, float]]:
    """One cold readiness; also returns where the time went (`PHASES`, seconds)."""
    t0 = time.perf_counter()
    prod_c = XapiClient.connect(config.pool(pair.protected))
    dr_c = XapiClient.connect(config.pool(pair.dr))
    t_connected = time.perf_counter()
    prod = Site(pair.protected, Inventory.load(prod_c), site=config.pool(pair.protected).site)
    dr = Site(pair.dr, Inventory.load(dr_c), site=config.pool(pair.dr).site)
    t_loaded = time.perf_counter()
    storage = SimStorageAdapter(config.storage.control_url)
    result = assess(pair, protected=prod, dr=dr, storage=storage)
    elapsed = time.perf_counter() - t0
    trips = prod_c.calls + dr_c.calls
    loads = (prod.inventory.load_seconds, dr.inventory.load_seconds)
    phases = {
        "connect": t_connected - t0,
        "fetch": sum(ld["fetch"] for ld in loads),
        "convert": sum(ld["convert"] for ld in loads),
        "assess": t0 + elapsed - t_loaded,
    }
    return elapsed, trips, (prod, dr, storage, result), [prod_c, dr_c], phases


# Where cold time goes: log in, fetch (round trips, the server's work, JSON parsing), convert
# (records to models), assess (storage state and readiness' own work).
PHASES = ("connect", "fetch", "convert", "assess")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--vms", type=int, default=10_000)
    ap.add_argument("--repeat", type=int, default=5)
    args = ap.parse_args()

    small = Sim(100)
    try:
        cfg = from_sim_endpoints(small.endpoints)
        _, small_trips, _, clients, _ = cold(cfg, cfg.pairs[0])
        for c in clients:
            c.close()
    finally:
        small.stop()

    big = Sim(args.vms)
    try:
        cfg = from_sim_endpoints(big.endpoints)
        pair = cfg.pairs[0]
        colds = []
        phases: dict[str, list[float]] = {p: [] for p in PHASES}
        for i in range(args.repeat):
            elapsed, trips, state, clients, spent = cold(cfg, pair)
            colds.append(elapsed)
            for p in PHASES:
                phases[p].append(spent[p])
            if i < args.repeat - 1:
                for c in clients:
                    c.close()
        prod, dr, storage, result = state
        n_vms = len(result.vms)

        prod.inventory.follow(poll_seconds=5)
        dr.inventory.follow(poll_seconds=5)
        warms = []
        for _ in range(args.repeat):
            t0 = time.perf_counter()
            prod.reachable = prod.inventory.last_error is None
            dr.reachable = dr.inventory.last_error is None
            assess(pair, protected=prod, dr=dr, storage=storage)
            warms.append(time.perf_counter() - t0)

        # Freshness and warm-after-change: rename VMs through XAPI, wait for the follower to
        # see each change, then assess (the per-VM view is rebuilt after every change).
        changed = []
        fresh = []
        seen = True
        for i, vm in enumerate(prod.inventory.real_vms()[: args.repeat]):
            name = f"renamed-by-bench-{i}"
            t0 = time.perf_counter()
            clients[0].call("VM.set_name_label", vm.ref, name)
            seen = seen and prod.inventory.wait_for(
                lambda inv, ref=vm.ref, name=name: inv.vms[ref].name_label == name, timeout=30
            )
            fresh.append(time.perf_counter() - t0)
            t0 = time.perf_counter()
            assess(pair, protected=prod, dr=dr, storage=storage)
            changed.append(time.perf_counter() - t0)
        # A plan of everything from the same memory (no side effects; for scale).
        t0 = time.perf_counter()
        whole = plan(
            "test-failover",
            "all",
            source=prod,
            dest=dr,
            storage=storage,
            options=PlanOptions(disable_ha=True, network_map=dict(pair.network_map)),
        )
        plan_seconds = time.perf_counter() - t0
        prod.inventory.stop()
        dr.inventory.stop()
        for c in clients:
            c.close()
    finally:
        big.stop()

    print(f"readiness of a {n_vms}-VM pool ({result.verdict}, {len(result.reasons)} reasons)")
    print(
        "  cold (connect + load both inventories + assess): "
        f"median {statistics.median(colds):.2f} s, best {min(colds):.2f} s (target <= 3 s)"
    )
    print(
        "  cold, where the time goes (medians): "
        + ", ".join(f"{p} {statistics.median(phases[p]):.2f} s" for p in PHASES)
    )
    print(f"  XAPI round trips, cold: {trips} at {n_vms} VMs, {small_trips} at 100 VMs")
    print(
        f"  warm, pool quiet (from the event-fed inventory): median "
        f"{statistics.median(warms) * 1000:.0f} ms, worst {max(warms) * 1000:.0f} ms "
        "(target <= 200 ms)"
    )
    print(
        f"  warm, just after a change (changed VM's row recomputed): median "
        f"{statistics.median(changed) * 1000:.0f} ms, worst {max(changed) * 1000:.0f} ms"
    )
    print(
        f"  a change seen by the follower after {statistics.median(fresh) * 1000:.0f} ms "
        f"(median; all seen: {seen})"
    )
    print(
        f"  plan of a test failover of all {len(whole.vms)} VMs from memory: "
        f"{plan_seconds:.2f} s ({len(whole.appliances)} vApps, {len(whole.checks)} checks)"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
