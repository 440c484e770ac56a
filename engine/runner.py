"""The runner: executes plans as persisted, crash-resumable runs, one per pool at a time.

A run is a state machine in the store (`store.states`): `start` creates it `queued` with its
plan frozen, takes the lease of every pool it acts on, and hands it to a worker thread (one per
run, never one per VM: the parallelism is in Async calls awaited through `event.from`, see
`engine.executor`). The worker calls the kind's `execute`, which journals every side effect
before and after it happens; the run ends `succeeded`, `partially-succeeded`, `failed` or
`cancelled`, or `paused` when a storage step waits for a person.

If the process dies, the run stays `running` with an expired lease; at the next start
`reap()` marks it `interrupted` with its last step. A person then resumes it (`resume`: the
kind's `execute` again, which skips done steps, re-attaches to journaled XAPI tasks and checks
the world before repeating anything) or aborts it (`abort`: the kind removes what the run
created). The runner never resumes a run by itself.

Example:
    runner = Runner(store, clients, adapter, SystemClock())
    run_id = runner.start(plan, requested_by="U123", reason="quarterly drill")
    runner.wait(run_id, timeout=3600)
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Mapping
from datetime import timedelta
from typing import Any

from engine import run_messages
from engine.clock import Clock, SystemClock
from engine.config import Concurrency
from engine.errors import (
    DRError,
    ManualStepRequired,
    PlanChanged,
    RunConflict,
    RunStateError,
    lost_contact,
)
from engine.events import EventBus, RunEvent, Subscriber
from engine.holders import Holder
from engine.journal import Journal
from engine.kinds import KINDS
from engine.kinds.context import Limits, RunContext
from engine.kinds.result import Result
from engine.models import Plan
from engine.pool_api import PoolAPI
from engine.stepkeys import StepKey
from engine.storage.base import StorageAdapter
from store import (
    IllegalTransition,
    Kind,
    LeaseHeld,
    PausedStep,
    RunOutcome,
    RunRecord,
    RunState,
    Store,
)
from store.audit import STEP_DONE, STEP_FAILED, STEP_SKIPPED

log = logging.getLogger(__name__)


class PlanBlocked(DRError):
    """The plan has blockers: a run never starts past one."""


# States in which a worker drives the run (as opposed to a person holding it).
DRIVEN = frozenset({RunState.QUEUED, RunState.RUNNING, RunState.ABORTING})


def _gone(holder: str) -> str | None:
    """Why a lease's holder provably no longer exists (for the reaper), else None."""
    found = Holder.parse(holder)
    return f"{found.describe()} no longer exists" if found.provably_gone else None


