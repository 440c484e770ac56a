"""`Async.*` calls as XAPI tasks (reference §1.9).

`Async.X.y(...)` creates a `task` in the pool's own database (even for a foreign-database
session, as XAPI does), returns its ref at once and runs the method on a thread of its own
(at most `max_pending` tasks pending at once, else `TOO_MANY_PENDING_TASKS`). On success:
`status=success`, `progress=1.0`, `finished`, and `result` = the XML-RPC serialisation of
the return value. On failure: `status=failure` and `error_info` = the
ErrorDescription a synchronous call would have returned. A method that notices
`task.cancel` (through `call.task.cancelled()` / `check_cancelled()`) ends `cancelled`.

Finished tasks stay until `task.destroy` or garbage collection: finished ones after
`finished_ttl` (65 min in XAPI), pending ones after 24 h, and at most `keep` finished tasks.
"""

from __future__ import annotations

import logging
import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from sim.xapi.api import Call, MethodSpec, method, role_allows
from sim.xapi.errors import (
    RBAC_PERMISSION_DENIED,
    TASK_CANCELLED,
    TOO_MANY_PENDING_TASKS,
    XapiError,
)
from sim.xapi.errors import handle_invalid as _handle_invalid
from sim.xapi.schema import NULL_REF
from sim.xapi.wire import task_result

if TYPE_CHECKING:
    from sim.xapi.db import Database

log = logging.getLogger(__name__)


class TaskHandle:
    """What a method running under `Async.` sees as `call.task`."""

    def __init__(self, db: Database, ref: str) -> None:
        self.db = db
        self.ref = ref

    def progress(self, fraction: float) -> None:
        """Report progress (0..1); ignored once the task is gone."""
        try:
            self.db.set("task", self.ref, progress=float(min(max(fraction, 0.0), 1.0)))
        except XapiError:
            pass

    def cancelled(self) -> bool:
        """Whether `task.cancel` was called on this task."""
        try:
            ops = self.db.get_field("task", self.ref, "current_operations")
        except XapiError:
            return True
        return "cancel" in ops.values()

    def check_cancelled(self) -> None:
        """Raise `TASK_CANCELLED [task]` if the task was cancelled."""
        if self.cancelled():
            raise XapiError(TASK_CANCELLED, self.ref)


