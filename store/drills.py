"""Drill history: the measured outcome of every test failover (and real run), per protected pool.

The planner estimates a run's RTO from here, readiness shows the last drill, and the weekly
report charts it. Every row is keyed by the protected pool it drilled (`protected_pool`) as
well as by the pool the run recovered into (`pool`): a DR pool takes several protected pools,
and one pool's drill must never stand for another's (`recent` asks by protected pool, `into`
by the pool a run recovered into).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, cast

if TYPE_CHECKING:  # only for hints: the migrations import `protected_of`, and store.db them
    from store.db import StoreConnection


def protected_of(kind: str, plan: Mapping[str, Any]) -> str:
    """The protected pool a run of `kind` with `plan` (as stored: JSON) acts for: where it
    recovers from, or for a failback where it recovers back into."""
    key = "dest_pool" if kind == "failback" else "source_pool"
    return str(plan.get(key) or "")


class Drills:
    """Record and read the outcomes of runs, per protected pool."""

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
        *,
        protected: str | None = None,
    ) -> int:
        """Store one run's measured RTO, overall outcome and per-VM outcomes; returns its id.

        `pool` is the pool the run recovered into; `protected` the protected pool, read from
        the run's stored plan when not given."""
        with self._c.write() as db:
            if protected is None:
                rows = list(db.query("SELECT plan_json FROM runs WHERE id = ?", [run_id]))
                plan = json.loads(rows[0]["plan_json"] or "{}") if rows else {}
                protected = protected_of(kind, plan)
            table = db.table("drills")
            table.insert(
                {
                    "run_id": run_id,
                    "kind": kind,
                    "pool": pool,
                    "protected_pool": protected,
                    "rto_seconds": rto_seconds,
                    "outcome": outcome,
                    "per_vm_json": json.dumps(per_vm, sort_keys=True, default=str),
                    "at": self._c.stamp(),
                }
            )
            return cast(int, table.last_pk)

    def recent(self, pool: str, limit: int = 10, kind: str | None = None) -> list[dict[str, Any]]:
        """The newest drills of protected pool `pool` first (optionally of one kind)."""
        return self._where("protected_pool", pool, limit, kind)

    def into(self, pool: str, limit: int = 10, kind: str | None = None) -> list[dict[str, Any]]:
        """The newest runs that recovered into `pool` first, whichever pool they protect."""
        return self._where("pool", pool, limit, kind)

    def _where(self, column: str, pool: str, limit: int, kind: str | None) -> list[dict[str, Any]]:
        where, args = f"{column} = ?", [pool]
        if kind:
            where += " and kind = ?"
            args.append(kind)
        with self._c.lock:
            rows = list(
                self._c.db["drills"].rows_where(where, args, order_by="id desc", limit=limit)
            )
        return [{**r, "per_vm": json.loads(r["per_vm_json"])} for r in rows]
