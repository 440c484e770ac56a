"""The journal of a run's steps: written before and after every side effect.

A step is identified within its run by an idempotency `key` (for example
`recover:vm:<uuid>`). `begin` writes the step as `started` *before* the side effect, `attach_task`
records the XAPI task ref as soon as the async call returned it, and `finish` / `fail` close it
*after*. After a crash the journal tells the resumer, for every key, whether the effect is done
(skip it), was started with a known task (re-attach to the task), or was started without a task
(check the world before repeating it). `begin` refuses a key that is already `done`.
"""

from __future__ import annotations

import json
from typing import Any, cast

from store.db import StoreConnection
from store.errors import StepAlreadyDone
from store.records import StepRecord, StepStatus

STARTED, DONE, FAILED = StepStatus.STARTED, StepStatus.DONE, StepStatus.FAILED


class Steps:
    """Begin, attach a task to, finish or fail the steps of runs."""

    def __init__(self, conn: StoreConnection) -> None:
        self._c = conn

    def begin(self, run_id: int, key: str, name: str, subject: str | None = None) -> int:
        """Journal that the side effect `key` is about to happen; returns the step id.

        A key seen before and not done (started or failed) is reopened with one more attempt,
        keeping its task ref so a resumer can re-attach. Raises `StepAlreadyDone` for a key that
        is done: a step is never done twice.
        """
        with self._c.write() as db:
            at = self._c.stamp()
            existing = self.get(run_id, key)
            if existing is not None:
                if existing.done:
                    raise StepAlreadyDone(run_id, key)
                db.table("steps").update(
                    existing.id,
                    {
                        "status": STARTED.value,
                        "attempts": existing.attempts + 1,
                        "error": None,
                        "started_at": at,
                        "finished_at": None,
                    },
                )
                step_id = existing.id
            else:
                table = db.table("steps")
                table.insert(
                    {
                        "run_id": run_id,
                        "key": key,
                        "name": name,
                        "subject": subject,
                        "status": STARTED.value,
                        "task_ref": None,
                        "result_json": None,
                        "error": None,
                        "attempts": 1,
                        "started_at": at,
                        "finished_at": None,
                    }
                )
                step_id = cast(int, table.last_pk)
            db.table("runs").update(
                run_id, {"last_step": f"{name} {subject or ''}".strip(), "updated_at": at}
            )
        return step_id

    def attach_task(self, step_id: int, task_ref: str) -> None:
        """Record the XAPI task that carries this step's effect, as soon as it is known."""
        with self._c.write() as db:
            db.table("steps").update(step_id, {"task_ref": task_ref})

    def finish(self, step_id: int, result: Any = None) -> None:
        """Journal that the side effect happened, with what it produced."""
        with self._c.write() as db:
            db.table("steps").update(
                step_id,
                {
                    "status": DONE.value,
                    "result_json": json.dumps(result, sort_keys=True, default=str),
                    "error": None,
                    "finished_at": self._c.stamp(),
                },
            )

    def fail(self, step_id: int, error: str) -> None:
        """Journal that the side effect did not happen (or not completely), and why."""
        with self._c.write() as db:
            db.table("steps").update(
                step_id, {"status": FAILED.value, "error": error, "finished_at": self._c.stamp()}
            )

    def get(self, run_id: int, key: str) -> StepRecord | None:
        """The step of `run_id` with this key, or None."""
        with self._c.lock:
            rows = list(self._c.db["steps"].rows_where("run_id = ? and key = ?", [run_id, key]))
        return StepRecord.from_row(rows[0]) if rows else None

    def for_run(self, run_id: int) -> list[StepRecord]:
        """Every step of a run, in the order they were first begun."""
        with self._c.lock:
            rows = list(self._c.db["steps"].rows_where("run_id = ?", [run_id], order_by="id"))
        return [StepRecord.from_row(r) for r in rows]