class Tasks:
    """Runs Async calls on a bounded executor and keeps the task records right."""

    def __init__(
        self,
        *,
        max_workers: int | None = None,
        max_pending: int = 2000,
        keep: int = 200,
        finished_ttl: float = 65 * 60,
        pending_ttl: float = 24 * 3600,
    ) -> None:
        # xapi runs every Async call on a thread of its own, so a slow task (a boot, a
        # start_delay, a stalled recovery) never holds another back; only the number of
        # pending tasks is bounded (TOO_MANY_PENDING_TASKS). `max_workers` caps the threads
        # instead, for callers that want a fixed pool.
        self.executor = (
            ThreadPoolExecutor(max_workers=max_workers, thread_name_prefix="xapi-task")
            if max_workers
            else None
        )
        self.max_pending = max_pending
        self.keep = keep
        self.finished_ttl = finished_ttl
        self.pending_ttl = pending_ttl
        self._lock = threading.Lock()
        self._pending = 0
        self.owner: dict[str, str] = {}  # task ref -> session ref that started it
        # task ref -> callbacks for its outcome, and outcomes of tasks that ended first.
        self._watchers: dict[str, list[Any]] = {}
        self._outcomes: dict[str, str] = {}

    def on_finish(self, ref: str, fn: Any) -> None:
        """Call `fn(outcome)` when the task ends ("Success", "cancelled" or an error code)."""
        with self._lock:
            outcome = self._outcomes.pop(ref, None)
            if outcome is None:
                self._watchers.setdefault(ref, []).append(fn)
                return
        fn(outcome)

    def _finished(self, ref: str, outcome: str) -> None:
        with self._lock:
            watchers = self._watchers.pop(ref, None)
            if watchers is None:
                self._outcomes[ref] = outcome
                if len(self._outcomes) > 10_000:  # nobody asked for these
                    self._outcomes.pop(next(iter(self._outcomes)))
                return
        for fn in watchers:
            fn(outcome)

    def shutdown(self) -> None:
        if self.executor is not None:
            self.executor.shutdown(wait=False, cancel_futures=True)

    def create(self, call: Call, label: str, description: str = "") -> str:
        """A pending task in the pool's database, owned by the calling session."""
        db = call.pool.db
        self.collect_garbage(db, call.clock)
        hosts = db.where("host", address=call.pool.coordinator_address)
        ref = db.create(
            "task",
            {
                "name_label": label,
                "name_description": description,
                "created": call.clock.now(),
                "status": "pending",
                "resident_on": hosts[0] if hosts else NULL_REF,
                "progress": 0.0,
                "allowed_operations": ["cancel"],
            },
        )
        if call.session:
            self.owner[ref] = call.session
        return ref

    def start(self, call: Call, spec: MethodSpec, args: list[Any], wire_name: str) -> str:
        """Create the task and run `spec` in the background; -> task ref."""
        with self._lock:
            if self._pending >= self.max_pending:
                raise XapiError(TOO_MANY_PENDING_TASKS)
            self._pending += 1
        try:
            ref = self.create(call, wire_name)
        except BaseException:
            with self._lock:
                self._pending -= 1
            raise
        call.task = TaskHandle(call.pool.db, ref)
        if self.executor is not None:
            self.executor.submit(self._run, call, spec, args, ref)
        else:
            threading.Thread(
                target=self._run,
                args=(call, spec, args, ref),
                name=f"xapi-task-{spec.name}",
                daemon=True,
            ).start()
        return ref

    def _run(self, call: Call, spec: MethodSpec, args: list[Any], ref: str) -> None:
        db = call.pool.db
        fields: dict[str, Any]
        try:
            value = spec.func(call, *args)
            fields = {"status": "success", "result": task_result(value)}
        except XapiError as e:
            status = "cancelled" if e.code == TASK_CANCELLED else "failure"
            fields = {"status": status, "error_info": e.description}
        except Exception as e:  # a bug in a method must fail its task, not the worker
            log.exception("internal error in task %s", spec.name)
            fields = {"status": "failure", "error_info": ["INTERNAL_ERROR", f"{e}"]}
        finally:
            with self._lock:
                self._pending -= 1
        fields.update(
            progress=1.0, finished=call.clock.now(), allowed_operations=[], current_operations={}
        )
        try:
            db.set("task", ref, **fields)
        except XapiError:
            pass  # destroyed while running: nothing to report to
        if fields["status"] == "success":
            outcome = "Success"
        elif fields["status"] == "cancelled":
            outcome = "cancelled"
        else:
            outcome = fields["error_info"][0]
        self._finished(ref, outcome)

    def collect_garbage(self, db: Database, clock: Any) -> int:
        """Drop old finished and pending tasks as XAPI's GC does; -> how many."""
        now = clock.now()
        doomed: list[str] = []
        finished: list[tuple[Any, str]] = []
        with db.lock:
            for ref in db.refs("task"):
                rec = db.live("task", ref)
                if rec is None:
                    continue
                if rec["status"] == "pending":
                    if now - rec["created"] > timedelta(seconds=self.pending_ttl):
                        doomed.append(ref)
                elif now - rec["finished"] > timedelta(seconds=self.finished_ttl):
                    doomed.append(ref)
                else:
                    finished.append((rec["finished"], ref))
            if len(finished) > self.keep:
                finished.sort()
                doomed += [r for _, r in finished[: len(finished) - self.keep]]
            for ref in doomed:
                db.delete("task", ref)
                self.owner.pop(ref, None)
        return len(doomed)


def _task_ref(call: Call, ref: Any) -> str:
    if not isinstance(ref, str) or not call.pool.db.exists("task", ref):
        raise _handle_invalid("task", str(ref))
    return ref


def _assert_may_touch(call: Call, ref: str, perm: str) -> None:
    owner = call.dispatcher.tasks.owner.get(ref)
    if owner == call.session or role_allows(call.role or "", "pool-operator"):
        return
    raise XapiError(
        RBAC_PERMISSION_DENIED,
        perm,
        "No permission in user session. (Roles with this permission: pool-admin, pool-operator)",
    )


@method("task.cancel", ["task"], async_ok=True)  # a custom call: it has an Async form
def task_cancel(call: Call, task: str) -> str:
    """Ask a task to stop: a `cancel` entry in its current_operations (never refused)."""
    ref = _task_ref(call, task)
    _assert_may_touch(call, ref, "task.destroy/any")
    db = call.pool.db
    with db.lock:
        rec = db.live("task", ref)
        if rec is not None and rec["status"] == "pending":
            ops = dict(rec["current_operations"])
            ops[call.session or ref] = "cancel"
            db.set("task", ref, current_operations=ops)
    return ""


@method("task.destroy", ["self"])
def task_destroy(call: Call, task: str) -> str:
    """Remove a task record."""
    ref = _task_ref(call, task)
    _assert_may_touch(call, ref, "task.destroy/any")
    call.pool.db.delete("task", ref)
    call.dispatcher.tasks.owner.pop(ref, None)
    return ""


@method("task.create", ["label", "description"])
def task_create(call: Call, label: str, description: str) -> str:
    """A client-owned pending task."""
    return call.dispatcher.tasks.create(call, str(label), str(description))
