"""Benchmark of sim/xapi's protocol core: big reads, call rate, event latency, memory.

Builds a pool of 10,000 VMs (realistic records of ~88 fields, plus their metrics, disks
and NICs) in this process, serves it on loopback, and measures:
- `VM.get_all_records` served to the last byte over XML-RPC and JSON-RPC, timed by a client
  that reads the raw response without parsing it (target <= 2 s each), cold and warm;
- simple calls per second with 32 concurrent keep-alive clients (target >= 500/s), the
  clients in separate processes so they do not share the server's GIL;
- `event.from` round trip: a write seen by a waiting `event.from` (includes the ~50 ms
  XAPI-style coalescing), and an `event.from` that has events at once;
- resident memory of the simulator process with the 10,000 VMs (target <= 500 MB).

Run: `python bench/bench_sim_xapi.py [--vms 10000] [--clients 32] [--seconds 5]`.
Prints the figures and exits 0.
"""

from __future__ import annotations

import argparse
import http.client
import json
import multiprocessing as mp
import sys
import threading
import time
import xmlrpc.client
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import XenAPI

from sim.xapi.server import serve_pools
from tests.sim_xapi.core_support import CorePool, build_pool, loopback_block


def rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def raw_post(host: str, port: int, path: str, body: bytes, ctype: str) -> tuple[float, int]:
    """Seconds to send `body` and read the whole response without parsing it; bytes read."""
    conn = http.client.HTTPConnection(host, port, timeout=120)
    t0 = time.perf_counter()
    conn.request("POST", path, body, {"Content-Type": ctype})
    resp = conn.getresponse()
    n = 0
    while chunk := resp.read(1 << 20):
        n += len(chunk)
    elapsed = time.perf_counter() - t0
    conn.close()
    return elapsed, n


def _parse_all(url: str, session: str, out: mp.Queue) -> None:
    s = XenAPI.Session(url)
    s._session = session
    t0 = time.perf_counter()
    n = len(s.xenapi.VM.get_all_records())
    out.put((n, time.perf_counter() - t0))