class Runner:
    """Starts, resumes, cancels and aborts runs; publishes their progress as `RunEvent`s.

    Args:
        store: where runs, steps, leases, audit and drills live.
        clients: pool name -> connected `XapiClient` (a mapping, or a function).
        adapter: the storage replication adapter.
        clock: time source; `SystemClock()` in production.
        concurrency: Async calls in flight per lane (`engine.config.Concurrency` or `Limits`).
        lease_seconds: how long a lease lasts without renewal; the worker renews it every
            third of that. A run whose process died is reaped after it expires.
    """

    def __init__(
        self,
        store: Store,
        clients: Mapping[str, PoolAPI] | Callable[[str], PoolAPI],
        adapter: StorageAdapter,
        clock: Clock | None = None,
        concurrency: Concurrency | Limits | None = None,
        *,
        lease_seconds: float = 120.0,
        task_timeout: float = 3600.0,
        engine_waits_start_delay: bool = False,
    ) -> None:
        self.store = store
        self._clients = clients
        self.adapter = adapter
        self.clock = clock or SystemClock()
        self.limits = (
            Limits()
            if concurrency is None
            else Limits(
                recover=concurrency.recover,
                start=concurrency.start,
                shutdown=concurrency.shutdown,
            )
        )
        self.lease_seconds = lease_seconds
        self.task_timeout = task_timeout
        self.engine_waits_start_delay = engine_waits_start_delay
        self.holder = str(Holder.this_process())
        self.bus = EventBus()
        self._workers: dict[int, threading.Thread] = {}
        self._cancels: dict[int, threading.Event] = {}
        self._lock = threading.Lock()

    # -- public API ------------------------------------------------------------------------------

    def subscribe(self, fn: Subscriber) -> Callable[[], None]:
        """Receive every `RunEvent` of every run; returns the unsubscribe function."""
        return self.bus.subscribe(fn)

    def client(self, pool: str) -> PoolAPI:
        if callable(self._clients) and not isinstance(self._clients, Mapping):
            return self._clients(pool)
        if pool not in self._clients:
            raise DRError(run_messages.UNKNOWN_POOL_CLIENT.format(pool=pool))
        return self._clients[pool]

    def start(self, plan: Plan, requested_by: str, reason: str | None = None) -> int:
        """Create a run of `plan`, take its pools' leases and start it in a worker thread.

        Raises `PlanBlocked` when the plan has blockers, `PlanChanged` when its content no
        longer matches its hash, and `RunConflict` when another run holds one of its pools.
        Returns the run id at once.
        """
        if plan.blockers:
            items = "; ".join(f"{c.name} ({c.subject})" for c in plan.blockers)
            raise PlanBlocked(
                run_messages.PLAN_BLOCKED.format(count=len(plan.blockers), items=items)
            )
        if not plan.hash:
            raise PlanBlocked(run_messages.PLAN_UNSEALED)
        if plan.compute_hash() != plan.hash:
            # What runs must be exactly what was approved: an edited plan is refused.
            raise PlanChanged(run_messages.PLAN_EDITED.format(hash=plan.hash[:12]))
        conflict: RunConflict | None = None
        # One transaction from the run's creation to its start: a store that fails half-way
        # (a full disk) leaves no run `queued` holding a lease, only the error.
        with self.store.conn.write():
            run_id = self.store.runs.create(
                plan.kind,
                plan.target,
                plan.dest_pool,
                plan.hash,
                plan.model_dump_json(),
                requested_by,
                reason,
            )
            try:
                self._lease(run_id, plan)
            except RunConflict as exc:
                self.store.runs.transition(run_id, RunState.FAILED, "pool busy", error="pool busy")
                conflict = exc
            else:
                self.store.audit.append(
                    "RunRequested",
                    requested_by,
                    {
                        "run_id": run_id,
                        "kind": plan.kind,
                        "target": plan.target,
                        "plan_hash": plan.hash,
                        "dest_pool": plan.dest_pool,
                        "source_pool": plan.source_pool,
                        "reason": reason,
                    },
                )
                self._transition(run_id, RunState.RUNNING, "started", actor=requested_by)
        if conflict is not None:
            raise conflict
        self._spawn(run_id, plan, "execute")
        return run_id

    def resume(
        self,
        run_id: int,
        actor: str = "operator",
        before: Callable[[RunRecord], None] | None = None,
    ) -> None:
        """Go on with an interrupted or paused run where its journal says it stopped.

        A run still marked running whose process is provably gone is taken over at once (see
        `reap`); one whose process may live is refused saying who drives it and when its lease
        expires. The state check, the lease and the transition are one transaction: two
        processes resuming one run cannot both drive it. `before(run)` runs inside that
        transaction once the run is known resumable (a person's confirmation of the storage
        step it paused at): a second click on the same button finds the run no longer paused,
        so what `before` records is recorded once.
        """
        self.reap()
        with self.store.conn.write():
            run = self.store.runs.get(run_id)
            if run.state not in (RunState.INTERRUPTED, RunState.PAUSED):
                raise RunStateError(
                    self.driven_elsewhere(run_id, "resume")
                    or run_messages.CANNOT_RESUME.format(run_id=run_id, state=run.state)
                )
            if before is not None:
                before(run)
            plan = _plan_of(run)
            self._lease(run_id, plan)
            self._transition(run_id, RunState.RUNNING, "resumed", actor=actor)
        self._spawn(run_id, plan, "execute")

    def abort(self, run_id: int, actor: str = "operator") -> None:
        """Undo what a run created (newest first); a live run of this process is cancelled
        first, one driven by another process is refused (see `resume`)."""
        self.reap()
        run = self.store.runs.get(run_id)
        if run.state in DRIVEN:
            elsewhere = self.driven_elsewhere(run_id, "abort")
            if elsewhere:
                raise RunStateError(elsewhere)
            self.cancel(run_id, actor)
            self.wait(run_id, timeout=self.task_timeout)
        allowed = {RunState.PAUSED, RunState.INTERRUPTED, RunState.FAILED, RunState.CANCELLED}
        with self.store.conn.write():
            run = self.store.runs.get(run_id)
            if run.state not in allowed:
                raise RunStateError(
                    run_messages.CANNOT_ABORT.format(run_id=run_id, state=run.state)
                )
            plan = _plan_of(run)
            self._lease(run_id, plan)
            self._transition(run_id, RunState.ABORTING, "abort requested", actor=actor)
        self._spawn(run_id, plan, "abort")

    def driven_elsewhere(self, run_id: int, action: str) -> str | None:
        """Why `action` (resume, abort, cancel) cannot take over a run that a worker drives in
        another process: who drives it and, unless it provably lives on this host, when its
        lease expires. None when the run is not driven, or driven here."""
        run = self.store.runs.get(run_id)
        with self._lock:
            worker = self._workers.get(run_id)
        if run.state not in DRIVEN or (worker is not None and worker.is_alive()):
            return None
        leases = [
            lease
            for pool in self._pools(_plan_of(run))
            if (lease := self.store.runs.lease(pool)) is not None and lease.run_id == run_id
        ]
        if not leases:
            return None
        lease = max(leases, key=lambda item: item.until)
        holder = Holder.parse(lease.holder)
        if holder.on_this_host and not holder.provably_gone:
            return run_messages.RUN_DRIVEN_HERE_ELSEWHERE.format(
                run_id=run_id, state=run.state, holder=holder.describe(), action=action
            )
        left = max(0, round((lease.until - self.clock.now()).total_seconds()))
        return run_messages.RUN_DRIVEN_ELSEWHERE.format(
            run_id=run_id,
            state=run.state,
            holder=holder.describe(),
            until=lease.until.isoformat(timespec="seconds"),
            left=left,
            action=action,
        )

    def cancel(self, run_id: int, actor: str = "operator") -> None:
        """Ask a run driven by this process to stop: no new step starts, steps in flight end,
        and the kind cleans up where it says so (a test failover always does). A paused run
        is aborted (it has nothing in flight to finish)."""
        run = self.store.runs.get(run_id)
        if run.state is RunState.PAUSED:
            # Nothing is in flight, but what the run made so far must not stay: undo it.
            self.abort(run_id, actor)
            return
        if run.state not in (RunState.QUEUED, RunState.RUNNING):
            raise RunStateError(run_messages.CANNOT_CANCEL.format(run_id=run_id, state=run.state))
        with self._lock:
            event = self._cancels.get(run_id)
        if event is None:
            raise RunStateError(
                self.driven_elsewhere(run_id, "abort")
                or run_messages.NOT_RUNNING_HERE.format(run_id=run_id)
            )
        self.store.audit.append("RunCancelRequested", actor, {"run_id": run_id})
        event.set()

    def wait(self, run_id: int, timeout: float | None = None) -> RunRecord:
        """Wait (bounded) for this process's worker of a run to end; returns the run."""
        with self._lock:
            worker = self._workers.get(run_id)
        if worker is not None:
            worker.join(timeout)
        return self.store.runs.get(run_id)

    def paused_step(self, run_id: int) -> PausedStep | None:
        """The manual storage step a paused run waits for (None unless the run is paused)."""
        return self.store.runs.get(run_id).paused_step

    def reap(self) -> list[RunRecord]:
        """Mark runs whose process died `interrupted` (never resumes them): at once when the
        lease's holder provably no longer exists (this host, its pid gone), else once the
        lease has expired. Called at startup and before every resume and abort."""
        reaped = self.store.runs.interrupted_at_boot(self.clock.now(), gone=_gone)
        for run in reaped:
            self.store.audit.append(
                "RunInterrupted", "drbot", {"run_id": run.id, "last_step": run.last_step}
            )
            self._emit(run.id, "state", state=run.state, message=run.last_step or "")
        return reaped

    # -- internals -------------------------------------------------------------------------------

    def _pools(self, plan: Plan) -> list[str]:
        pools = [plan.dest_pool]
        if plan.kind is Kind.FAILBACK or (plan.kind is Kind.FAILOVER and plan.planned):
            pools.append(plan.source_pool)
        return pools

    def _lease(self, run_id: int, plan: Plan) -> None:
        until = self.clock.now() + timedelta(seconds=self.lease_seconds)
        taken = []
        try:
            for pool in self._pools(plan):
                self.store.runs.acquire_lease(pool, run_id, self.holder, until)
                taken.append(pool)
        except LeaseHeld as exc:
            for pool in taken:
                self.store.runs.release_lease(pool, run_id)
            raise self._conflict(exc) from exc

    def _conflict(self, held: LeaseHeld) -> RunConflict:
        """The refusal for a pool another run holds: whether that run will end by itself (a
        worker drives it: wait) or waits for a person (interrupted, paused, or its process
        gone: resume or abort it), and what to type."""
        run = self.store.runs.get(held.run_id)
        holder = Holder.parse(held.holder)
        expired = self.store.runs.lease(held.pool)
        dead = holder.provably_gone or (expired is not None and expired.until <= self.clock.now())
        if run.state is RunState.PAUSED:
            text = run_messages.POOL_HELD_PAUSED.format(pool=held.pool, run_id=run.id)
        elif run.state is RunState.INTERRUPTED or (run.state in DRIVEN and dead):
            why = (
                f"{holder.describe()} is gone"
                if run.state in DRIVEN
                else f"last step: {run.last_step or 'before its first step'}"
            )
            text = run_messages.POOL_HELD_INTERRUPTED.format(pool=held.pool, run_id=run.id, why=why)
        else:
            return RunConflict(
                run_messages.POOL_BUSY.format(pool=held.pool, run_id=run.id, state=run.state),
                pool=held.pool,
                run_id=run.id,
                state=run.state.value,
            )
        return RunConflict(
            text, pool=held.pool, run_id=run.id, state=run.state.value, waits_for_person=True
        )

    def _renew(self, run_id: int, plan: Plan) -> None:
        until = self.clock.now() + timedelta(seconds=self.lease_seconds)
        for pool in self._pools(plan):
            try:
                self.store.runs.renew_lease(pool, run_id, self.holder, until)
            except LeaseHeld:
                log.warning("run %s lost the lease of %s", run_id, pool)

    def _release(self, run_id: int, plan: Plan) -> None:
        for pool in self._pools(plan):
            self.store.runs.release_lease(pool, run_id)

    def _transition(
        self,
        run_id: int,
        to: RunState,
        reason: str,
        *,
        actor: str = "drbot",
        error: str | None = None,
        outcome: RunOutcome | None = None,
        paused_step: PausedStep | None = None,
    ) -> None:
        try:
            run = self.store.runs.transition(
                run_id, to, reason, error=error, outcome=outcome, paused_step=paused_step
            )
        except IllegalTransition as exc:
            raise RunStateError(str(exc)) from exc
        self.store.audit.append(
            "RunTransitioned", actor, {"run_id": run_id, "to": to.value, "reason": reason}
        )
        self._emit(run_id, "state", state=run.state, message=reason)

    def _emit(self, run_id: int, type_: str, **fields: Any) -> None:
        self.bus.emit(RunEvent(run_id=run_id, type=type_, at=self.clock.now(), **fields))

    def _spawn(self, run_id: int, plan: Plan, what: str) -> None:
        cancel = threading.Event()
        worker = threading.Thread(
            target=self._work,
            args=(run_id, plan, what, cancel),
            name=f"drbot-run-{run_id}",
            daemon=True,
        )
        with self._lock:
            self._cancels[run_id] = cancel
            self._workers[run_id] = worker
            # Started before another thread can find it: `wait` joining a registered thread
            # not yet started raised "cannot join thread before it is started".
            worker.start()

    def _context(self, run_id: int, plan: Plan, cancel: threading.Event) -> RunContext:
        actor = self.store.runs.get(run_id).requested_by or "drbot"
        journal = AuditedJournal(self.store, run_id, self.bus, self.clock, actor)
        previous = self.store.runs.get(run_id).outcome
        return RunContext(
            run_id=run_id,
            plan=plan,
            journal=journal,
            client=self.client,
            adapter=self.adapter,
            clock=self.clock,
            limits=self.limits,
            cancel=cancel,
            task_timeout=self.task_timeout,
            engine_waits_start_delay=self.engine_waits_start_delay,
            outcomes=dict(previous.vms),
            save_outcomes=lambda o: self.store.runs.set_outcome(run_id, o),
        )

    def _work(self, run_id: int, plan: Plan, what: str, cancel: threading.Event) -> None:
        stop_renewing = threading.Event()
        renewer = threading.Thread(
            target=self._renew_loop, args=(run_id, plan, stop_renewing), daemon=True
        )
        renewer.start()
        ctx = self._context(run_id, plan, cancel)
        kind = KINDS[plan.kind]
        used: set[str] = set()
        client = ctx.client

        def recording_client(pool: str) -> PoolAPI:
            connected = client(pool)
            used.add(pool)  # only pools reached: releasing must not try to connect again
            return connected

        ctx.client = recording_client
        try:
            result = (kind.abort if what == "abort" else kind.execute)(ctx)
        except ManualStepRequired as exc:
            stop_renewing.set()
            ctx.flush_outcomes()
            if what == "abort":
                # An abort cannot pause: it ends failed, and is asked for again once confirmed.
                self._finish(
                    run_id,
                    plan,
                    ctx,
                    Result(
                        RunState.FAILED,
                        run_messages.ABORT_NEEDS_MANUAL.format(step=str(exc), run_id=run_id),
                    ),
                    what,
                )
                return
            # What the person must do, for whoever shows the "Done" button (bot or CLI).
            step = PausedStep(lun=exc.lun, action=exc.action, instruction=exc.instruction)
            self._transition(run_id, RunState.PAUSED, str(exc), paused_step=step)
            self._emit(
                run_id,
                "paused",
                message=exc.instruction,
                extra={"lun": exc.lun, "action": exc.action},
            )
            return
        except DRError as exc:
            if not lost_contact(exc):
                raise
            # A pool stopped answering: keep the run resumable rather than failed.
            stop_renewing.set()
            ctx.flush_outcomes()
            # Its leases stay: what it left half done must be resumed or aborted before any
            # other run touches those pools (the store refuses them while it is interrupted).
            self._transition(
                run_id,
                RunState.INTERRUPTED,
                run_messages.LOST_CONTACT.format(run_id=run_id, error=exc),
            )
            with self._lock:
                self._cancels.pop(run_id, None)
            return
        except Exception as exc:  # the run must end recorded, whatever broke
            log.exception("run %s: %s crashed", run_id, what)
            result = Result(RunState.FAILED, f"{type(exc).__name__}: {exc}")
        finally:
            stop_renewing.set()
            self._release_thread(used)
        ctx.flush_outcomes()
        self._finish(run_id, plan, ctx, result, what)

    def _release_thread(self, pools: set[str]) -> None:
        """Close the HTTP connections this worker thread opened (the client keeps them per
        thread; a finished thread's would otherwise linger until garbage collection)."""
        for pool in pools:
            try:
                client = self.client(pool)
            except DRError:
                continue
            client.release_thread()

    def _renew_loop(self, run_id: int, plan: Plan, stop: threading.Event) -> None:
        # Real time on purpose: the lease protects against a dead process, not a slow clock.
        while not stop.wait(self.lease_seconds / 3):
            self._renew(run_id, plan)

    def _finish(self, run_id: int, plan: Plan, ctx: RunContext, result: Result, what: str) -> None:
        outcome = RunOutcome(vms=dict(ctx.outcomes), notes=result.notes)
        self._transition(
            run_id,
            result.state,
            result.reason,
            error=result.reason if result.state is RunState.FAILED else None,
            outcome=outcome,
        )
        if what == "execute":
            self.store.drills.record(
                run_id,
                plan.kind,
                plan.dest_pool,
                result.rto_seconds,
                result.state,
                outcome.model_dump(mode="json")["vms"],
            )
        self._release(run_id, plan)
        with self._lock:
            self._cancels.pop(run_id, None)


