"""Failback: after the primary is back, shut the VMs down at the DR site in reverse order,
reverse replication so the primary receives what changed at the DR site, wait for it to catch
up, make the primary's copy writable, recover on the primary from the DR pool's metadata, start
in vApp order, then clean up the DR site (its VM and vApp records, its attachment of the SRs)
and re-protect: reverse replication once more, so the primary replicates to the DR site again
and readiness and test failovers work as they did before the failover.

In a failback plan `source_pool` is the DR pool and `dest_pool` the primary.
"""

from __future__ import annotations

from functools import partial
from typing import Any

from engine import run_messages
from engine import stepkeys as keys
from engine.errors import DRError
from engine.executor import suspends_run
from engine.kinds.cleanup import (
    cleanup,
    created_by_run,
    destroy_app,
    destroy_dr_tasks,
    destroy_vm,
    forget_sr,
    remove_journaled,
)
from engine.kinds.context import RunContext, mark
from engine.kinds.failover import _still_running
from engine.kinds.lookups import ref_by_uuid
from engine.kinds.recovery import recover_and_start
from engine.kinds.result import Result, ending, verdict
from engine.kinds.shutdown import (
    abort_result,
    shutdown_in_reverse_order,
    start_again_after_abort,
)
from engine.kinds.storage_steps import attach_all, each_lun, reprotect, storage_step
from engine.models import LunPlan
from engine.pool_api import PoolAPI
from store import RunState, VMStatus


def execute(ctx: RunContext) -> Result:
    plan, dest, dr = ctx.plan, ctx.dest, ctx.source
    ctx.init_outcomes()
    try:
        start = mark(ctx, "rto-start")
        ctx.phase("shutdown at DR site")
        outs = shutdown_in_reverse_order(ctx, dr, plan.source_pool)
        if any(o.status != "done" for o in outs.values()):
            return Result(RunState.FAILED, _still_running(ctx, outs), notes=ctx.notes)
        if ctx.cancel.is_set():
            ctx.settle_pending(run_messages.CANCELLED_VM)
            return Result(RunState.CANCELLED, "cancelled after the DR site's VMs were shut down")
        ctx.phase("reverse replication")

        def back(lun: LunPlan) -> dict[str, Any]:
            storage_step(ctx, "reverse", lun)
            storage_step(ctx, "sync", lun)
            return storage_step(ctx, "promote", lun)

        luns = [lun for lun in plan.luns if lun.lun in each_lun(ctx, plan.luns, "reverse", back)]
        ctx.phase("attach")
        luns = attach_all(ctx, dest, luns, {})
        ctx.phase("recover")
        recover_and_start(ctx, dest, [lun.sr_uuid for lun in luns], plan.power_after)
        end = mark(ctx, "rto-end")
        ctx.phase("clean up DR site")
        destroy_dr_tasks(ctx, dest)
        clean_dr_site(ctx, dr)
        ctx.phase("re-protect")
        reprotect_all(ctx, dr, luns)
    except DRError as exc:
        if suspends_run(exc):
            raise  # paused for a person, or interrupted until the pool answers
        ctx.settle_pending(run_messages.NOT_REACHED.format(error=exc))
        return Result(RunState.FAILED, str(exc), notes=ctx.notes)
    state = verdict(ctx.outcomes.values(), plan.power_after)
    rto = (end - start).total_seconds()
    reason = ending(ctx.outcomes, plan.power_after, rto=rto, run_id=ctx.run_id, pool=plan.dest_pool)
    return Result(state, reason, rto, notes=ctx.notes)


def reprotect_all(ctx: RunContext, dr: PoolAPI, luns: list[LunPlan]) -> None:
    """Replicate each failed-back LUN towards the DR site again, once the DR site no longer
    uses its SR (a mirror under an attached SR would pull the disks from under it); a LUN whose
    SR stays attached there is noted for a person instead."""
    for lun in luns:
        if ref_by_uuid(dr, "SR", lun.sr_uuid) is not None:
            ctx.notes.append(run_messages.REPROTECT_SKIPPED.format(lun=lun.lun))
            continue
        reprotect(ctx, lun)


def clean_dr_site(ctx: RunContext, dr: PoolAPI) -> None:
    """Remove the failed-back VMs' and vApps' records from the DR pool (disks stay on the
    array) and detach the SRs there, for the VMs the primary now runs."""
    # Recovered on the primary, started or not: the DR site's copy is no longer needed.
    ok = {
        u
        for u, o in ctx.outcomes.items()
        if o.status in (VMStatus.RECOVERED, VMStatus.STARTED, VMStatus.STARTED_PAUSED)
    }
    for vm in ctx.plan.vms:
        if vm.uuid in ok:
            remove_journaled(
                ctx,
                keys.dr_clean("vm", vm.uuid),
                "remove VM at DR site",
                vm.name,
                dr,
                "VM",
                vm.uuid,
                partial(destroy_vm, dr, vm.uuid),
            )
    for app in ctx.plan.appliances:
        if all(vm.uuid in ok for vm in app.vms):
            remove_journaled(
                ctx,
                keys.dr_clean("app", app.uuid),
                "remove vApp at DR site",
                app.name,
                dr,
                "VM_appliance",
                app.uuid,
                partial(destroy_app, dr, app.uuid),
            )
    if len(ok) == len(ctx.outcomes):
        for lun in ctx.plan.luns:
            remove_journaled(
                ctx,
                keys.dr_clean("sr", lun.sr_uuid),
                "detach SR at DR site",
                lun.sr_name,
                dr,
                "SR",
                lun.sr_uuid,
                partial(forget_sr, dr, lun.sr_uuid),
            )


def abort(ctx: RunContext) -> Result:
    ctx.init_outcomes()
    made = any(created_by_run(ctx).values())
    left = cleanup(ctx, ctx.dest, remove_test_copies=False)
    promoted = [
        lun.lun for lun in ctx.plan.luns if ctx.journal.row(keys.storage("promote", lun.lun))
    ]
    said, failed = start_again_after_abort(ctx, promoted)
    return abort_result(
        ctx,
        left=left,
        made=made,
        removed=run_messages.ABORT_FAILBACK_REMOVED,
        said=said,
        failed=failed,
    )
