"""The scheduled reports put together: the jobs (readiness check and summary, drill and its
report, audit digest and chain check) over the wiring, a poster and the `[reports]` section,
and the scheduler that runs them.

Example (what `drbot serve` does once the bot is up):
    scheduler = build_scheduler(ops, poster, settings.reports)
    scheduler.start()
    ...
    scheduler.shutdown()
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from slack_sdk import WebClient

from bot.reports import messages as m
from bot.reports.audit_digest import AuditReports
from bot.reports.blocks import section
from bot.reports.config import (
    AUDIT_DIGEST,
    AUDIT_VERIFY,
    DRILL,
    READINESS_CHECK,
    READINESS_SUMMARY,
    ReportsConfig,
)
from bot.reports.drill import DrillEngine, run_drill
from bot.reports.drill_report import ReportFile, drill_files, publish_drill, write_report
from bot.reports.measure import drill_report, drill_trend
from bot.reports.models import DrillReport
from bot.reports.poster import Poster, WebClientPoster
from bot.reports.probe import engine_probe
from bot.reports.readiness import ReadinessProbe, ReadinessReports, rpo_series
from bot.schedules import Job, Schedule, Scheduler, ScheduleStatus, statuses
from engine.clock import Clock, SystemClock
from store import Store

log = logging.getLogger(__name__)


class ReportJobs:
    """The jobs the schedules run, each taking its due time and returning a one-line outcome.

    Args:
        engine: the engine's wiring (`commands.wiring.Wiring`: store, plan, runner).
        poster: where the messages go.
        config: the `[reports]` section.
        probe: readiness per pool; by default the engine's, through `engine`.
    """

    def __init__(
        self,
        engine: DrillEngine,
        poster: Poster,
        config: ReportsConfig,
        probe: ReadinessProbe | None = None,
    ) -> None:
        self.engine = engine
        self.store = engine.store
        self.poster = poster
        self.config = config
        self.readiness = ReadinessReports(self.store, probe or engine_probe(engine), poster, config)
        self.audit = AuditReports(self.store, poster, config)

    def drill(self, due: datetime) -> str:
        """Run the drill and post its report (or why it could not run)."""
        started = run_drill(self.engine, self.config.drill)
        if started.run_id is None:
            self.poster.post(self.config.channel, started.blocked, [section(started.blocked)])
            return started.blocked
        return self.post_drill(started.run_id, due)

    def post_drill(self, run_id: int, now: datetime) -> str:
        """Post the report of the drill `run_id` with its charts and CSV in the thread."""
        report, _files, _ts = self.publish(run_id, now)
        verdict = m.DRILL_PASS if report.passed else m.DRILL_FAIL
        return f"drill run {run_id} {verdict}"

    def publish(self, run_id: int, now: datetime) -> tuple[DrillReport, list[ReportFile], str]:
        """Post the report of the drill `run_id`; returns it, its files and its thread's ts."""
        c = self.config
        report = drill_report(self.store, run_id, c.rto_target_seconds)
        files = drill_files(
            report,
            drill_trend(self.store, report.source_pool, c.trend_drills),
            rpo_series(self.store, now - timedelta(days=c.history_days)),
            c.history_days,
            c.rpo_target_seconds,
        )
        ts = publish_drill(self.poster, c.channel, report, files)
        return report, files, ts

    def jobs(self) -> dict[str, Job]:
        return {
            READINESS_CHECK: self.readiness.check,
            READINESS_SUMMARY: self.readiness.summary,
            DRILL: self.drill,
            AUDIT_DIGEST: self.audit.digest,
            AUDIT_VERIFY: self.audit.verify,
        }


def schedules(config: ReportsConfig) -> list[Schedule]:
    """The configured schedules, in the section's time zone."""
    return [
        Schedule(
            name=name,
            cron=s.cron,
            timezone=config.timezone,
            misfire_grace_seconds=s.misfire_grace_seconds,
            enabled=s.enabled,
        )
        for name, s in config.schedules.items()
    ]


def build_scheduler(
    engine: DrillEngine,
    poster: Poster,
    config: ReportsConfig,
    clock: Clock | None = None,
    probe: ReadinessProbe | None = None,
    **options: Any,
) -> Scheduler:
    """The scheduler of every report job (not started: call `start()`)."""
    jobs = ReportJobs(engine, poster, config, probe)
    return Scheduler(
        engine.store, schedules(config), jobs.jobs(), clock or SystemClock(), **options
    )


class RunningReports:
    """The scheduled reports of a running bot: its scheduler and its jobs (e.g. to post the
    report of a drill run from chat at once), stopped with the bot."""

    def __init__(self, scheduler: Scheduler, jobs: ReportJobs, config: ReportsConfig) -> None:
        self.scheduler = scheduler
        self.jobs = jobs
        self.config = config

    def next_drill(self) -> datetime | None:
        """When the scheduled drill runs next (App Home shows it)."""
        return next_run(self.jobs.store, self.config, DRILL, self.scheduler.clock.now())

    def status_lines(self) -> list[str]:
        """Last and next run of each schedule, for `/dr status`."""
        return status_lines(self.scheduler.status(), self.config)

    def check_readiness(self) -> str:
        """Check readiness now (samples kept, alerts posted), as the schedule does."""
        return self.jobs.readiness.check(self.scheduler.clock.now())

    def post_drill_report(self, run_id: int, out: Path | None = None) -> tuple[str, list[Path]]:
        """Post the report of the drill `run_id` now, as the scheduled drill does, and with
        `out` write its files and HTML page there too; returns the thread's ts and the paths."""
        report, files, ts = self.jobs.publish(run_id, self.scheduler.clock.now())
        return ts, write_report(report, files, out) if out is not None else []

    def shutdown(self) -> None:
        self.scheduler.shutdown()


def start_reports(
    engine: DrillEngine, client: WebClient, config: ReportsConfig, clock: Clock | None = None
) -> RunningReports | None:
    """Start the scheduled reports for `drbot serve`, posting with the bot's own WebClient;
    None (nothing scheduled) when `[reports] channel` is not set."""
    if not config.channel:
        log.warning("[reports] channel is not set: no summaries, alerts or drills are scheduled")
        return None
    clock = clock or SystemClock()
    jobs = ReportJobs(engine, WebClientPoster(client), config)
    scheduler = Scheduler(engine.store, schedules(config), jobs.jobs(), clock)
    scheduler.start()
    return RunningReports(scheduler, jobs, config)


def next_run(store: Store, config: ReportsConfig, name: str, now: datetime) -> datetime | None:
    """When the schedule `name` runs next (e.g. the drill, for App Home)."""
    found = [s for s in statuses(store, schedules(config), now) if s.name == name]
    return found[0].next_run_at if found else None


def status_lines(found: list[ScheduleStatus], config: ReportsConfig) -> list[str]:
    """One line per schedule for `/dr status` and App Home: next run and last outcome, in the
    configured time zone."""
    zone = config.zone

    def local(t: datetime | None) -> str:
        return t.astimezone(zone).strftime("%a %d %b %H:%M %Z") if t else m.NEVER

    lines = []
    for s in found:
        if not s.enabled:
            lines.append(m.SCHEDULE_OFF.format(name=s.name))
            continue
        last = (
            m.SCHEDULE_LAST.format(when=local(s.last_due_at), status=s.last_status)
            if s.last_due_at
            else m.SCHEDULE_NEVER_RAN
        )
        lines.append(m.SCHEDULE_LINE.format(name=s.name, next=local(s.next_run_at), last=last))
    return lines
