"""Benchmark: building the report of a 1,000-VM drill (figures printed, nothing asserted).

A finished test failover of 1,000 VMs in 100 vApps (150 failed to start) and 30 days of
readiness samples every 5 minutes for 3 pools (25,920 samples) are written into a real SQLite
store through the store's API, as the engine and the readiness checks write them; then each
step of the report is timed: reading the figures from the store, the Slack message (checked
against Slack's limits), the RTO chart, reading the history and the RPO chart, the CSV and the
HTML page.

    .venv/bin/python bench/bench_reports.py [--vms 1000] [--apps 100] [--repeat 3]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bot.reports.blocks import check_message, json_size
from bot.reports.charts import png, rpo_figure, rto_figure
from bot.reports.drill_report import drill_message
from bot.reports.export import html_page, vm_csv
from bot.reports.measure import drill_report, drill_trend
from bot.reports.models import PoolReadiness
from bot.reports.readiness import record, rpo_series
from engine.clock import ManualClock
from store import open_store
from tests.reports.synthetic import record_drill


def timed(label: str, fn: Callable[[], Any], repeat: int) -> Any:
    times, result = [], None
    for _ in range(repeat):
        start = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - start)
    print(f"  {label:<44} {statistics.median(times) * 1000:9.1f} ms (median of {repeat})")
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--vms", type=int, default=1000)
    parser.add_argument("--apps", type=int, default=100)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        clock = ManualClock(datetime(2026, 3, 1, tzinfo=UTC))
        store = open_store(Path(tmp) / "drbot.db", now=clock.now)
        start = clock.now()
        print(f"setup: 30 days of readiness samples, 11 drills of {args.vms // 10} VMs ...")
        for i in range(30 * 24 * 12):
            at = start + timedelta(minutes=5 * i)
            record(
                store,
                [
                    PoolReadiness(
                        pool=p,
                        verdict="ready",
                        at=at,
                        lag_seconds=30 + (i % 50),
                        metadata_age_seconds=60 + (i % 90),
                    )
                    for p in ("prod", "erp", "web")
                ],
            )
        for seed in range(11):
            record_drill(store, clock, vms=args.vms // 10, apps=args.apps // 10, seed=seed)
        written = record_drill(store, clock, vms=args.vms, apps=args.apps, failures=150)
        print(f"report of a drill of {args.vms} VMs in {args.apps} vApps:")
        report = timed(
            "figures from the store (drill_report)",
            lambda: drill_report(store, written.run_id, 600),
            args.repeat,
        )
        text, blocks = timed("Slack message", lambda: drill_message(report), args.repeat)
        timed("  checked (slack_sdk models + limits)", lambda: check_message(text, blocks), 1)
        trend = drill_trend(store, "dr", 12)
        rto_png = timed(
            "RTO chart (figure + PNG)", lambda: png(rto_figure(report, trend)), args.repeat
        )
        samples = timed(
            "30 days of samples, worst per hour (store)",
            lambda: rpo_series(store, clock.now() - timedelta(days=35)),
            args.repeat,
        )
        rpo_png = timed(
            "RPO chart (figure + PNG)", lambda: png(rpo_figure(samples, 35, 300)), args.repeat
        )
        csv = timed("per-VM CSV", lambda: vm_csv(report), args.repeat)
        page = timed("HTML page", lambda: html_page(report, rto_png, rpo_png), args.repeat)
        print(
            f"message: {len(blocks)} blocks, {json_size(blocks)} chars of JSON; "
            f"RTO chart {len(rto_png) // 1024} KiB, RPO chart {len(rpo_png) // 1024} KiB "
            f"({len(samples)} samples), CSV {len(csv) // 1024} KiB, HTML {len(page) // 1024} KiB"
        )
        store.close()


if __name__ == "__main__":
    main()
