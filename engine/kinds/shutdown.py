"""Shutting VMs down in reverse vApp order (planned failover, failback), and starting them
again in vApp order when an abort undoes that shutdown."""

from __future__ import annotations

from typing import Any

from engine import run_messages
from engine import stepkeys as keys
from engine.errors import DRError, XapiRejected, lost_contact
from engine.executor import Action, Executor, Outcome
from engine.kinds.context import RunContext
from engine.kinds.lookups import LIVE_STATES, vm_record
from engine.kinds.result import Result
from engine.messages import listed
from engine.models import VMPlan
from engine.pool_api import PoolAPI
from engine.stepkeys import StepKey
from store import RunState, VMStatus


def shutdown_in_reverse_order(
    ctx: RunContext, client: PoolAPI, pool: str
) -> dict[StepKey, Outcome]:
    """Cleanly shut down the plan's VMs that are running in `pool`: vApp groups in descending
    order (each group after the later one), standalone VMs in parallel."""
    actions: list[Action] = []

    def shut(vm: VMPlan, after: tuple[StepKey, ...]) -> Action:
        def launch() -> str:
            rec = vm_record(client, vm.uuid)
            if rec is None:
                raise XapiRejected("UUID_INVALID", ["VM", vm.uuid], "VM.get_by_uuid")
            # As XenCenter does (reference §5.2.6 b): a clean shutdown when the VM allows one
            # (it runs), else a hard one (XAPI refuses clean_shutdown for Paused / Suspended).
            allowed = rec.get("allowed_operations") or []
            clean = "clean_shutdown" in allowed or (
                not allowed and rec.get("power_state") == "Running"
            )
            method = "VM.clean_shutdown" if clean else "VM.hard_shutdown"
            return client.start_async(method, rec["ref"])

        def reconcile() -> dict[str, Any] | None:
            rec = vm_record(client, vm.uuid)
            if rec is None or rec.get("power_state") == "Halted":
                return {"power_state": "Halted"}
            return None

        return Action(
            key=keys.shutdown_vm(pool, vm.uuid),
            name=run_messages.SHUTDOWN_VM,
            subject=vm.name,
            launch=launch,
            reconcile=reconcile,
            after=after,
            lane="shutdown",
            cost=15.0 + (vm.shutdown_delay or 0),
            methods=("VM.clean_shutdown", "VM.hard_shutdown"),
        )

    def live(vm: VMPlan) -> bool:
        rec = vm_record(client, vm.uuid)
        done = ctx.journal.is_done(keys.shutdown_vm(pool, vm.uuid))
        return done or (rec is not None and rec.get("power_state") in LIVE_STATES)

    for app in ctx.plan.appliances:
        previous: tuple[StepKey, ...] = ()
        for group in reversed(app.order_groups):
            group_keys: list[StepKey] = []
            for vm in group:
                if live(vm):
                    a = shut(vm, previous)
                    actions.append(a)
                    group_keys.append(a.key)
            if group_keys:
                previous = tuple(group_keys)
    for vm in ctx.plan.standalone_vms:
        if live(vm):
            actions.append(shut(vm, ()))
    return ctx.executor(client).run(actions)


def shut_down_by_run(ctx: RunContext, pool: str) -> list[VMPlan]:
    """The plan's VMs whose shutdown in `pool` the journal proves this run did (done steps
    only: a VM the run did not stop is not the run's to start)."""
    return [vm for vm in ctx.plan.vms if ctx.journal.is_done(keys.shutdown_vm(pool, vm.uuid))]


def start_again_in_order(
    ctx: RunContext, client: PoolAPI, pool: str, vms: list[VMPlan]
) -> tuple[list[str], list[str], dict[str, str]]:
    """Start `vms` again in `pool` (an abort undoing the run's shutdown there): vApp groups in
    ascending order, each group after the previous one has ended (a VM that fails to start
    does not keep the later groups down), standalone VMs in parallel. Each start is journaled
    under `cleanup:restart:<uuid>`, so a repeated abort does not start a VM twice.

    Returns the names started, the names found already running (someone started them: left
    as they are) and, by name, why the others did not start. XAPI's `VM.start` waits the VM's
    start_delay itself (reference §3.3), as a vApp start does.
    """
    wanted = {vm.uuid for vm in vms}
    started: list[str] = []
    running: list[str] = []
    actions: list[Action] = []
    names: dict[StepKey, str] = {}

    def start(vm: VMPlan, after: tuple[StepKey, ...]) -> Action | None:
        key = keys.cleanup("restart", vm.uuid)
        rec = vm_record(client, vm.uuid)
        if rec is None:
            raise XapiRejected("UUID_INVALID", ["VM", vm.uuid], "VM.get_by_uuid")
        if rec.get("power_state") != "Halted" and ctx.journal.row(key) is None:
            running.append(vm.name)
            return None

        def reconcile() -> dict[str, Any] | None:
            now = vm_record(client, vm.uuid)
            if now is not None and now.get("power_state") in LIVE_STATES:
                return {"power_state": now["power_state"]}
            return None

        names[key] = vm.name
        return Action(
            key=key,
            name=run_messages.RESTART_VM,
            subject=vm.name,
            launch=lambda: client.start_async("VM.start", rec["ref"], False, False),
            reconcile=reconcile,
            interpret=lambda _r: {"power_state": "Running"},
            after_any=after,
            lane="start",
            cost=20.0 + (vm.start_delay or 0),
            methods=("VM.start",),
        )

    for app in ctx.plan.appliances:
        previous: tuple[StepKey, ...] = ()
        for group in app.order_groups:
            group_keys: list[StepKey] = []
            for vm in group:
                a = start(vm, previous) if vm.uuid in wanted else None
                if a is not None:
                    actions.append(a)
                    group_keys.append(a.key)
            if group_keys:
                previous = tuple(group_keys)
    for vm in ctx.plan.standalone_vms:
        a = start(vm, ()) if vm.uuid in wanted else None
        if a is not None:
            actions.append(a)
    # An abort starts every VM it can: a fresh executor, not stopped by one failure.
    ex = Executor(client, ctx.journal, limits=ctx.limits.as_dict(), task_timeout=ctx.task_timeout)
    failed: dict[str, str] = {}
    outcomes = ex.run(actions)
    for a in actions:
        out = outcomes[a.key]
        if out.status == "done":
            started.append(names[a.key])
        else:
            failed[names[a.key]] = out.error or out.status
    return started, running, failed


