"""Bounded parallel execution of journaled Async XAPI calls, driven by `event.from`.

A phase of a run (recover the vApps, start the VMs group by group, shut them down) is a set of
`Action`s with dependencies: each action is one Async call, journaled before it is made and
after its task ends. `Executor.run` keeps at most `limits[lane]` tasks in flight per lane and
learns of finished tasks through one `TaskWaiter` of the client (a single `event.from`
subscription long-polled for all of them), never a thread per VM. A task that outlives the task
timeout fails its action (and is asked to cancel); a dependent whose dependency failed is
skipped, while one that only had to wait for it (the next start group of a vApp) goes on.
Among the actions that may
start, the one heading the longest remaining chain goes first (highest-level-first list
scheduling), which keeps the makespan close to the plan's critical path.

Crash safety: for an action begun in an earlier life of the run,
- with a task ref journaled: the task is re-attached to if it is still pending, its result
  taken if it finished, and the world is checked if it is gone;
- without a task ref (the process died between the call and the journal write): every
  pending task of the same XAPI method in the pool is waited for first, then the world is
  checked, and only if the effect is absent is the call made again.
So no effect is ever done twice.
"""

from __future__ import annotations

import contextlib
import heapq
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, Literal

from engine.errors import (
    DRError,
    ManualStepRequired,
    XapiError,
    XapiRejected,
    lost_contact,
)
from engine.journal import Journal
from engine.pool_api import PoolAPI
from engine.stepkeys import StepKey

Status = Literal["done", "failed", "skipped", "not-run"]


def suspends_run(exc: BaseException) -> bool:
    """True when `exc` must stop a run without failing it: a manual storage step (the run
    pauses for a person) or lost contact (the run is interrupted until the pool answers)."""
    return isinstance(exc, ManualStepRequired) or lost_contact(exc)


# After this long without any task ending, check that the tasks in flight still exist (one
# destroyed by someone else never sends an event the waiter recognises).
QUIET_CHECK_SECONDS = 30.0


@dataclass
class Action:
    """One journaled Async call.

    Attributes:
        key: idempotency key, unique within the run (e.g. `start:vm:<uuid>`).
        launch: makes the Async call and returns its task ref.
        reconcile: returns the journaled result if the world shows the effect already
            happened, else None. Called only for actions begun before a crash, and when a
            task vanished.
        interpret: turns the task's decoded result into the result to journal.
        after: keys of actions that must be done first (a failed one skips this action).
        after_any: keys of actions that must have *ended* first, whatever their outcome (the
            previous start group of a vApp: one VM failing does not stop the later groups).
        delay_after: seconds to wait after this action is done before its dependents start.
        lane: concurrency lane (`recover`, `start`, `shutdown`, ...).
        cost: estimated seconds, for the critical-path priority.
        methods: the XAPI methods `launch` may call (finds orphaned tasks after a crash).
        needless: called when the action could start; a reason (text) means the action has
            nothing to act on (a start of a VM that was not recovered): it is skipped for that
            reason without a journal step, and what only waited for it goes on.
    """

    key: StepKey
    name: str
    subject: str
    launch: Callable[[], str]
    reconcile: Callable[[], Any] | None = None
    interpret: Callable[[Any], Any] | None = None
    after: tuple[StepKey, ...] = ()
    after_any: tuple[StepKey, ...] = ()
    delay_after: float = 0.0
    lane: str = "default"
    cost: float = 1.0
    methods: tuple[str, ...] = ()
    needless: Callable[[], str | None] | None = None


@dataclass
class Outcome:
    status: Status
    result: Any = None
    error: str | None = None
    code: str | None = None


@dataclass
class _State:
    actions: dict[StepKey, Action]
    deps_left: dict[StepKey, set[StepKey]]
    dependents: dict[StepKey, list[StepKey]]
    priority: dict[StepKey, float]
    outcomes: dict[StepKey, Outcome] = field(default_factory=dict)
    # per lane
    ready: dict[str, list[tuple[float, int, StepKey]]] = field(default_factory=dict)
    timed: list[tuple[float, StepKey]] = field(default_factory=list)
    inflight: dict[str, tuple[StepKey, int, float]] = field(
        default_factory=dict
    )  # ref -> key, step, t0
    lanes: dict[str, int] = field(default_factory=dict)


