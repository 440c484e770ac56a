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


def test_start_reports_needs_a_channel_and_gives_the_next_drill(store, clock, slack):
    """Without [reports] channel nothing is scheduled; with the double's channels (the section
    written for the simulators) the scheduler runs and the next drill is Monday 02:00 local."""
    from slack_sdk import WebClient

    from bot.reports.config import for_simulators
    from bot.reports.service import next_run, start_reports
    from commands.wiring import Wiring
    from engine.config import EngineConfig

    endpoints = slack.endpoints()
    client = WebClient(token=endpoints["bot_token"], base_url=endpoints["api_url"])
    wiring = Wiring(EngineConfig(pools={}), store.path, clock=clock)
    try:
        assert start_reports(wiring, client, ReportsConfig(), clock) is None
        config = ReportsConfig.model_validate(
            {**for_simulators(endpoints["channels"]), "timezone": "Europe/Paris"}
        )
        assert config.channel == REPORTS
        assert config.drill.disable_ha
        scheduler = start_reports(wiring, client, config, clock)
        assert scheduler is not None
        scheduler.shutdown()
        # clock: Monday 23 March 2026 12:00 UTC; the next Monday 02:00 CEST is 30 March 00:00 UTC
        assert next_run(store, config, "drill", clock.now()) == datetime(
            2026, 3, 30, 0, 0, tzinfo=UTC
        )
    finally:
        wiring.close()
