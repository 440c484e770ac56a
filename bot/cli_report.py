"""`drbot report drill [RUN | --last]`: a drill's report written locally, for people outside
Slack: the RTO chart and the RPO chart (PNG), the per-VM results (CSV) and one self-contained
HTML page with all of it. The same figures as the report posted in Slack, from the store."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Annotated

import typer

from bot.ops.options import ConfigOpt
from bot.ops.output import console, fail
from bot.ops.wiring import operating
from bot.reports import messages as m
from bot.reports.drill_report import drill_files, write_report
from bot.reports.measure import drill_report, drill_trend, last_drill_id
from bot.reports.readiness import rpo_series
from store import RunNotFound

app = typer.Typer(help="Write reports locally (PNG, CSV and a self-contained HTML page).")


@app.command("drill")
def drill(
    run: Annotated[int | None, typer.Argument(help="The run id of a drill (`drbot runs`).")] = None,
    last: Annotated[bool, typer.Option("--last", help="The newest drill (the default).")] = False,
    out: Annotated[
        Path, typer.Option("--out", "-o", help="Directory to write the files into.")
    ] = Path("."),
    config: ConfigOpt = None,
) -> None:
    """Write a drill's report: RTO and RPO charts, per-VM CSV and an HTML page."""
    if run is not None and last:
        raise fail(m.RUN_OR_LAST)
    with operating(config) as ops:
        store, reports = ops.store, ops.settings.reports
        run_id = run if run is not None else last_drill_id(store)
        if run_id is None:
            raise fail(m.NO_DRILLS)
        try:
            row = store.runs.get(run_id)
        except RunNotFound:
            raise fail(m.NO_SUCH_RUN.format(run_id=run_id)) from None
        if row.kind != "test-failover":
            raise fail(m.NOT_A_DRILL.format(run_id=run_id, kind=row.kind))
        report = drill_report(store, run_id, reports.rto_target_seconds)
        trend = drill_trend(store, report.source_pool, reports.trend_drills)
        since = (report.ended_at or ops.clock.now()) - timedelta(days=reports.history_days)
        files = drill_files(
            report,
            trend,
            rpo_series(store, since),
            reports.history_days,
            reports.rpo_target_seconds,
        )
    paths = write_report(report, files, out)
    console.print(
        m.WROTE.format(png=paths[0], rpo=paths[1], csv=paths[2], html=paths[3]), markup=False
    )
