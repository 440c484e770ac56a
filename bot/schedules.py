"""Scheduled jobs: cron expressions with time zones, run once per due time across replicas.

The one module that knows APScheduler (3.x; v4 is a pre-release). APScheduler does two things
here: its `CronTrigger` computes fire times in a time zone (daylight saving included), and in
production its `BackgroundScheduler` calls `tick()` every few seconds and runs the jobs in its
thread pool. Its job store is never the source of truth: what ran, when, and what was missed is
in the store (`store.history`), so a restart or a second replica sees the same history.

What `tick(now)` guarantees, for each enabled schedule:
- **One scheduler per store.** Only the holder of the store's scheduler lease ticks; a replica
  whose lease lapsed (it died) is replaced by the next one that ticks. The claim of a run is
  unique in the store too, so even two holders could not post the same run twice.
- **Misfire grace and coalescing.** The fire times since the last tick that are within the
  schedule's grace run once, as one run for the newest of them (a drill missed while the bot
  was down runs once, not once per missed week); older ones are recorded as missed.
- **Daylight saving.** Fire times are computed in the schedule's zone. When clocks go back, a
  job at a fixed hour runs once, in the first pass of the repeated hour (as cron does); a job
  whose hour is `*` runs in both passes, since both are real hours. When clocks go forward,
  a time that does not exist that day runs once, an hour later by the clock.
- A schedule seen for the first time starts from now: nothing due before drbot knew it runs.

Example:
    scheduler = Scheduler(store, schedules_from(config), {"drill": run_drill}, SystemClock())
    scheduler.start()          # production: ticks every 30 s in a background thread
    scheduler.status()         # last and next run of each schedule, for /dr status and Home
    scheduler.tick(clock.now())  # tests: one decision at a time a test chose
"""

from __future__ import annotations

import logging
import os
import socket
import uuid
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import cached_property
from typing import Literal
from zoneinfo import ZoneInfo

from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger
from pydantic import BaseModel, ConfigDict

from bot.logs import bound
from engine.clock import Clock
from store import Store

log = logging.getLogger(__name__)

LEASE = "scheduler"
CHECKED = "schedules.checked-through"  # store.kv namespace: schedule -> time evaluated through
ONE_MICROSECOND = timedelta(microseconds=1)
INTERRUPTED_DETAIL = "interrupted: the scheduler running it stopped before it ended"

# A job gets the time it was due (not the time it runs) and returns a one-line outcome.
Job = Callable[[datetime], str | None]
Submit = Callable[[Callable[[], object]], None]
RunStatus = Literal["succeeded", "failed", "running", "missed", "interrupted"]


class Schedule(BaseModel):
    """One job's timing: a five-field cron expression read in `timezone`."""

    model_config = ConfigDict(frozen=True)

    name: str
    cron: str
    timezone: str = "UTC"
    misfire_grace_seconds: float = 3600
    enabled: bool = True

    @cached_property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    @cached_property
    def _wall(self) -> CronTrigger:
        # Fire times as wall-clock readings: a trigger in UTC has no daylight saving, so its
        # answers are the local times the cron expression names; `_instants` maps each to
        # real time. (APScheduler 3.11's own zone arithmetic loops forever when asked for a
        # fire time from inside the second pass of a repeated hour.)
        return cron_trigger(self.cron)

    @cached_property
    def _hour_is_wildcard(self) -> bool:
        return any(f.name == "hour" and str(f) == "*" for f in self._wall.fields)

    def fire_times(self, after: datetime, until: datetime) -> list[datetime]:
        """The fire times in (`after`, `until`], oldest first, in UTC."""
        margin = timedelta(hours=3)  # wider than any daylight saving shift
        wall = self._local(after) - margin
        end = self._local(until) + margin
        found: set[datetime] = set()
        w = self._wall.get_next_fire_time(None, wall.replace(tzinfo=UTC))
        while w is not None and w.replace(tzinfo=None) <= end:
            found.update(t for t in self._instants(w) if after < t <= until)
            w = self._wall.get_next_fire_time(None, w + timedelta(minutes=1))
        return sorted(found)

    def next_after(self, now: datetime) -> datetime | None:
        """The first fire time strictly after `now`."""
        for days in (2, 32, 367, 5 * 366):
            times = self.fire_times(now, now + timedelta(days=days))
            if times:
                return times[0]
        return None

    def _local(self, t: datetime) -> datetime:
        return t.astimezone(self.zone).replace(tzinfo=None)

    def _instants(self, wall: datetime) -> list[datetime]:
        """The real times (UTC) at which the wall-clock reading `wall` happens in the zone: one
        usually; two in a repeated hour (the second kept only for `*` hours, as cron does);
        for a reading skipped when clocks go forward, PEP 495's fold=0 time, an hour later by
        the clock."""
        naive = wall.replace(tzinfo=None)
        first = naive.replace(tzinfo=self.zone, fold=0).astimezone(UTC)
        second = naive.replace(tzinfo=self.zone, fold=1).astimezone(UTC)
        if first == second:
            return [first]
        repeated = all(self._local(t) == naive for t in (first, second))
        if repeated and self._hour_is_wildcard:
            return [first, second]
        return [first]


