"""History for scheduled work: readiness samples per pool, the runs of scheduled jobs, and the
scheduler's lease.

- Readiness samples are keyed by the protected pool (`pool`) and its DR pool (`dr_pool`): a DR
  pool takes several protected pools, and a protected pool may have several DR pools.
- Readiness samples are taken every few minutes and kept for weeks (the retention is the
  caller's `prune`): the daily summary says what changed since the last one, alerts compare a
  sample with the state last announced, and the RPO chart plots lag and metadata age.
- A scheduled job runs once per due time across every process on this store: `claim` inserts
  the (schedule, due time) row, which is unique, so a second scheduler's claim fails instead of
  posting twice. The row then records how the job ended, or that it was missed.
- One scheduler is active per store: `take_lease` hands the lease to a holder when it is free,
  expired or already theirs, inside one write transaction.

The scheduler (APScheduler) never holds this state: these tables are the source of truth, so a
restart or a second replica reads the same history.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from store.db import StoreConnection, iso, parse_iso

RUNNING = "running"
MISSED = "missed"
INTERRUPTED = "interrupted"


def _sample(row: dict[str, Any]) -> dict[str, Any]:
    out = {k: v for k, v in row.items() if k != "detail_json"}
    out["at"] = parse_iso(row["at"])
    out["detail"] = json.loads(row["detail_json"])
    return out


def _run(row: dict[str, Any]) -> dict[str, Any]:
    out = dict(row)
    for key in ("due_at", "started_at", "finished_at"):
        out[key] = parse_iso(row[key]) if row.get(key) else None
    return out


class History:
    """Readiness samples, scheduled job runs and the scheduler lease."""

    def __init__(self, conn: StoreConnection) -> None:
        self._c = conn

    # -- readiness samples -----------------------------------------------------------------------

    def add_sample(
        self,
        pool: str,
        verdict: str,
        *,
        at: datetime,
        dr_pool: str = "",
        lag_seconds: float | None = None,
        metadata_age_seconds: float | None = None,
        capacity_needed_bytes: int | None = None,
        capacity_free_bytes: int | None = None,
        unprotected_count: int | None = None,
        detail: dict[str, Any] | None = None,
    ) -> int:
        """Keep one readiness sample of `pool` taken at `at`; returns its id."""
        with self._c.write() as db:
            table = db.table("readiness_samples")
            table.insert(
                {
                    "pool": pool,
                    "dr_pool": dr_pool,
                    "at": iso(at),
                    "verdict": verdict,
                    "lag_seconds": lag_seconds,
                    "metadata_age_seconds": metadata_age_seconds,
                    "capacity_needed_bytes": capacity_needed_bytes,
                    "capacity_free_bytes": capacity_free_bytes,
                    "unprotected_count": unprotected_count,
                    "detail_json": json.dumps(detail or {}, sort_keys=True, default=str),
                }
            )
            return int(table.last_pk or 0)

    def samples(
        self,
        pool: str | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        *,
        dr_pool: str | None = None,
    ) -> list[dict[str, Any]]:
        """Samples oldest first, of one protected pool or all, with `since <= at <= until`
        (of its pair with `dr_pool` only, when given: a pool may have several DR pools)."""
        where, args = ["1 = 1"], []
        if pool is not None:
            where.append("pool = ?")
            args.append(pool)
        if dr_pool is not None:
            where.append("dr_pool = ?")
            args.append(dr_pool)
        if since is not None:
            where.append("at >= ?")
            args.append(iso(since))
        if until is not None:
            where.append("at <= ?")
            args.append(iso(until))
        with self._c.lock:
            rows = list(
                self._c.db["readiness_samples"].rows_where(
                    " and ".join(where), args, order_by="at, id"
                )
            )
        return [_sample(r) for r in rows]

    def hourly_worst(self, since: datetime) -> list[dict[str, Any]]:
        """Per pool and hour since `since`, the worst replication lag and metadata age (what
        a chart of weeks needs, without reading every sample), oldest first. `hour` is the
        hour's start in UTC."""
        with self._c.lock:
            rows = list(
                self._c.db.query(
                    "SELECT pool, substr(at, 1, 13) AS hour, max(lag_seconds) AS lag_seconds, "
                    "max(metadata_age_seconds) AS metadata_age_seconds, count(*) AS samples "
                    "FROM readiness_samples WHERE at >= ? GROUP BY pool, hour ORDER BY hour, pool",
                    [iso(since)],
                )
            )
        return [{**r, "hour": parse_iso(r["hour"] + ":00:00+00:00")} for r in rows]

    def latest(
        self, pool: str, at_or_before: datetime | None = None, *, dr_pool: str | None = None
    ) -> dict[str, Any] | None:
        """The newest sample of protected pool `pool` (taken at or before `at_or_before` when
        given; of its pair with `dr_pool` only, when given)."""
        where, args = "pool = ?", [pool]
        if dr_pool is not None:
            where += " and dr_pool = ?"
            args.append(dr_pool)
        if at_or_before is not None:
            where += " and at <= ?"
            args.append(iso(at_or_before))
        with self._c.lock:
            rows = list(
                self._c.db["readiness_samples"].rows_where(
                    where, args, order_by="at desc, id desc", limit=1
                )
            )
        return _sample(rows[0]) if rows else None

    def pools(self) -> list[str]:
        """Every pool that has samples, sorted."""
        with self._c.lock:
            rows = self._c.db.query("SELECT DISTINCT pool FROM readiness_samples ORDER BY pool")
            return [r["pool"] for r in rows]

    def prune(self, before: datetime) -> int:
        """Drop samples taken before `before`; returns how many."""
        with self._c.write() as db:
            cursor = db.execute("DELETE FROM readiness_samples WHERE at < ?", [iso(before)])
            return cursor.rowcount

    # -- scheduled job runs ------------------------------------------------------------------------

    def claim(self, schedule: str, due_at: datetime, holder: str, now: datetime) -> bool:
        """Claim the run of `schedule` due at `due_at`; False when it was already claimed (by
        this or another process) or recorded as missed."""
        # The (schedule, due_at) index is unique: a second claim inserts nothing.
        with self._c.write() as db:
            cursor = db.execute(
                "INSERT OR IGNORE INTO schedule_runs "
                "(schedule, due_at, status, holder, started_at, finished_at, detail) "
                "VALUES (?, ?, ?, ?, ?, NULL, NULL)",
                [schedule, iso(due_at), RUNNING, holder, iso(now)],
            )
            return cursor.rowcount == 1

    def finish(
        self, schedule: str, due_at: datetime, status: str, now: datetime, detail: str = ""
    ) -> None:
        """Record how the claimed run of `schedule` due at `due_at` ended."""
        with self._c.write() as db:
            db.execute(
                "UPDATE schedule_runs SET status = ?, finished_at = ?, detail = ? "
                "WHERE schedule = ? AND due_at = ?",
                [status, iso(now), detail, schedule, iso(due_at)],
            )

    def missed(self, schedule: str, due_at: datetime, now: datetime, detail: str) -> None:
        """Record that the run of `schedule` due at `due_at` did not happen, and why (kept
        once; a due time already claimed stays as it is)."""
        with self._c.write() as db:
            db.execute(
                "INSERT OR IGNORE INTO schedule_runs "
                "(schedule, due_at, status, holder, started_at, finished_at, detail) "
                "VALUES (?, ?, ?, NULL, NULL, ?, ?)",
                [schedule, iso(due_at), MISSED, iso(now), detail],
            )

    def interrupt_others(self, holder: str, now: datetime, detail: str) -> int:
        """Mark `interrupted` the runs still `running` under another holder: called by the
        lease holder, for whom another holder's run can only be one whose process stopped
        (it lost the lease). Returns how many."""
        with self._c.write() as db:
            cursor = db.execute(
                "UPDATE schedule_runs SET status = ?, finished_at = ?, detail = ? "
                "WHERE status = ? AND holder != ?",
                [INTERRUPTED, iso(now), detail, RUNNING, holder],
            )
            return cursor.rowcount

    def last_run(self, schedule: str, *, include_missed: bool = True) -> dict[str, Any] | None:
        """The newest (by due time) recorded run of `schedule`."""
        where, args = "schedule = ?", [schedule]
        if not include_missed:
            where += " and status != ?"
            args.append(MISSED)
        with self._c.lock:
            rows = list(
                self._c.db["schedule_runs"].rows_where(where, args, order_by="due_at desc", limit=1)
            )
        return _run(rows[0]) if rows else None

    def runs(self, schedule: str, limit: int = 20) -> list[dict[str, Any]]:
        """The newest runs of `schedule` first."""
        with self._c.lock:
            rows = list(
                self._c.db["schedule_runs"].rows_where(
                    "schedule = ?", [schedule], order_by="due_at desc", limit=limit
                )
            )
        return [_run(r) for r in rows]

    # -- the scheduler's lease --------------------------------------------------------------------

    def take_lease(self, name: str, holder: str, until: datetime, now: datetime) -> bool:
        """Take or renew the lease `name` for `holder` until `until`; False while another
        holder's lease has not expired."""
        with self._c.write() as db:
            rows = list(
                db.query("SELECT holder, until FROM scheduler_lease WHERE name = ?", [name])
            )
            if rows and rows[0]["holder"] != holder and parse_iso(rows[0]["until"]) > now:
                return False
            db.table("scheduler_lease").upsert(
                {"name": name, "holder": holder, "until": iso(until)}, pk="name"
            )
        return True

    def release_lease(self, name: str, holder: str) -> None:
        """Give the lease up (only if `holder` still holds it), so a standby takes over now."""
        with self._c.write() as db:
            db.execute("DELETE FROM scheduler_lease WHERE name = ? AND holder = ?", [name, holder])

    def lease(self, name: str) -> dict[str, Any] | None:
        with self._c.lock:
            rows = list(self._c.db.query("SELECT * FROM scheduler_lease WHERE name = ?", [name]))
        if not rows:
            return None
        return {**rows[0], "until": parse_iso(rows[0]["until"])}
