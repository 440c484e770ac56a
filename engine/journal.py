"""A run's journal as the kinds use it: every side effect written before and after it happens.

`Journal.effect(key, ...)` is the one way a kind performs a synchronous side effect: a key
already done returns its recorded result without acting again; a key begun before a crash is
first *reconciled* with the world (the kind says how to tell that the effect already happened);
anything else is begun, done, and finished in the store, with events to the subscribers.
Async effects go through `engine.executor`, which uses the same journal.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from engine.clock import Clock
from engine.events import EventBus, RunEvent
from engine.stepkeys import StepKey
from store import StepRecord, Store


class Journal:
    """The steps of one run, with progress events."""

    def __init__(self, store: Store, run_id: int, bus: EventBus, clock: Clock) -> None:
        self.store = store
        self.run_id = run_id
        self.bus = bus
        self.clock = clock
        self.phase = ""

    # -- reading -----------------------------------------------------------------------------

    def row(self, key: StepKey) -> StepRecord | None:
        return self.store.steps.get(self.run_id, str(key))

    def is_done(self, key: StepKey) -> bool:
        row = self.row(key)
        return row is not None and row.done

    def result(self, key: StepKey) -> Any:
        row = self.row(key)
        return row.result if row is not None and row.done else None

    def steps(self) -> list[StepRecord]:
        return self.store.steps.for_run(self.run_id)

    # -- writing -----------------------------------------------------------------------------

    def emit(self, type_: str, **fields: Any) -> None:
        self.bus.emit(
            RunEvent(
                run_id=self.run_id, type=type_, at=self.clock.now(), phase=self.phase, **fields
            )
        )

    def begin(self, key: StepKey, name: str, subject: str = "") -> int:
        step_id = self.store.steps.begin(self.run_id, str(key), name, subject)
        self.emit("step-started", step_key=str(key), subject=subject, message=name)
        return step_id

    def attach(self, step_id: int, task_ref: str) -> None:
        self.store.steps.attach_task(step_id, task_ref)

    def finish(self, step_id: int, key: StepKey, subject: str, result: Any = None) -> None:
        self.store.steps.finish(step_id, result)
        self.emit("step-finished", step_key=str(key), subject=subject)

    def fail(
        self, step_id: int, key: StepKey, subject: str, error: str, code: str | None = None
    ) -> None:
        """Journal a failed step; `code` is XAPI's error code (or ours) when there is one."""
        self.store.steps.fail(step_id, error)
        self.emit("step-failed", step_key=str(key), subject=subject, message=error)

    def skipped(self, key: StepKey, name: str, subject: str, why: str) -> None:
        """A step that will not run (what it needed failed, or it has nothing to act on). It is
        not a journal row (nothing happened); the runner's journal audits it."""

    def effect(
        self,
        key: StepKey,
        name: str,
        subject: str,
        act: Callable[[int], Any],
        *,
        reconcile: Callable[[], Any] | None = None,
    ) -> Any:
        """Perform a journaled side effect at most once; returns its (recorded) result.

        Args:
            act: does the effect; gets the step id (to `attach` a task ref) and returns a
                JSON-able result.
            reconcile: for a step begun before a crash and never finished: returns the result
                if the world shows the effect already happened, or None to do it (again).
        """
        row = self.row(key)
        if row is not None and row.done:
            return row.result
        if row is not None and reconcile is not None:
            found = reconcile()
            if found is not None:
                step_id = self.begin(key, name, subject)
                self.finish(step_id, key, subject, found)
                return found
        step_id = self.begin(key, name, subject)
        try:
            result = act(step_id)
        except BaseException as exc:
            code = getattr(exc, "code", None)
            self.fail(
                step_id,
                key,
                subject,
                str(exc) or type(exc).__name__,
                code if isinstance(code, str) else None,
            )
            raise
        self.finish(step_id, key, subject, result)
        return result
