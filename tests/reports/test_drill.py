"""The scheduled drill against the demo simulator: pre-approved and audited as the system
actor, run through the engine; its report's figures are the store's records, its charts carry
the expected series, and it is posted with its files in the thread."""

from __future__ import annotations

import json
from datetime import datetime

import numpy as np
import pytest
from slack_sdk.errors import SlackApiError

from bot.reports import messages as m
from bot.reports.blocks import check_message
from bot.reports.charts import png, rto_figure
from bot.reports.config import DrillConfig
from bot.reports.drill import run_drill
from bot.reports.drill_report import drill_files, drill_message, publish_drill
from bot.reports.export import vm_csv
from bot.reports.measure import drill_report, drill_trend
from tests.reports.conftest import REPORTS

DRILL = DrillConfig(scope="all", disable_ha=True, power="start-paused")


def _expected_rto_running(store, run_id: int) -> dict[str, float]:
    """Seconds from the journaled RTO start to each VM's recorded start, read straight from
    the store's rows."""
    (mark,) = [
        r
        for r in store.db["steps"].rows_where("run_id = ? and key = ?", [run_id, "mark:rto-start"])
    ]
    start = datetime.fromisoformat(json.loads(mark["result_json"])["at"])
    (run,) = list(store.db["runs"].rows_where("id = ?", [run_id]))
    outcome = json.loads(run["outcome_json"])
    return {
        o["name"]: (datetime.fromisoformat(o["started_at"]) - start).total_seconds()
        for o in outcome["vms"].values()
        if o.get("started_at")
    }


def test_drill_is_preapproved_audited_and_measured_from_the_store(demo_ops):
    """The drill runs as the system actor after a DrillPreApproved entry bound to its plan
    hash; the report's RTO per VM and per vApp are the store's timestamps, the run's RTO is
    the drill row's, and cleanup is verified."""
    started = run_drill(demo_ops, DRILL)
    assert started.blocked == ""
    assert started.run_id is not None
    store = demo_ops.store
    run = store.runs.get(started.run_id)
    assert run.requested_by == m.DRILL_ACTOR
    approvals = [e for e in store.audit.entries() if e["event_type"] == "DrillPreApproved"]
    assert len(approvals) == 1
    assert approvals[0]["actor"] == m.DRILL_ACTOR
    assert approvals[0]["payload"]["plan_hash"] == run.plan_hash
    assert store.audit.verify()

    report = drill_report(store, started.run_id, rto_target_seconds=600)
    expected = _expected_rto_running(store, started.run_id)
    measured = {v.name: v.rto_running_seconds for v in report.vms if v.started}
    assert measured == expected
    (drill_row,) = list(store.db["drills"].rows_where("run_id = ?", [started.run_id]))
    assert report.rto_seconds == drill_row["rto_seconds"]
    for app in report.appliances:
        members = [v.name for v in report.vms if (v.appliance or "(standalone VMs)") == app.name]
        times = [expected[n] for n in members if n in expected]
        assert app.rto_seconds == (max(times) if times else None)
    assert report.cleanup_verified
    assert report.state == run.state
    statuses = {v.status for v in report.vms}
    assert "started-paused" in statuses
    # The demo estate has traps: whatever did not start is listed with its status.
    failed = {v.name for v in report.vms if v.status != "started-paused"}
    assert {v.name for v in report.failed_vms} == failed


def test_drill_report_chart_has_the_runs_series_and_is_a_png(demo_ops):
    """The RTO chart's bars are the report's vApp RTOs, the target line is at the target, the
    trend has the drills of the store; the PNG is a real PNG of the figure's size."""
    for _ in range(2):
        run_drill(demo_ops, DRILL)
    store = demo_ops.store
    trend = drill_trend(store, "prod", limit=12)
    assert len(trend) == 2
    report = drill_report(store, trend[-1].run_id, rto_target_seconds=600)
    fig = rto_figure(report, trend)
    (bars,) = [ax for ax in fig.axes if ax.get_gid() == "rto-per-vapp"]
    widths = {
        label.get_text(): patch.get_width()
        for label, patch in zip(bars.get_yticklabels(), bars.patches, strict=True)
    }
    assert widths == {a.name: a.rto_seconds for a in report.appliances if a.rto_seconds}
    target_x = [line.get_xdata()[0] for line in bars.get_lines() if line.get_linestyle() == "--"]
    assert target_x == [600]
    (trend_ax,) = [ax for ax in fig.axes if ax.get_gid() == "rto-trend"]
    series = trend_ax.get_lines()[0]
    assert np.allclose(series.get_ydata(), [p.rto_seconds for p in trend])
    data = png(fig)
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")
    assert (width, height) == tuple(int(v) for v in fig.get_size_inches() * fig.dpi)