@dataclass(frozen=True)
class Fired:
    """What one tick did for one schedule."""

    schedule: str
    due_at: datetime
    status: RunStatus
    detail: str = ""


class ScheduleStatus(BaseModel):
    """The last and next run of one schedule, as `/dr status` and App Home show it."""

    name: str
    cron: str
    timezone: str
    enabled: bool
    last_due_at: datetime | None = None
    last_status: str | None = None
    last_finished_at: datetime | None = None
    last_detail: str | None = None
    next_run_at: datetime | None = None


DAY_NAMES = ("sun", "mon", "tue", "wed", "thu", "fri", "sat")


def _cron_days(field: str) -> str:
    """A cron day-of-week field (0 or 7 = Sunday) as APScheduler 3 reads it (0 = Monday):
    the days written out by name, so lists, ranges and steps keep their cron meaning."""
    if field == "*" or not any(c.isdigit() for c in field):
        return field
    days: set[int] = set()
    for part in field.split(","):
        span, _, step = part.partition("/")
        if span == "*":
            low, high = 0, 6
        elif "-" in span:
            a, b = span.split("-", 1)
            low, high = int(a), int(b)
        else:
            low = high = int(span)
            if step:
                high = 6
        if not (0 <= low <= 7 and 0 <= high <= 7 and low <= high):
            raise ValueError(f"day of week {part!r} is out of range (0-7, Sunday is 0 or 7)")
        days.update(d % 7 for d in range(low, high + 1, int(step) if step else 1))
    return ",".join(DAY_NAMES[d] for d in sorted(days))


def cron_trigger(expr: str) -> CronTrigger:
    """A five-field cron expression (minute hour day-of-month month day-of-week, Sunday 0 or 7,
    as crontab(5) reads it) as an APScheduler trigger in UTC. Raises ValueError when it is
    not one."""
    fields = expr.split()
    if len(fields) != 5:
        raise ValueError(f"wrong number of fields; got {len(fields)}, expected 5")
    minute, hour, day, month, dow = fields
    return CronTrigger(
        minute=minute, hour=hour, day=day, month=month, day_of_week=_cron_days(dow), timezone=UTC
    )


def statuses(store: Store, schedules: Iterable[Schedule], now: datetime) -> list[ScheduleStatus]:
    """The last recorded and the next run of each of `schedules` (no scheduler needed: a
    process that does not run the schedules, such as the CLI, reads them from the store)."""
    out = []
    for s in schedules:
        last = store.history.last_run(s.name)
        out.append(
            ScheduleStatus(
                name=s.name,
                cron=s.cron,
                timezone=s.timezone,
                enabled=s.enabled,
                last_due_at=last["due_at"] if last else None,
                last_status=last["status"] if last else None,
                last_finished_at=last["finished_at"] if last else None,
                last_detail=last["detail"] if last else None,
                next_run_at=s.next_after(now) if s.enabled else None,
            )
        )
    return out


def _holder() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


def _inline(fn: Callable[[], object]) -> None:
    fn()


