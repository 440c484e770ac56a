"""Drill history: the measured outcome of every test failover (and real run), per pool.

The planner estimates a run's RTO from here, readiness shows the last drill, and the weekly
report charts it.
"""

from __future__ import annotations

import json
from typing import Any, cast

from store.db import StoreConnection


class Drills:
    """Record and read the outcomes of runs, per pool."""

    def __init__(self, conn: StoreConnection) -> None:
        self._c = conn

    def record(
        self,
        run_id: int,
        kind: str,
        pool: str,
        rto_seconds: float | None,
        outcome: str,
        per_vm: dict[str, Any],
    ) -> int:
        """Store one run's measured RTO, overall outcome and per-VM outcomes; returns its id."""
        with self._c.write() as db:
            table = db.table("drills")
            table.insert(
                {
                    "run_id": run_id,
                    "kind": kind,
                    "pool": pool,
                    "rto_seconds": rto_seconds,
                    "outcome": outcome,
                    "per_vm_json": json.dumps(per_vm, sort_keys=True, default=str),
                    "at": self._c.stamp(),
                }
            )
            return cast(int, table.last_pk)

    def recent(self, pool: str, limit: int = 10, kind: str | None = None) -> list[dict[str, Any]]:
        """The newest drills of `pool` first (optionally of one kind)."""
        where, args = "pool = ?", [pool]
        if kind:
            where += " and kind = ?"
            args.append(kind)
        with self._c.lock:
            rows = list(
                self._c.db["drills"].rows_where(where, args, order_by="id desc", limit=limit)
            )
        return [{**r, "per_vm": json.loads(r["per_vm_json"])} for r in rows]