def test_drill_report_is_posted_with_charts_and_csv_in_its_thread(demo_ops, slack, poster):
    """The summary goes to the channel; the RTO chart, RPO chart and CSV are uploaded in its
    thread with files_upload_v2 (channel_id and thread_ts on files.completeUploadExternal)."""
    started = run_drill(demo_ops, DRILL)
    store = demo_ops.store
    report = drill_report(store, started.run_id, rto_target_seconds=600)
    text, blocks = drill_message(report)
    check_message(text, blocks)
    files = drill_files(report, drill_trend(store, "prod"), [], 35, 300)
    ts = publish_drill(poster, REPORTS, report, files)
    (summary,) = slack.record.entries(channel=REPORTS, kind="message")
    assert summary.ts == ts
    assert f"DR drill #{started.run_id}" in summary.text
    files = slack.record.entries(channel=REPORTS, kind="file")
    assert [f.thread_ts for f in files] == [ts, ts, ts]
    stored = [slack.world.files[f.files[0]] for f in files]
    assert [f.name for f in stored] == [
        f"drill-{started.run_id}-rto.png",
        f"drill-{started.run_id}-rpo.png",
        f"drill-{started.run_id}-vms.csv",
    ]
    completes = slack.calls("files.completeUploadExternal")
    assert all(c.args.get("thread_ts") == ts for c in completes)
    assert stored[0].content[:8] == stored[1].content[:8] == b"\x89PNG\r\n\x1a\n"
    assert stored[2].content == vm_csv(report)
    assert len(stored[2].content.decode().splitlines()) == 1 + len(report.vms)


def test_blocked_drill_does_not_run_and_says_why(demo_ops):
    """With HA on at the DR pool and disable_ha off, the plan is blocked: no run, a
    DrillBlocked audit entry, and the blocker named."""
    started = run_drill(demo_ops, DrillConfig(scope="all", disable_ha=False))
    assert started.run_id is None
    assert "ha" in started.blocked
    assert demo_ops.store.runs.list() == []
    (blocked,) = [e for e in demo_ops.store.audit.entries() if e["event_type"] == "DrillBlocked"]
    assert blocked["actor"] == m.DRILL_ACTOR


def test_sample_scope_rotates_through_every_vapp(demo_ops):
    """A sample of 4 of the demo's 6 vApps drills 4, then the other 2 and the first 2 again."""
    config = DrillConfig(scope="sample", sample_size=4, disable_ha=True)
    first = run_drill(demo_ops, config)
    second = run_drill(demo_ops, config)
    apps = ["crm", "directory", "erp", "monitoring", "payments", "web-shop"]
    assert first.target.split(",") == apps[:4]
    assert second.target.split(",") == apps[4:] + apps[:2]


def test_upload_where_the_bot_is_not_a_member_fails_loudly(slack, poster):
    """In #general (public, the bot not a member) the summary posts (chat:write.public) but
    the chart upload is refused with not_in_channel, and the poster raises it (so the job is
    recorded failed rather than reporting half a report as posted)."""

    general = slack.endpoints()["channels"]["general"]
    ts = poster.post(
        general, "drill", [{"type": "section", "text": {"type": "mrkdwn", "text": "x"}}]
    )
    with pytest.raises(SlackApiError, match="not_in_channel"):
        poster.upload(general, ts, "rto.png", b"\x89PNG\r\n\x1a\n", "RTO")