class Scheduler:
    """Runs the jobs of `schedules` at their times, once per due time across every process on
    `store`.

    Args:
        store: where the runs, the lease and the evaluated-through marks live.
        schedules: the schedules; a schedule without a job in `jobs` is ignored.
        jobs: schedule name -> the function to call with the due time.
        clock: the time source (`ManualClock` in tests).
        lease_seconds: how long the lease lasts without a tick; a standby takes over after it.
        tick_seconds: how often `start()` ticks.
    """

    def __init__(
        self,
        store: Store,
        schedules: Iterable[Schedule],
        jobs: Mapping[str, Job],
        clock: Clock,
        *,
        holder: str | None = None,
        lease_seconds: float = 90.0,
        tick_seconds: float = 30.0,
    ) -> None:
        self.store = store
        self.schedules = [s for s in schedules if s.name in jobs]
        self.jobs = dict(jobs)
        self.clock = clock
        self.holder = holder or _holder()
        self.lease_seconds = lease_seconds
        self.tick_seconds = tick_seconds
        self._submit: Submit = _inline
        self._aps: BackgroundScheduler | None = None

    # -- deciding --------------------------------------------------------------------------------

    def tick(self, now: datetime | None = None) -> list[Fired]:
        """Run what is due at `now` (see the module docstring); returns what was decided.

        A job runs through the submit function: inline by default (so a test sees it done
        when `tick` returns), in APScheduler's thread pool once `start()` was called.
        """
        now = now or self.clock.now()
        until = now + timedelta(seconds=self.lease_seconds)
        if not self.store.history.take_lease(LEASE, self.holder, until, now):
            return []
        # Taken over from a scheduler that stopped: its unfinished runs will not finish.
        self.store.history.interrupt_others(self.holder, now, INTERRUPTED_DETAIL)
        checked = self.store.kv(CHECKED)
        decided: list[Fired] = []
        for schedule in self.schedules:
            since = checked.get(schedule.name)
            checked[schedule.name] = now.isoformat()
            if since is None or not schedule.enabled:
                continue
            decided += self._decide(schedule, datetime.fromisoformat(since), now)
        return decided

    def _decide(self, schedule: Schedule, since: datetime, now: datetime) -> list[Fired]:
        history = self.store.history
        grace_start = now - timedelta(seconds=schedule.misfire_grace_seconds)
        decided: list[Fired] = []
        first = schedule.next_after(since)
        if first is not None and first < grace_start:
            detail = f"missed: no scheduler ran between {since.isoformat()} and {now.isoformat()}"
            history.missed(schedule.name, first, now, detail)
            decided.append(Fired(schedule.name, first, "missed", detail))
        runnable = schedule.fire_times(max(since, grace_start - ONE_MICROSECOND), now)
        if not runnable:
            return decided
        due = runnable[-1]  # coalesced: the newest due time stands for all of them
        if history.claim(schedule.name, due, self.holder, now):
            self._submit(lambda: self._run(schedule.name, due))
            decided.append(Fired(schedule.name, due, "running", f"{len(runnable)} due"))
        return decided

    def _run(self, name: str, due: datetime) -> Fired:
        try:
            # What a job logs names it as the actor: nobody asked, the schedule did.
            with bound(actor=f"schedule:{name}"):
                detail = self.jobs[name](due) or ""
        except Exception as exc:  # a job's failure is recorded; it never stops the scheduler
            log.exception("scheduled job %s due %s failed", name, due)
            detail = f"{type(exc).__name__}: {exc}"
            self.store.history.finish(name, due, "failed", self.clock.now(), detail)
            return Fired(name, due, "failed", detail)
        self.store.history.finish(name, due, "succeeded", self.clock.now(), detail)
        return Fired(name, due, "succeeded", detail)

    # -- showing ---------------------------------------------------------------------------------

    def status(self, now: datetime | None = None) -> list[ScheduleStatus]:
        """The last recorded and the next run of every schedule."""
        return statuses(self.store, self.schedules, now or self.clock.now())

    # -- running in production ---------------------------------------------------------------------

    def start(self) -> None:
        """Tick every `tick_seconds` in a background thread; jobs run in a small thread pool,
        so a drill that takes an hour does not hold up the readiness checks."""
        if self._aps is not None:
            return
        aps = BackgroundScheduler(
            executors={"default": {"type": "threadpool", "max_workers": 4}},
            job_defaults={"coalesce": True, "max_instances": 1},
        )
        aps.add_job(self.tick, IntervalTrigger(seconds=self.tick_seconds), id="tick")
        # A claimed run goes to the pool now; nothing of it is kept in APScheduler's job store.
        self._submit = lambda fn: aps.add_job(fn, misfire_grace_time=None)
        aps.start()
        self._aps = aps
        self.tick()

    def shutdown(self) -> None:
        """Stop ticking, wait for running jobs, and give the lease up for a standby."""
        if self._aps is not None:
            self._aps.shutdown(wait=True)
            self._aps = None
        self._submit = _inline
        self.store.history.release_lease(LEASE, self.holder)