def _client_proc(url: str, threads: int, seconds: float, start_at: float, out: mp.Queue) -> None:
    counts = [0] * threads
    errors = [0] * threads

    def worker(i: int) -> None:
        s = XenAPI.Session(url)
        s.xenapi.login_with_password("operator", "oppw", "2.0", "bench")
        pool = s.xenapi.pool.get_all()[0]
        while time.time() < start_at:
            time.sleep(0.005)
        end = start_at + seconds
        while time.time() < end:
            try:
                s.xenapi.pool.get_master(pool)
                counts[i] += 1
            except Exception:
                errors[i] += 1
        s.xenapi.session.logout()

    ts = [threading.Thread(target=worker, args=(i,)) for i in range(threads)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    out.put((sum(counts), sum(errors)))


def call_rate(url: str, clients: int, seconds: float) -> tuple[float, int]:
    ctx = mp.get_context("spawn")
    procs_n = min(4, clients)
    per = [clients // procs_n + (1 if i < clients % procs_n else 0) for i in range(procs_n)]
    q: mp.Queue = ctx.Queue()
    start_at = time.time() + 3.0  # time for the processes to start and log in
    procs = [
        ctx.Process(target=_client_proc, args=(url, n, seconds, start_at, q)) for n in per if n
    ]
    for p in procs:
        p.start()
    total = errors = 0
    for _ in procs:
        c, e = q.get(timeout=seconds + 120)
        total += c
        errors += e
    for p in procs:
        p.join()
    return total / seconds, errors


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--vms", type=int, default=10_000)
    ap.add_argument("--clients", type=int, default=32)
    ap.add_argument("--seconds", type=float, default=5.0)
    args = ap.parse_args()

    rss0 = rss_mb()
    addresses = loopback_block(2)
    t0 = time.perf_counter()
    db, refs = build_pool(addresses, vms=args.vms)
    built = time.perf_counter() - t0
    vm_fields = len(db.get("VM", refs["vms"][0]))
    print(
        f"pool built: {db.count('VM')} VM records ({vm_fields} fields each) in {built:.1f} s;"
        f" resident {rss_mb():.0f} MB"
    )
    pool = CorePool(db, addresses)
    servers = serve_pools([pool], auth_failure_delay=0)
    host, port = addresses[0], servers.port
    url = servers.url_for(host)
    try:
        s = XenAPI.Session(url)
        s.xenapi.login_with_password("root", "rootpw", "2.0", "bench")
        session = s._session
        xml_body = xmlrpc.client.dumps((session,), "VM.get_all_records").encode()
        json_body = json.dumps(
            {"jsonrpc": "2.0", "method": "VM.get_all_records", "params": [session], "id": 1}
        ).encode()
        for label, path, body, ctype in [
            ("XML-RPC ", "/", xml_body, "text/xml"),
            ("JSON-RPC", "/jsonrpc", json_body, "application/json"),
        ]:
            cold, n = raw_post(host, port, path, body, ctype)
            warm, _ = raw_post(host, port, path, body, ctype)
            print(
                f"VM.get_all_records {label}: {n / 1e6:.1f} MB, cold {cold:.2f} s,"
                f" warm {warm:.2f} s (target <= 2 s); resident {rss_mb():.0f} MB"
            )
        # In another process, so that its millions of parsed objects do not count as ours.
        ctx = mp.get_context("spawn")
        q: mp.Queue = ctx.Queue()
        proc = ctx.Process(target=_parse_all, args=(url, session, q))
        proc.start()
        n, seconds = q.get(timeout=300)
        proc.join()
        print(f"  (for scale: the stock XenAPI client parsing {n} records: {seconds:.2f} s)")

        logged_before = servers.call_log.last_seq
        rate, errors = call_rate(url, args.clients, args.seconds)
        logged = servers.call_log.last_seq - logged_before
        print(
            f"simple calls: {rate:.0f} calls/s with {args.clients} keep-alive clients"
            f" in 4 processes, {errors} errors (target >= 500/s); the server logged {logged}"
            f" calls in all (logins included); resident {rss_mb():.0f} MB"
        )

        vm = refs["vms"][0]
        token = getattr(s.xenapi.event, "from")(["vm/" + vm], "", 0.0)["token"]
        latencies = []
        for i in range(10):
            done = threading.Event()
            got: dict = {}

            def waiter(tok: str = token, got: dict = got, done: threading.Event = done) -> None:
                w = XenAPI.Session(url)
                w._session = session
                got["r"] = w.xenapi.event.__getattr__("from")(["vm/" + vm], tok, 10.0)
                got["t"] = time.perf_counter()
                done.set()

            th = threading.Thread(target=waiter)
            th.start()
            time.sleep(0.1)
            t_write = time.perf_counter()
            s.xenapi.VM.set_name_description(vm, f"bench {i}")
            done.wait(15)
            th.join()
            latencies.append(got["t"] - t_write)
            token = got["r"]["token"]
        latencies.sort()
        print(
            f"event.from round trip (write -> waiting client returns, incl. 50 ms coalescing):"
            f" median {latencies[len(latencies) // 2] * 1000:.0f} ms,"
            f" max {latencies[-1] * 1000:.0f} ms"
        )
        t0 = time.perf_counter()
        for _ in range(20):
            getattr(s.xenapi.event, "from")(["task"], "", 0.0)
        print(
            f"event.from with nothing to wait for: {(time.perf_counter() - t0) / 20 * 1000:.1f} ms"
        )
        s.xenapi.session.logout()
        rss = rss_mb()
        print(
            f"resident memory: {rss:.0f} MB with {db.count('VM')} VMs and warm caches"
            f" (interpreter and libraries alone: {rss0:.0f} MB; target <= 500 MB)"
        )
    finally:
        servers.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