class Executor:
    """Runs phases of Actions against one pool's client, journaling every step."""

    def __init__(
        self,
        client: PoolAPI,
        journal: Journal,
        *,
        limits: dict[str, int] | None = None,
        cancel: threading.Event | None = None,
        stop_on_failure: bool = False,
        task_timeout: float = 3600.0,
        on_outcome: Callable[[Action, Outcome], None] | None = None,
    ) -> None:
        self.client = client
        self.journal = journal
        self.clock = journal.clock
        self.limits = limits or {}
        self.cancel = cancel or threading.Event()
        self.stop_on_failure = stop_on_failure
        self.task_timeout = task_timeout
        self.on_outcome = on_outcome
        self._seq = 0
        self._settled: set[tuple[str, ...]] = set()

    # -- public --------------------------------------------------------------------------------

    def run(self, actions: Iterable[Action]) -> dict[StepKey, Outcome]:
        """Run the actions to the end (or to cancel / first failure when asked); every action
        gets an Outcome: done, failed, skipped (a dependency failed) or not-run (stopped)."""
        st = self._prepare(list(actions))
        # One event.from subscription for every task of this phase (engine/xapi.py TaskWaiter).
        self._waiter = self.client.task_waiter()
        quiet_since = self.clock.monotonic()
        stopping = False
        while True:
            self._release_timed(st)
            if self.cancel.is_set():
                stopping = True
            if not stopping:
                stopping = self._launch_ready(st)
            if not st.inflight:
                if stopping or (not self._any_ready(st) and not st.timed):
                    break
                if st.timed and not self._any_ready(st):
                    self.clock.sleep(max(0.0, st.timed[0][0] - self.clock.monotonic()))
                continue
            now = self.clock.monotonic()
            wait_for = 30.0
            if st.timed:
                wait_for = min(wait_for, st.timed[0][0] - now)
            oldest = min(t0 for _, _, t0 in st.inflight.values())
            wait_for = max(0.01, min(wait_for, oldest + self.task_timeout - now))
            outs = {o.ref: o for o in self._waiter.next(wait_for)}
            if outs:
                quiet_since = self.clock.monotonic()
            elif self.clock.monotonic() - quiet_since >= QUIET_CHECK_SECONDS:
                # Nothing ended for a while: make sure no task vanished without an event.
                outs = self._check_inflight(st)
                quiet_since = self.clock.monotonic()
            if self._expire(st):
                stopping = stopping or self.stop_on_failure
            for ref, out in outs.items():
                if ref not in st.inflight or out.status == "pending":
                    continue
                key, step_id, _t0 = st.inflight[ref]
                st.inflight.pop(ref)
                st.lanes[st.actions[key].lane] -= 1
                if out.status == "success":
                    self._done(st, key, step_id, out.result, from_task=True)
                elif out.status == "vanished":
                    found = self._reconcile(st.actions[key])
                    if found is not None:
                        self._done(st, key, step_id, found, from_task=False)
                    else:
                        self._failed(st, key, step_id, f"task {ref} vanished", "TASK_VANISHED")
                        stopping = stopping or self.stop_on_failure
                else:
                    err = out.error
                    self._failed(st, key, step_id, str(err), err.code if err is not None else None)
                    stopping = stopping or self.stop_on_failure
        for key in st.actions:
            if key not in st.outcomes:
                self._set(st, key, Outcome("not-run", error="stopped before it started"))
        return st.outcomes

    # -- preparation -----------------------------------------------------------------------------

    def _prepare(self, actions: list[Action]) -> _State:
        by_key = {a.key: a for a in actions}
        deps = {a.key: {d for d in (*a.after, *a.after_any) if d in by_key} for a in actions}
        dependents: dict[StepKey, list[StepKey]] = {a.key: [] for a in actions}
        for key, ds in deps.items():
            for d in ds:
                dependents[d].append(key)
        self._hard: dict[StepKey, set[StepKey]] = {a.key: set(a.after) for a in actions}
        priority: dict[StepKey, float] = {}

        def prio(key: StepKey) -> float:
            # Iterative longest-path-to-end, memoised (chains can be long).
            stack = [key]
            while stack:
                k = stack[-1]
                todo = [d for d in dependents[k] if d not in priority]
                if todo:
                    stack.extend(todo)
                    continue
                stack.pop()
                a = by_key[k]
                priority[k] = (
                    a.cost + a.delay_after + max((priority[d] for d in dependents[k]), default=0.0)
                )
            return priority[key]

        for a in actions:
            prio(a.key)
        st = _State(by_key, deps, dependents, priority)
        # Steps done in an earlier life of the run count as done now, without acting.
        for a in actions:
            row = self.journal.row(a.key)
            if row is not None and row.done:
                self._set(st, a.key, Outcome("done", row.result))
        for key in list(st.outcomes):
            for d in dependents[key]:
                deps[d].discard(key)
        for a in actions:
            if a.key not in st.outcomes and not deps[a.key]:
                self._push(st, a.key)
        return st

    def _push(self, st: _State, key: StepKey) -> None:
        self._seq += 1
        lane = st.ready.setdefault(st.actions[key].lane, [])
        heapq.heappush(lane, (-st.priority[key], self._seq, key))

    @staticmethod
    def _any_ready(st: _State) -> bool:
        return any(st.ready.values())

    def _release_timed(self, st: _State) -> None:
        now = self.clock.monotonic()
        while st.timed and st.timed[0][0] <= now:
            _, key = heapq.heappop(st.timed)
            self._push(st, key)

    # -- launching -------------------------------------------------------------------------------

    def _launch_ready(self, st: _State) -> bool:
        """Launch what the lanes allow; returns True if the run must stop (stop_on_failure)."""
        for lane, heap in list(st.ready.items()):
            limit = self.limits.get(lane)
            while heap and (limit is None or st.lanes.get(lane, 0) < limit):
                _, _, key = heapq.heappop(heap)
                if self._launch(st, st.actions[key]) or self.cancel.is_set():
                    return True
        return False

    def _launch(self, st: _State, a: Action) -> bool:
        row = self.journal.row(a.key)
        if row is not None:
            # Begun in an earlier life of this run: find out what became of it first.
            ref = row.task_ref
            if ref:
                out = self.client.task_outcome(ref)
                if out.status == "pending":
                    self._waiter.add(ref)
                    st.inflight[ref] = (a.key, row.id, self.clock.monotonic())
                    st.lanes[a.lane] = st.lanes.get(a.lane, 0) + 1
                    return False
                if out.status != "vanished":
                    # It ended while nobody watched: take its word, and tidy it away.
                    with contextlib.suppress(XapiError):
                        self.client.call("task.destroy", ref)
                if out.status == "success":
                    step_id = self.journal.begin(a.key, a.name, a.subject)
                    self._done(st, a.key, step_id, out.result, from_task=True)
                    return False
            else:
                self._settle(a.methods)
            found = self._reconcile(a)
            if found is not None:
                step_id = self.journal.begin(a.key, a.name, a.subject)
                self._done(st, a.key, step_id, found, from_task=False)
                return False
        why = a.needless() if a.needless is not None else None
        if why:
            # Nothing to act on: no step is journaled (it would only fail), and nothing that
            # needed it can run either.
            self._set(st, a.key, Outcome("skipped", error=why))
            self._after_failure(st, a.key, why)
            return False
        step_id = self.journal.begin(a.key, a.name, a.subject)
        try:
            ref = a.launch()
        except DRError as exc:
            if lost_contact(exc):
                # The pool stopped answering: not this action's fault. The step stays begun
                # (no task), so a resume checks the world before making the call again.
                raise
            self._failed(st, a.key, step_id, str(exc), exc.code)
            return self.stop_on_failure
        self.journal.attach(step_id, ref)
        self._waiter.add(ref)
        st.inflight[ref] = (a.key, step_id, self.clock.monotonic())
        st.lanes[a.lane] = st.lanes.get(a.lane, 0) + 1
        return False

    def _expire(self, st: _State) -> bool:
        """Fail the tasks that outlived the task timeout (asking XAPI to cancel them)."""
        now = self.clock.monotonic()
        expired = False
        for ref, (key, step_id, t0) in list(st.inflight.items()):
            if now - t0 < self.task_timeout:
                continue
            expired = True
            st.inflight.pop(ref)
            st.lanes[st.actions[key].lane] -= 1
            with contextlib.suppress(XapiError):
                self.client.call("task.cancel", ref)
            msg = f"task {ref} did not finish within {self.task_timeout:.0f} s"
            self._failed(st, key, step_id, msg, "TIMEOUT")
        return expired

    def _check_inflight(self, st: _State) -> dict[str, Any]:
        """After a quiet wait: a task someone else destroyed never reports; find such tasks."""
        ended = {}
        for ref in list(st.inflight):
            out = self.client.task_outcome(ref)
            if out.status == "pending":
                continue
            ended[ref] = out
            if out.status != "vanished":
                with contextlib.suppress(XapiError):
                    self.client.call("task.destroy", ref)
        return ended

    def _settle(self, methods: tuple[str, ...]) -> None:
        """Wait for orphaned pending tasks of `methods` (a crash between call and journal;
        several when the action picks one at launch)."""
        if not methods or methods in self._settled:
            return
        self._settled.add(methods)
        wanted = set(methods) | {f"Async.{m}" for m in methods}
        try:
            tasks = self.client.call("task.get_all_records")
        except XapiError:
            return
        pending = [
            ref
            for ref, rec in tasks.items()
            if rec.get("status") == "pending" and rec.get("name_label") in wanted
        ]
        if pending:
            # Not destroyed here: some are journaled and will be re-attached to.
            self.client.wait(pending, timeout=self.task_timeout, destroy=False)

    def _reconcile(self, a: Action) -> Any:
        if a.reconcile is None:
            return None
        with contextlib.suppress(XapiRejected):
            return a.reconcile()
        return None

    # -- completion ------------------------------------------------------------------------------

    def _set(self, st: _State, key: StepKey, outcome: Outcome) -> None:
        st.outcomes[key] = outcome
        if outcome.status == "skipped":
            a = st.actions[key]
            self.journal.skipped(key, a.name, a.subject, outcome.error or "")
        if self.on_outcome is not None:
            self.on_outcome(st.actions[key], outcome)

    def _done(self, st: _State, key: StepKey, step_id: int, raw: Any, *, from_task: bool) -> None:
        a = st.actions[key]
        result = a.interpret(raw) if (from_task and a.interpret) else raw
        if result is None:
            result = {}
        self.journal.finish(step_id, key, a.subject, result)
        self._set(st, key, Outcome("done", result))
        ready_at = self.clock.monotonic() + a.delay_after
        for d in st.dependents[key]:
            st.deps_left[d].discard(key)
            if not st.deps_left[d] and d not in st.outcomes:
                if a.delay_after > 0:
                    heapq.heappush(st.timed, (ready_at, d))
                else:
                    self._push(st, d)

    def _failed(self, st: _State, key: StepKey, step_id: int, error: str, code: str | None) -> None:
        a = st.actions[key]
        self.journal.fail(step_id, key, a.subject, error, code)
        self._set(st, key, Outcome("failed", error=error, code=code))
        self._after_failure(st, key, f"{a.name} {a.subject} failed")

    def _after_failure(self, st: _State, key: StepKey, why: str) -> None:
        """Skip what needed `key` to succeed (transitively); release what only needed it to end."""
        for d in st.dependents[key]:
            if d in st.outcomes:
                continue
            if key in self._hard[d]:
                self._set(st, d, Outcome("skipped", error=why))
                self._after_failure(st, d, why)
            else:
                st.deps_left[d].discard(key)
                if not st.deps_left[d]:
                    self._push(st, d)
