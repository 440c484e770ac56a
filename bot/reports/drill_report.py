"""The drill report in Slack: a summary message (pass or fail, RTO against the target, what
failed and why) and, in its thread, the RTO chart, the RPO chart and the per-VM CSV.

The message stays within Slack's limits whatever the size of the drill: the failed VMs and the
vApps over the target are listed as far as they fit and counted after that; every VM is in
the CSV.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from bot.reports import messages as m
from bot.reports.blocks import Blocks, context, header, listing, section
from bot.reports.charts import png, rpo_figure, rto_figure
from bot.reports.export import vm_csv
from bot.reports.models import DrillPoint, DrillReport, PoolReadiness
from bot.reports.poster import Poster
from bot.reports.units import duration

LIST_CHARS = 2800  # of a section's 3,000, leaving room for its heading


def drill_message(report: DrillReport) -> tuple[str, Blocks]:
    """The summary message of a drill (text for notifications, and blocks)."""
    verdict = m.DRILL_PASS if report.passed else m.DRILL_FAIL
    icon = ":white_check_mark:" if report.passed else ":x:"
    rto = duration(report.rto_seconds)
    target = duration(report.rto_target_seconds)
    text = m.DRILL_TEXT.format(run_id=report.run_id, verdict=verdict, rto=rto, target=target)
    blocks: Blocks = [
        header(m.DRILL_TITLE.format(run_id=report.run_id, verdict=verdict)),
        section(
            f"{icon} "
            + m.DRILL_SUMMARY.format(
                target=report.target,
                source=report.source_pool,
                dest=report.dest_pool,
                vms=len(report.vms),
                apps=sum(1 for a in report.appliances),
                rto=rto,
                target_rto=target,
                rpo=duration(report.rpo_seconds),
                age=duration(report.metadata_age_seconds),
                cleanup=m.CLEANUP_VERIFIED if report.cleanup_verified else m.CLEANUP_NOT,
            )
        ),
        context(
            m.DRILL_COUNTS.format(
                recovered=sum(1 for v in report.vms if v.recovered),
                started=sum(1 for v in report.vms if v.started),
                vms=len(report.vms),
                failed=len(report.failed_vms),
            )
        ),
    ]
    if not report.passed and report.reason:
        blocks.append(section(m.DRILL_WHY.format(reason=report.reason)))
    slow = [a for a in report.appliances if not a.within_target]
    if slow:
        names = [f"{a.name} ({duration(a.rto_seconds)})" for a in slow]
        blocks.append(section(m.DRILL_SLOW_APPS.format(names=listing(names, LIST_CHARS))))
    failed = report.failed_vms
    if failed:
        lines = [
            f"• {v.name}"
            + (f" ({v.appliance})" if v.appliance else "")
            + f": {v.status}"
            + (f": {v.error}" if v.error else "")
            for v in failed
        ]
        blocks.append(section(m.DRILL_FAILED_VMS + "\n" + listing(lines, LIST_CHARS)))
    blocks.append(context(m.DRILL_DETAIL))
    return text, blocks


@dataclass(frozen=True)
class ReportFile:
    """One file of a drill report: what Slack and the local report both get."""

    filename: str
    content: bytes
    title: str
    comment: str = ""


def drill_files(
    report: DrillReport,
    trend: Sequence[DrillPoint],
    samples: Sequence[PoolReadiness],
    history_days: int,
    rpo_target_seconds: float,
) -> list[ReportFile]:
    """The RTO chart, the RPO chart (PNG) and the per-VM CSV of a drill."""
    run = report.run_id
    return [
        ReportFile(
            f"drill-{run}-rto.png",
            png(rto_figure(report, trend)),
            m.CHART_RTO_TITLE.format(run_id=run),
            m.CHART_RTO_COMMENT.format(target=duration(report.rto_target_seconds)),
        ),
        ReportFile(
            f"drill-{run}-rpo.png",
            png(rpo_figure(samples, history_days, rpo_target_seconds)),
            m.CHART_RPO_TITLE.format(days=history_days),
            m.CHART_RPO_COMMENT,
        ),
        ReportFile(f"drill-{run}-vms.csv", vm_csv(report), m.CSV_COMMENT.format(run_id=run)),
    ]


def publish_drill(
    poster: Poster, channel: str, report: DrillReport, files: Sequence[ReportFile]
) -> str:
    """Post the summary, then the files in its thread; returns the thread's ts."""
    text, blocks = drill_message(report)
    ts = poster.post(channel, text, blocks)
    for f in files:
        poster.upload(channel, ts, f.filename, f.content, f.title, f.comment)
    return ts
