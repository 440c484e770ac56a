"""Schedules fire at the right local times (across daylight saving changes), a missed run runs
once, and two schedulers on one store run each due time once."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from bot.schedules import Schedule, Scheduler
from engine.clock import ManualClock


class Recorder:
    """A job that notes the due times it was called with."""

    def __init__(self) -> None:
        self.due: list[datetime] = []

    def __call__(self, due: datetime) -> str:
        self.due.append(due)
        return f"ran for {due.isoformat()}"


def drive(scheduler: Scheduler, clock: ManualClock, until: datetime, step: float = 300) -> None:
    """Tick every `step` seconds of the test's clock up to `until`."""
    while clock.now() < until:
        clock.advance(step)
        scheduler.tick(clock.now())


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


def test_daily_summary_fires_at_eight_local_across_spring_forward(store):
    """A daily 08:00 Europe/Paris job runs at 07:00 UTC before 29 March 2026 and 06:00 UTC after."""
    clock = ManualClock(utc(2026, 3, 27, 0, 0))
    job = Recorder()
    s = Scheduler(
        store,
        [Schedule(name="summary", cron="0 8 * * *", timezone="Europe/Paris")],
        {"summary": job},
        clock,
    )
    s.tick(clock.now())
    drive(s, clock, utc(2026, 3, 31, 0, 0))
    assert job.due == [
        utc(2026, 3, 27, 7, 0),
        utc(2026, 3, 28, 7, 0),
        utc(2026, 3, 29, 6, 0),
        utc(2026, 3, 30, 6, 0),
    ]


def test_fixed_hour_job_runs_once_when_clocks_go_back_and_hourly_job_twice(store):
    """On 25 October 2026 (Paris, 03:00 CEST -> 02:00 CET) a 02:30 daily job runs once, in the
    first pass; an every-hour-at-:30 job runs in both passes of the repeated hour."""
    clock = ManualClock(utc(2026, 10, 24, 22, 0))
    daily, hourly = Recorder(), Recorder()
    s = Scheduler(
        store,
        [
            Schedule(name="daily", cron="30 2 * * *", timezone="Europe/Paris"),
            Schedule(name="hourly", cron="30 * * * *", timezone="Europe/Paris"),
        ],
        {"daily": daily, "hourly": hourly},
        clock,
    )
    s.tick(clock.now())
    drive(s, clock, utc(2026, 10, 25, 3, 0))
    assert daily.due == [utc(2026, 10, 25, 0, 30)]
    # 00:30, 01:30 CEST, 02:30 CEST, 02:30 CET, 03:30 CET = 22:30 ... 02:30 UTC
    assert hourly.due == [utc(2026, 10, 24, 22, 30)] + [
        utc(2026, 10, 24, 23, 30) + timedelta(hours=h) for h in range(4)
    ]


def test_time_skipped_when_clocks_go_forward_runs_once(store):
    """On 29 March 2026 02:30 does not exist in Paris; the 02:30 job still runs once that day."""
    clock = ManualClock(utc(2026, 3, 28, 12, 0))
    job = Recorder()
    s = Scheduler(
        store, [Schedule(name="d", cron="30 2 * * *", timezone="Europe/Paris")], {"d": job}, clock
    )
    s.tick(clock.now())
    drive(s, clock, utc(2026, 3, 30, 12, 0))
    assert len([d for d in job.due if d.date() == datetime(2026, 3, 29).date()]) == 1
    assert job.due[-1] == utc(2026, 3, 30, 0, 30)  # 02:30 CEST


def _weekly_drill(store, clock, grace_hours: float = 6) -> tuple[Scheduler, Recorder]:
    job = Recorder()
    s = Scheduler(
        store,
        [
            Schedule(
                name="drill",
                cron="0 2 * * 1",
                timezone="Europe/Paris",
                misfire_grace_seconds=grace_hours * 3600,
            )
        ],
        {"drill": job},
        clock,
    )
    return s, job


def test_drill_missed_while_down_runs_once_when_back_within_grace(store):
    """Down over three Monday 02:00s and back within 6 h of the last: the drill runs once, for
    the last; the older ones are recorded as missed once."""
    clock = ManualClock(utc(2026, 5, 1, 12, 0))  # a Friday
    s, job = _weekly_drill(store, clock)
    s.tick(clock.now())
    clock.advance(timedelta(days=16, hours=13).total_seconds())  # Monday 18 May 03:00 CEST
    fired = s.tick(clock.now())
    assert job.due == [utc(2026, 5, 18, 0, 0)]
    assert [f.status for f in fired] == ["missed", "succeeded"] or [f.status for f in fired] == [
        "missed",
        "running",
    ]
    runs = store.history.runs("drill")
    assert [(r["due_at"], r["status"]) for r in runs] == [
        (utc(2026, 5, 18, 0, 0), "succeeded"),
        (utc(2026, 5, 4, 0, 0), "missed"),
    ]
    drive(s, clock, utc(2026, 5, 18, 12, 0))
    assert len(job.due) == 1


def test_drill_missed_beyond_grace_does_not_run(store):
    """Back 8 h after the drill's time with 6 h of grace: it does not run and is recorded missed."""
    clock = ManualClock(utc(2026, 5, 17, 12, 0))  # Sunday
    s, job = _weekly_drill(store, clock)
    s.tick(clock.now())
    clock.advance(timedelta(hours=20).total_seconds())  # Monday 10:00 CEST
    s.tick(clock.now())
    assert job.due == []
    assert store.history.last_run("drill")["status"] == "missed"


