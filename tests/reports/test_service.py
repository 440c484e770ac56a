"""The scheduled reports end to end: the scheduler, on a clock the test moves, runs the
readiness check against the demo simulator and the Monday drill, whose report lands in
sim/slack with its charts and CSV in the thread; `/dr status` lines show last and next runs."""

from __future__ import annotations

from datetime import UTC, datetime

from bot.reports.config import DrillConfig, ReportsConfig
from bot.reports.service import build_scheduler, status_lines
from engine.clock import ManualClock
from tests.reports.conftest import AUDIT, REPORTS


def test_monday_drill_and_readiness_checks_post_to_slack(demo_ops, slack, poster):
    """Sunday 23:58 to Monday 02:13 (Paris): readiness checks keep samples and post one alert
    for the demo's degraded pool; at 02:00 the drill runs once and its report is posted with
    three files in its thread; the status lines give the next drill a week later."""
    config = ReportsConfig(
        timezone="Europe/Paris",
        channel=REPORTS,
        audit_channel=AUDIT,
        rto_target_seconds=600,
        drill=DrillConfig(scope="all", disable_ha=True),
    )
    clock = ManualClock(datetime(2026, 3, 1, 22, 58, tzinfo=UTC))  # Sunday 23:58 CET
    scheduler = build_scheduler(demo_ops, poster, config, clock)
    scheduler.tick()
    for _ in range(135):  # to 01:13 UTC = 02:13 CET, a tick a minute
        clock.advance(60)
        scheduler.tick()
    store = demo_ops.store
    assert len(store.history.samples("prod")) >= 14
    drills = store.history.runs("drill")
    assert [(r["due_at"], r["status"]) for r in drills] == [
        (datetime(2026, 3, 2, 1, 0, tzinfo=UTC), "succeeded")
    ]
    messages = slack.record.entries(channel=REPORTS, kind="message")
    alerts = [e for e in messages if "readiness dropped" in e.text]
    assert len(alerts) == 1
    (report,) = [e for e in messages if e.text.startswith("DR drill #")]
    files = slack.record.entries(channel=REPORTS, kind="file")
    assert [f.thread_ts for f in files] == [report.ts] * 3
    lines = status_lines(scheduler.status(), config)
    (drill_line,) = [line for line in lines if line.startswith("drill:")]
    assert drill_line.startswith("drill: next Mon 09 Mar 02:00 CET; last Mon 02 Mar 02:00 CET")
