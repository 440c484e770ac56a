"""Test failover: recover the plan into the DR pool from test copies of the mirrors, start the
VMs (paused or not, as the plan says), measure the RTO, then always remove everything the run
created (VMs, vApps, VBDs/VIFs, DR_tasks, PBDs and SRs, test copies) and prove nothing is left.

Replication is never interrupted: the run works on writable snapshots of the mirrors
(`present_test_copy`), never on the mirrors themselves.
"""

from __future__ import annotations

from engine import run_messages
from engine import stepkeys as keys
from engine.errors import DRError, StorageError, lost_contact
from engine.executor import suspends_run
from engine.kinds.cleanup import cleanup
from engine.kinds.context import RunContext, mark
from engine.kinds.ha import disable_ha, restore_ha
from engine.kinds.lookups import ref_by_uuid
from engine.kinds.recovery import recover_and_start
from engine.kinds.result import Result, ending, verdict
from engine.kinds.storage_steps import (
    attach_all,
    each_lun,
    earlier_test_copy,
    lun_identity,
    removal_hint,
    storage_step,
)
from engine.models import LunPlan
from store import RunState


def execute(ctx: RunContext) -> Result:
    plan, dest = ctx.plan, ctx.dest
    ctx.init_outcomes()
    failure: str | None = None
    rto = None
    try:
        if plan.disable_ha:
            ctx.phase("HA")
            disable_ha(ctx, dest)
        start = mark(ctx, "rto-start")
        ctx.phase("storage")

        def present(lun: LunPlan) -> dict[str, str]:
            # A copy presented before this run (an earlier drill's) is never taken for ours.
            if earlier_test_copy(ctx, lun) and not ctx.journal.is_done(
                keys.storage("present_test_copy", lun.lun)
            ):
                raise StorageError(_not_ours(ctx, lun))
            state = storage_step(ctx, "present_test_copy", lun)
            return state.get("test_copy_device_config") or lun.device_config

        configs = each_lun(ctx, plan.luns, "present_test_copy", present)
        luns = [lun for lun in plan.luns if lun.lun in configs]
        ctx.phase("attach")
        if not ctx.cancel.is_set():
            luns = attach_all(ctx, dest, luns, configs)
        if not ctx.cancel.is_set():
            ctx.phase("recover")
            recover_and_start(ctx, dest, [lun.sr_uuid for lun in luns], plan.power_after)
            end = mark(ctx, "rto-end")
            rto = (end - start).total_seconds()
    except DRError as exc:
        if suspends_run(exc):
            raise  # paused or interrupted; cleanup happens when the run goes on
        failure = str(exc)
        ctx.settle_pending(run_messages.NOT_REACHED.format(error=failure))
    try:
        left = cleanup(ctx, dest, remove_test_copies=True)
    except DRError as exc:
        if suspends_run(exc):
            raise  # paused for a person, or interrupted until the pool answers
        left = [f"(cleanup stopped: {exc})"]
    failure = _restore_ha(ctx) or failure
    for uuid, entry in ctx.outcomes.items():
        ctx.outcomes[uuid] = entry.model_copy(update={"cleaned_up": True})
    ctx.flush_outcomes()
    if ctx.cancel.is_set():
        ctx.settle_pending(run_messages.CANCELLED_VM)
        state, reason = RunState.CANCELLED, "cancelled; everything the run created was removed"
    elif failure:
        state, reason = RunState.FAILED, failure
    else:
        state = verdict(ctx.outcomes.values(), plan.power_after)
        reason = ending(
            ctx.outcomes, plan.power_after, rto=rto, run_id=ctx.run_id, pool=plan.dest_pool
        )
    if left:
        state = RunState.FAILED
        reason = run_messages.LEFT_BEHIND.format(
            items=", ".join(left), pool=plan.dest_pool, run_id=ctx.run_id
        )
    return Result(state, reason, rto, left, notes=ctx.notes)


def _not_ours(ctx: RunContext, lun: LunPlan) -> str:
    """Why the run does not present a test copy of `lun`: one is there already, not its own."""
    device = lun_identity(earlier_test_copy(ctx, lun) or {}) or "an unknown LUN"
    dest = ctx.dest
    ref = ref_by_uuid(dest, "SR", lun.sr_uuid)
    how = (
        removal_hint(dest, ref, lun.sr_uuid)
        if ref is not None
        else run_messages.KNOWN_SR_HOW.format(uuid=lun.sr_uuid)
    )
    return run_messages.TEST_COPY_NOT_OURS.format(
        lun=lun.lun, sr=lun.sr_name or lun.sr_uuid, device=device, how=how
    )


def _restore_ha(ctx: RunContext) -> str | None:
    try:
        restore_ha(ctx, ctx.dest)
    except DRError as exc:
        if lost_contact(exc):
            raise  # the runner marks the run interrupted: resume it when the pool answers
        return f"HA could not be re-enabled on {ctx.plan.dest_pool!r}: {exc}; turn it on by hand."
    return None


def abort(ctx: RunContext) -> Result:
    ctx.init_outcomes()
    left = cleanup(ctx, ctx.dest, remove_test_copies=True)
    _restore_ha(ctx)
    if left:
        return Result(
            RunState.FAILED,
            run_messages.LEFT_BEHIND.format(
                items=", ".join(left), pool=ctx.plan.dest_pool, run_id=ctx.run_id
            ),
            left_behind=left,
        )
    return Result(RunState.ABORTED, "everything the run created was removed")
