"""Runs: the persisted state machine, its journal of transitions, and one lease per pool."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from store.db import StoreConnection, iso, parse_iso
from store.errors import IllegalTransition, LeaseHeld, RunNotFound
from store.states import ALLOWED, HOLDS_POOL, RunState


def _row(row: dict[str, Any]) -> dict[str, Any]:
    out = dict(row)
    out["plan"] = json.loads(row["plan_json"]) if row.get("plan_json") else None
    out["outcome"] = json.loads(row["outcome_json"]) if row.get("outcome_json") else {}
    return out


class Runs:
    """Create runs, move them between states, and hold the per-pool lease.

    Every state change is checked against `store.states.ALLOWED` and journaled in
    `run_transitions` in the same transaction as the change itself.
    """

    def __init__(self, conn: StoreConnection) -> None:
        self._c = conn

    def create(
        self,
        kind: str,
        target: str,
        pool: str,
        plan_hash: str,
        plan_json: str | dict[str, Any],
        requested_by: str,
        reason: str | None = None,
    ) -> int:
        """A new run in `queued`, with its plan frozen as JSON; returns its id."""
        if not isinstance(plan_json, str):
            plan_json = json.dumps(plan_json, sort_keys=True, default=str)
        with self._c.write() as db:
            at = self._c.stamp()
            table = db["runs"]
            table.insert(
                {
                    "kind": kind,
                    "target": target,
                    "pool": pool,
                    "state": RunState.QUEUED.value,
                    "plan_hash": plan_hash,
                    "plan_json": plan_json,
                    "requested_by": requested_by,
                    "reason": reason,
                    "created_at": at,
                    "updated_at": at,
                    "last_step": None,
                    "outcome_json": None,
                    "error": None,
                }
            )
            run_id = int(table.last_pk)
            db["run_transitions"].insert(
                {
                    "run_id": run_id,
                    "from_state": None,
                    "to_state": RunState.QUEUED.value,
                    "reason": reason or "created",
                    "at": at,
                }
            )
        return run_id

    def get(self, run_id: int) -> dict[str, Any]:
        """The run as a dict (with `plan` and `outcome` decoded); raises `RunNotFound`."""
        with self._c.lock:
            rows = list(self._c.db["runs"].rows_where("id = ?", [run_id]))
        if not rows:
            raise RunNotFound(run_id)
        return _row(rows[0])

    def list(self, limit: int = 20, states: set[str] | None = None) -> list[dict[str, Any]]:
        """The newest runs first (optionally only those in `states`)."""
        where, args = None, []
        if states:
            where = "state in ({})".format(", ".join("?" for _ in states))
            args = sorted(states)
        with self._c.lock:
            rows = list(self._c.db["runs"].rows_where(where, args, order_by="id desc", limit=limit))
        return [_row(r) for r in rows]

    def history(self, run_id: int) -> list[dict[str, Any]]:
        """The journal of state transitions of a run, oldest first."""
        with self._c.lock:
            return list(
                self._c.db["run_transitions"].rows_where("run_id = ?", [run_id], order_by="id")
            )

    def transition(
        self,
        run_id: int,
        to_state: RunState | str,
        reason: str | None = None,
        *,
        error: str | None = None,
        outcome: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        """Move a run to `to_state` if the table allows it; journal it in the same transaction.

        Raises `IllegalTransition` (naming the states it may go to) otherwise.
        """
        dst = RunState(to_state)
        with self._c.write() as db:
            run = self.get(run_id)
            src = RunState(run["state"])
            if dst not in ALLOWED[src]:
                raise IllegalTransition(
                    run_id, src.value, dst.value, sorted(s.value for s in ALLOWED[src])
                )
            at = self._c.stamp()
            update: dict[str, Any] = {"state": dst.value, "updated_at": at}
            if error is not None:
                update["error"] = error
            if outcome is not None:
                update["outcome_json"] = json.dumps(outcome, sort_keys=True, default=str)
            db["runs"].update(run_id, update)
            db["run_transitions"].insert(
                {
                    "run_id": run_id,
                    "from_state": src.value,
                    "to_state": dst.value,
                    "reason": reason,
                    "at": at,
                }
            )
        return self.get(run_id)

    def set_outcome(self, run_id: int, outcome: dict[str, Any]) -> None:
        """Record the per-VM outcome so far (kept current while the run goes)."""
        with self._c.write() as db:
            db["runs"].update(
                run_id,
                {
                    "outcome_json": json.dumps(outcome, sort_keys=True, default=str),
                    "updated_at": self._c.stamp(),
                },
            )

    def set_last_step(self, run_id: int, description: str) -> None:
        with self._c.write() as db:
            db["runs"].update(run_id, {"last_step": description, "updated_at": self._c.stamp()})

    # -- leases --------------------------------------------------------------------------

    def lease(self, pool: str) -> dict[str, Any] | None:
        """The lease on `pool`, or None."""
        with self._c.lock:
            rows = list(self._c.db["leases"].rows_where("pool = ?", [pool]))
        return rows[0] if rows else None

    def acquire_lease(self, pool: str, run_id: int, holder: str, until: datetime) -> None:
        """Take the one lease on `pool` for `run_id` until `until`.

        Succeeds when the pool is free, when the lease is held by the same run (a resume), or
        when the holding run is finished. Raises `LeaseHeld` otherwise, naming the run that
        holds it (an interrupted run holds its pool until it is resumed or aborted).
        """
        with self._c.write() as db:
            current = self.lease(pool)
            if current and current["run_id"] != run_id:
                other = list(db["runs"].rows_where("id = ?", [current["run_id"]]))
                # An interrupted run still claims its pool: it left work half done that must be
                # resumed or aborted before anything else touches that pool. An expired lease
                # of a run still marked running means its process died; it is reaped at boot.
                if other and RunState(other[0]["state"]) in HOLDS_POOL:
                    raise LeaseHeld(pool, current["run_id"], current["holder"], current["until"])
            db["leases"].upsert(
                {"pool": pool, "run_id": run_id, "holder": holder, "until": iso(until)},
                pk="pool",
            )

    def renew_lease(self, pool: str, run_id: int, holder: str, until: datetime) -> None:
        """Extend a lease this holder has; raises `LeaseHeld` if someone else holds it."""
        with self._c.write() as db:
            current = self.lease(pool)
            if current is not None and (current["run_id"] != run_id or current["holder"] != holder):
                raise LeaseHeld(pool, current["run_id"], current["holder"], current["until"])
            db["leases"].upsert(
                {"pool": pool, "run_id": run_id, "holder": holder, "until": iso(until)},
                pk="pool",
            )

    def release_lease(self, pool: str, run_id: int) -> None:
        """Give the pool back (only the run that holds it can)."""
        with self._c.write() as db:
            db.execute("DELETE FROM leases WHERE pool = ? AND run_id = ?", [pool, run_id])

    def interrupted_at_boot(self, now: datetime | None = None) -> list[dict[str, Any]]:
        """Reap runs whose driver died: mark them `interrupted` and return them.

        A run is reaped when it is in an active state (`queued`, `running`, `aborting`; a
        `paused` run waits for a person and is left alone) and its lease has expired at `now`,
        or it has no lease. Its `last_step` says where it stopped. Called once at startup, and
        by the operator CLI before a resume; it never resumes anything itself.
        """
        moment = now or self._c.now()
        reaped = []
        with self._c.write() as db:
            candidates = list(
                db["runs"].rows_where(
                    "state in (?, ?, ?)",
                    [RunState.QUEUED.value, RunState.RUNNING.value, RunState.ABORTING.value],
                )
            )
            for run in candidates:
                lease = list(db["leases"].rows_where("run_id = ?", [run["id"]]))
                if lease and parse_iso(lease[0]["until"]) > moment:
                    continue
                step = run["last_step"] or "before its first step"
                reaped.append(
                    self.transition(
                        run["id"], RunState.INTERRUPTED, f"process died; last step: {step}"
                    )
                )
        return reaped