def test_two_schedulers_on_one_store_run_each_due_time_once(open_replica):
    """Two replicas ticking on one store file: each readiness check runs once; when the lease
    holder stops, the other takes over after the lease lapses and nothing runs twice."""
    clock = ManualClock(utc(2026, 6, 1, 9, 58))
    jobs = {"a": Recorder(), "b": Recorder()}
    replicas = {
        name: Scheduler(
            open_replica(),
            [Schedule(name="check", cron="*/5 * * * *", timezone="UTC", misfire_grace_seconds=600)],
            {"check": jobs[name]},
            clock,
            holder=name,
            lease_seconds=90,
        )
        for name in ("a", "b")
    }
    for r in replicas.values():  # both start
        r.tick(clock.now())
    for _ in range(12):  # one hour, both replicas ticking every 5 minutes
        clock.advance(300)
        for r in replicas.values():
            r.tick(clock.now())
    assert jobs["b"].due == []
    assert len(jobs["a"].due) == 12
    for _ in range(12):  # replica a is gone; b takes over once a's lease lapses
        clock.advance(300)
        replicas["b"].tick(clock.now())
    all_due = jobs["a"].due + jobs["b"].due
    assert len(all_due) == len(set(all_due)) == 24
    assert all_due == [utc(2026, 6, 1, 10, 0) + timedelta(minutes=5 * i) for i in range(24)]


def test_status_shows_last_and_next_run(store):
    """status() gives each schedule's last run (due time, outcome) and its next local time."""
    clock = ManualClock(utc(2026, 1, 5, 0, 30))  # Monday 01:30 CET
    s, _job = _weekly_drill(store, clock)
    s.tick(clock.now())
    assert s.status()[0].last_due_at is None
    drive(s, clock, utc(2026, 1, 5, 1, 30))
    (st,) = s.status()
    assert (st.last_due_at, st.last_status) == (utc(2026, 1, 5, 1, 0), "succeeded")
    assert st.next_run_at == utc(2026, 1, 12, 1, 0)


def test_a_failing_job_is_recorded_and_others_still_run(store):
    """A job that raises is recorded failed with its error; the next schedule still runs."""
    clock = ManualClock(utc(2026, 2, 2, 7, 58))

    def broken(due: datetime) -> str:
        raise RuntimeError("pool unreachable")

    good = Recorder()
    s = Scheduler(
        store,
        [Schedule(name="x", cron="0 8 * * *"), Schedule(name="y", cron="0 8 * * *")],
        {"x": broken, "y": good},
        clock,
    )
    s.tick(clock.now())
    clock.advance(180)
    s.tick(clock.now())
    assert good.due == [utc(2026, 2, 2, 8, 0)]
    last = store.history.last_run("x")
    assert (last["status"], last["detail"]) == ("failed", "RuntimeError: pool unreachable")


@pytest.mark.parametrize("cron", ["0 8 * *", "61 * * * *", "every day"])
def test_bad_cron_is_refused_with_the_fix(cron):
    """A cron expression that is not five valid fields is refused saying how to write one."""
    from pydantic import ValidationError

    from bot.reports.config import ScheduleConfig

    with pytest.raises(ValidationError, match="minute hour day-of-month month day-of-week"):
        ScheduleConfig(cron=cron)


def test_start_takes_the_lease_at_once_and_shutdown_gives_it_up(store, clock):
    """start() ticks at once (the lease is taken before the first interval) and shutdown()
    releases the lease so a standby replica takes over without waiting for it to lapse."""
    s = Scheduler(
        store,
        [Schedule(name="x", cron="0 8 * * *")],
        {"x": Recorder()},
        clock,
        holder="replica-a",
        tick_seconds=3600,
    )
    s.start()
    try:
        assert store.history.lease("scheduler")["holder"] == "replica-a"
    finally:
        s.shutdown()
    assert store.history.lease("scheduler") is None


def test_a_run_left_running_by_a_stopped_scheduler_is_marked_interrupted(open_replica):
    """Replica a dies in the middle of the drill; when b takes the lease over, a's run is
    recorded interrupted (not running forever) and b runs the next one."""
    clock = ManualClock(utc(2026, 6, 1, 9, 58))
    schedule = [Schedule(name="check", cron="*/5 * * * *", misfire_grace_seconds=600)]
    a_store, b_store = open_replica(), open_replica()
    a = Scheduler(a_store, schedule, {"check": Recorder()}, clock, holder="a", lease_seconds=90)
    a.tick()
    clock.advance(120)
    assert a_store.history.claim("check", utc(2026, 6, 1, 10, 0), "a", clock.now())  # a runs...
    # ...and dies before finishing: its lease lapses.
    b_job = Recorder()
    b = Scheduler(b_store, schedule, {"check": b_job}, clock, holder="b", lease_seconds=90)
    b.tick()
    clock.advance(300)
    b.tick()
    runs = {r["due_at"]: r["status"] for r in b_store.history.runs("check")}
    assert runs == {utc(2026, 6, 1, 10, 0): "interrupted", utc(2026, 6, 1, 10, 5): "succeeded"}
    assert b_job.due == [utc(2026, 6, 1, 10, 5)]


def test_what_a_scheduled_job_logs_names_its_schedule_as_the_actor(store):
    """Lines a job writes carry `schedule:NAME` as their actor (bot/logs.py context)."""
    from bot.logs import current

    clock = ManualClock(utc(2026, 3, 27, 7, 59))
    actors: list[str | None] = []

    def job(due: datetime) -> str:
        actors.append(current()[1])
        return ""

    s = Scheduler(store, [Schedule(name="summary", cron="0 8 * * *")], {"summary": job}, clock)
    s.tick(clock.now())
    drive(s, clock, utc(2026, 3, 27, 8, 5))
    assert actors == ["schedule:summary"]
    assert current() == (None, None)