class AuditedJournal(Journal):
    """The journal of a run whose step outcomes are audit entries too.

    Each finished or failed step is one `StepDone` / `StepFailed` entry of the hash chain,
    written in the same transaction as the step's journal row (a step is never journaled done
    without its entry, nor the other way round); a step that will not run is a `StepSkipped`
    entry. The actor is the run's requester (whose name `store.audit` adds). Started steps are
    not entries: the journal has them, and a run's thousands of steps would double the trail.
    Cost: one more row, HMAC and head look-up inside a transaction the step takes anyway
    (bench/bench_audit_steps.py prints it for a 1,000-VM run).
    """

    def __init__(self, store: Store, run_id: int, bus: EventBus, clock: Clock, actor: str):
        super().__init__(store, run_id, bus, clock)
        self.actor = actor
        self._names: dict[int, str] = {}

    def begin(self, key: StepKey, name: str, subject: str = "") -> int:
        step_id = super().begin(key, name, subject)
        self._names[step_id] = name
        return step_id

    def _entry(
        self, event: str, step_id: int | None, key: StepKey, name: str, subject: str, **extra: Any
    ) -> None:
        payload: dict[str, Any] = {"run_id": self.run_id, "step": str(key), "name": name}
        if step_id is not None:
            payload["step_id"] = step_id
        if subject:
            payload["subject"] = subject
        payload.update({k: v for k, v in extra.items() if v is not None})
        self.store.audit.append(event, self.actor, payload)

    def finish(self, step_id: int, key: StepKey, subject: str, result: Any = None) -> None:
        with self.store.conn.write():
            self.store.steps.finish(step_id, result)
            self._entry(STEP_DONE, step_id, key, self._names.pop(step_id, ""), subject)
        self.emit("step-finished", step_key=str(key), subject=subject)

    def fail(
        self, step_id: int, key: StepKey, subject: str, error: str, code: str | None = None
    ) -> None:
        with self.store.conn.write():
            self.store.steps.fail(step_id, error)
            self._entry(
                STEP_FAILED,
                step_id,
                key,
                self._names.pop(step_id, ""),
                subject,
                code=code,
                error=error[:500],
            )
        self.emit("step-failed", step_key=str(key), subject=subject, message=error)

    def skipped(self, key: StepKey, name: str, subject: str, why: str) -> None:
        self._entry(STEP_SKIPPED, None, key, name, subject, why=why[:500] or None)


def _plan_of(run: RunRecord) -> Plan:
    """The plan a run was started with, as frozen in the store."""
    return Plan.model_validate_json(run.plan_json or "{}")
