"""Runs: the persisted state machine, its journal of transitions, and one lease per pool."""

from __future__ import annotations

import builtins
import json
from collections.abc import Callable
from datetime import datetime
from typing import Any, cast

from store.db import StoreConnection, iso, parse_iso
from store.errors import IllegalTransition, LeaseHeld, RunNotFound
from store.outcomes import Kind, RunOutcome
from store.records import LeaseRecord, PausedStep, RunRecord, TransitionRecord
from store.states import ALLOWED, HOLDS_POOL, RunState


class Runs:
    """Create runs, move them between states, and hold the per-pool lease.

    Every state change is checked against `store.states.ALLOWED` and journaled in
    `run_transitions` in the same transaction as the change itself.
    """

    def __init__(self, conn: StoreConnection) -> None:
        self._c = conn

    def create(
        self,
        kind: Kind,
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
            table = db.table("runs")
            table.insert(
                {
                    "kind": Kind(kind).value,
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
                    "state_details_json": None,
                }
            )
            run_id = cast(int, table.last_pk)
            db.table("run_transitions").insert(
                {
                    "run_id": run_id,
                    "from_state": None,
                    "to_state": RunState.QUEUED.value,
                    "reason": reason or "created",
                    "at": at,
                }
            )
        return run_id

    def get(self, run_id: int) -> RunRecord:
        """The run; raises `RunNotFound`."""
        with self._c.lock:
            rows = list(self._c.db["runs"].rows_where("id = ?", [run_id]))
        if not rows:
            raise RunNotFound(run_id)
        return RunRecord.from_row(rows[0])

    def list(
        self, limit: int = 20, states: set[RunState] | None = None
    ) -> builtins.list[RunRecord]:
        """The newest runs first (optionally only those in `states`)."""
        where, args = None, []
        if states:
            where = "state in ({})".format(", ".join("?" for _ in states))
            args = sorted(RunState(s).value for s in states)
        with self._c.lock:
            rows = list(self._c.db["runs"].rows_where(where, args, order_by="id desc", limit=limit))
        return [RunRecord.from_row(r) for r in rows]

    def history(self, run_id: int) -> builtins.list[TransitionRecord]:
        """The journal of state transitions of a run, oldest first."""
        with self._c.lock:
            rows = list(
                self._c.db["run_transitions"].rows_where("run_id = ?", [run_id], order_by="id")
            )
        return [TransitionRecord.model_validate(r) for r in rows]

    def transition(
        self,
        run_id: int,
        to_state: RunState,
        reason: str | None = None,
        *,
        error: str | None = None,
        outcome: RunOutcome | None = None,
        paused_step: PausedStep | None = None,
    ) -> RunRecord:
        """Move a run to `to_state` if the table allows it; journal it in the same transaction.

        `paused_step` (only with `paused`) is what the paused run waits for; every transition
        replaces it, so it never outlives the pause. Raises `IllegalTransition` (naming the
        states it may go to) otherwise.
        """
        dst = RunState(to_state)
        if paused_step is not None and dst is not RunState.PAUSED:
            raise ValueError("only a paused run waits for a step")
        with self._c.write() as db:
            run = self.get(run_id)
            src = run.state
            if dst not in ALLOWED[src]:
                raise IllegalTransition(
                    run_id, src.value, dst.value, sorted(s.value for s in ALLOWED[src])
                )
            at = self._c.stamp()
            update: dict[str, Any] = {
                "state": dst.value,
                "updated_at": at,
                "state_details_json": paused_step.model_dump_json() if paused_step else None,
            }
            if error is not None:
                update["error"] = error
            if outcome is not None:
                update["outcome_json"] = _outcome_json(outcome)
            db.table("runs").update(run_id, update)
            db.table("run_transitions").insert(
                {
                    "run_id": run_id,
                    "from_state": src.value,
                    "to_state": dst.value,
                    "reason": reason,
                    "at": at,
                }
            )
        return self.get(run_id)

    def set_outcome(self, run_id: int, outcome: RunOutcome) -> None:
        """Record the per-VM outcome so far (kept current while the run goes)."""
        with self._c.write() as db:
            db.table("runs").update(
                run_id,
                {
                    "outcome_json": _outcome_json(outcome),
                    "updated_at": self._c.stamp(),
                },
            )

    # -- leases --------------------------------------------------------------------------

    def lease(self, pool: str) -> LeaseRecord | None:
        """The lease on `pool`, or None."""
        with self._c.lock:
            rows = list(self._c.db["leases"].rows_where("pool = ?", [pool]))
        return LeaseRecord.model_validate(rows[0]) if rows else None

    def acquire_lease(self, pool: str, run_id: int, holder: str, until: datetime) -> None:
        """Take the one lease on `pool` for `run_id` until `until`.

        Succeeds when the pool is free, when the lease is held by the same run (a resume), or
        when the holding run is finished. Raises `LeaseHeld` otherwise, naming the run that
        holds it (an interrupted run holds its pool until it is resumed or aborted).
        """
        with self._c.write() as db:
            current = self.lease(pool)
            if current and current.run_id != run_id:
                other = list(db.table("runs").rows_where("id = ?", [current.run_id]))
                # An interrupted run still claims its pool: it left work half done that must be
                # resumed or aborted before anything else touches that pool. An expired lease
                # of a run still marked running means its process died; it is reaped at boot.
                if other and RunState(other[0]["state"]) in HOLDS_POOL:
                    raise LeaseHeld(pool, current.run_id, current.holder, iso(current.until))
            db.table("leases").upsert(
                {"pool": pool, "run_id": run_id, "holder": holder, "until": iso(until)},
                pk="pool",
            )

    def renew_lease(self, pool: str, run_id: int, holder: str, until: datetime) -> None:
        """Extend a lease this holder has; raises `LeaseHeld` if someone else holds it."""
        with self._c.write() as db:
            current = self.lease(pool)
            if current is not None and (current.run_id != run_id or current.holder != holder):
                raise LeaseHeld(pool, current.run_id, current.holder, iso(current.until))
            db.table("leases").upsert(
                {"pool": pool, "run_id": run_id, "holder": holder, "until": iso(until)},
                pk="pool",
            )

    def release_lease(self, pool: str, run_id: int) -> None:
        """Give the pool back (only the run that holds it can)."""
        with self._c.write() as db:
            db.execute("DELETE FROM leases WHERE pool = ? AND run_id = ?", [pool, run_id])

    def interrupted_at_boot(
        self, now: datetime | None = None, gone: Callable[[str], str | None] | None = None
    ) -> builtins.list[RunRecord]:
        """Reap runs whose driver died: mark them `interrupted` and return them.

        A run is reaped when it is in an active state (`queued`, `running`, `aborting`; a
        `paused` run waits for a person and is left alone) and its lease has expired at `now`,
        it has no lease, or `gone(holder)` says the lease's holder provably no longer exists
        (it returns how that is known, else None). The transition's reason says which, and
        `last_step` where it stopped. Called at startup and before a resume or an abort; it
        never resumes anything itself.
        """
        moment = now or self._c.now()
        reaped = []
        with self._c.write() as db:
            candidates = list(
                db.table("runs").rows_where(
                    "state in (?, ?, ?)",
                    [RunState.QUEUED.value, RunState.RUNNING.value, RunState.ABORTING.value],
                )
            )
            for run in candidates:
                lease = list(db.table("leases").rows_where("run_id = ?", [run["id"]]))
                if not lease:
                    why = "it holds no lease"
                elif parse_iso(lease[0]["until"]) <= moment:
                    why = f"its lease expired at {lease[0]['until']}"
                else:
                    found = gone(lease[0]["holder"]) if gone is not None else None
                    if found is None:
                        continue  # its process may still be working: wait for the lease
                    why = found
                step = run["last_step"] or "before its first step"
                reaped.append(
                    self.transition(
                        run["id"],
                        RunState.INTERRUPTED,
                        f"process died ({why}); last step: {step}",
                    )
                )
        return reaped


def _outcome_json(outcome: RunOutcome) -> str:
    return json.dumps(outcome.model_dump(mode="json"), sort_keys=True)