def start_again_after_abort(
    ctx: RunContext, promoted: list[str]
) -> tuple[list[str], dict[str, str]]:
    """An abort's undoing of the run's shutdown at its source (planned failover, failback):
    start again, in vApp order, the VMs the journal shows the run shut down there, unless a
    LUN's promotion at the destination was asked for (`promoted`: its copy there may be the
    one written to, so starting the VMs at the source could run them twice) or the source
    does not answer. -> what to say about it, and the VMs that did not start (name -> why)."""
    pool = ctx.plan.source_pool
    shut = shut_down_by_run(ctx, pool)
    if not shut:
        return [], {}
    names = listed([vm.name for vm in shut])

    def each(why: dict[str, str]) -> None:
        # Each VM's outcome says where it stands after the abort (never left `pending`).
        for vm in shut:
            ctx.vm_status(vm.uuid, VMStatus.NOT_RUN, why[vm.name])

    if promoted:
        each({vm.name: run_messages.ABORTED_VM_LEFT_DOWN.format(pool=pool) for vm in shut})
        why = run_messages.ABORT_NOT_RESTARTED_PROMOTED.format(
            pool=pool, dest=ctx.plan.dest_pool, items=names, luns=", ".join(promoted)
        )
        return [why], {}
    try:
        started, running, failed = start_again_in_order(ctx, ctx.source, pool, shut)
    except DRError as exc:
        if not lost_contact(exc):
            raise
        each({vm.name: run_messages.ABORTED_VM_LEFT_DOWN.format(pool=pool) for vm in shut})
        return [
            run_messages.ABORT_NOT_RESTARTED_UNREACHABLE.format(pool=pool, items=names, error=exc)
        ], {}
    each(
        {
            vm.name: run_messages.ABORTED_VM_RESTARTED.format(pool=pool)
            if vm.name in started
            else run_messages.ABORTED_VM_RUNNING.format(pool=pool)
            if vm.name in running
            else run_messages.ABORTED_VM_LEFT_DOWN.format(pool=pool)
            for vm in shut
        }
    )
    said = []
    if started:
        said.append(run_messages.ABORT_RESTARTED.format(pool=pool, items=listed(started)))
    if running:
        said.append(run_messages.ABORT_ALREADY_RUNNING.format(pool=pool, items=listed(running)))
    if failed:
        items = "; ".join(f"{name}: {error}" for name, error in failed.items())
        said.append(
            run_messages.ABORT_RESTART_FAILED.format(pool=pool, items=items, run_id=ctx.run_id)
        )
    return said, failed


def abort_result(
    ctx: RunContext,
    *,
    left: list[str],
    made: bool,
    removed: str,
    said: list[str],
    failed: dict[str, str],
    notes: list[str] | None = None,
) -> Result:
    """How an abort of a failover or failback ends: what it left behind at the destination
    (then it failed: a person must remove it), else what it removed (`removed`) or that it had
    created nothing yet, then what it started again at the source (`said`); VMs it never
    reached are settled as aborted. Failed when something was left or not started again."""
    if left:
        summary = run_messages.LEFT_BEHIND.format(
            items=", ".join(left), pool=ctx.plan.dest_pool, run_id=ctx.run_id
        )
    elif made:
        summary = removed
    else:
        summary = run_messages.ABORT_NOTHING_CREATED.format(pool=ctx.plan.dest_pool)
    reason = " ".join([summary, *said])
    ctx.settle_pending(run_messages.ABORTED_VM)
    if left or failed:
        return Result(RunState.FAILED, reason, left_behind=left, notes=notes or [])
    return Result(RunState.ABORTED, reason, notes=notes or [])
