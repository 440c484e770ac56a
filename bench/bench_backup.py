"""Benchmark: `drbot store backup` of a large store while the bot writes (figures printed,
nothing asserted).

A store is filled through the store's API with audit entries carrying run-sized payloads
(about `--mb` megabytes); a writer thread then keeps appending audit entries (each one write
transaction, as the bot does) while the store is copied with SQLite's online backup API. It
prints the store's size, the time the copy took, and the writer's transaction latency before
and during the copy: the copy must not hold the bot up.

    .venv/bin/python bench/bench_backup.py [--mb 100]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from store import open_store
from store.backup import backup

PAYLOAD = {"plan": "x" * 4000}  # about a run's plan summary


def _fill(path: Path, megabytes: int) -> None:
    with open_store(path) as store:
        while path.stat().st_size < megabytes * 1024 * 1024:
            with store.conn.write():
                for n in range(200):
                    store.audit.append("Filled", "bench", {**PAYLOAD, "n": n})


def _writer(path: Path, stop: threading.Event, latencies: list[float]) -> None:
    with open_store(path) as store:
        while not stop.is_set():
            started = time.perf_counter()
            store.audit.append("Tick", "bench", {"at": started})
            latencies.append(time.perf_counter() - started)
            time.sleep(0.005)  # a busy bot, not a tight loop


def _p(values: list[float], q: float) -> float:
    return statistics.quantiles(values, n=100)[int(q) - 1] * 1000 if len(values) > 2 else 0.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mb", type=int, default=100)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "drbot.db"
        started = time.perf_counter()
        _fill(path, args.mb)
        filled = time.perf_counter() - started
        print(f"store: {path.stat().st_size / 1e6:.0f} MB filled in {filled:.1f} s")
        stop, latencies = threading.Event(), []
        writer = threading.Thread(target=_writer, args=(path, stop, latencies))
        writer.start()
        time.sleep(1.0)
        before = list(latencies)
        mark = len(latencies)
        started = time.perf_counter()
        info = backup(path, Path(tmp) / "copy.db")
        took = time.perf_counter() - started
        during = latencies[mark:]
        stop.set()
        writer.join()
        print(
            f"backup: {info.bytes / 1e6:.0f} MB, {info.audit_entries} audit entries, {took:.2f} s "
            f"(copy, integrity check, fsync, rename)"
        )
        print(
            f"writer before the copy: {len(before)} writes, p50 {_p(before, 50):.1f} ms, "
            f"p99 {_p(before, 99):.1f} ms"
        )
        print(
            f"writer during the copy: {len(during)} writes, p50 {_p(during, 50):.1f} ms, "
            f"p99 {_p(during, 99):.1f} ms, max {max(during, default=0) * 1000:.1f} ms"
        )


if __name__ == "__main__":
    main()
