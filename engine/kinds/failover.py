"""Failover: promote the mirrors, attach them at the DR site, recover the latest metadata and
start the VMs in vApp order.

A `planned` failover first shuts the VMs down at the reachable primary, in reverse order, and
waits for replication to catch up (`sync`) before promoting, so nothing written is lost. If a
VM does not shut down there, the run stops before anything irreversible: recovering it would
run it twice (split brain).

After recovery, metadata replication is turned on for the SRs at the DR site that carry
metadata, so the DR pool's own metadata travels back for a failback.
"""

from __future__ import annotations

from typing import Any

from engine import run_messages
from engine import stepkeys as keys
from engine.errors import DRError, XapiError, lost_contact
from engine.executor import Outcome, suspends_run
from engine.kinds.cleanup import cleanup, created_by_run, destroy_dr_tasks
from engine.kinds.context import RunContext, mark
from engine.kinds.lookups import ref_by_uuid
from engine.kinds.recovery import recover_and_start
from engine.kinds.result import Result, ending, verdict
from engine.kinds.shutdown import (
    abort_result,
    shutdown_in_reverse_order,
    start_again_after_abort,
)
from engine.kinds.storage_steps import attach_all, each_lun, storage_step
from engine.messages import listed
from engine.models import LunPlan
from engine.pool_api import PoolAPI
from store import RunState, VMStatus


def execute(ctx: RunContext) -> Result:
    plan, dest = ctx.plan, ctx.dest
    luns = list(plan.luns)
    ctx.init_outcomes()
    try:
        start = mark(ctx, "rto-start")
        if plan.planned:
            ctx.phase("shutdown at source")
            outs = shutdown_in_reverse_order(ctx, ctx.source, plan.source_pool)
            if any(o.status != "done" for o in outs.values()):
                return Result(RunState.FAILED, _still_running(ctx, outs), notes=ctx.notes)
            ctx.phase("replication catch-up")
            # A LUN that cannot catch up is not promoted: what it has not shipped would be lost.
            synced = each_lun(ctx, luns, "sync", lambda lun: storage_step(ctx, "sync", lun))
            luns = [lun for lun in luns if lun.lun in synced]
        if ctx.cancel.is_set():
            ctx.settle_pending(run_messages.CANCELLED_VM)
            return Result(RunState.CANCELLED, "cancelled before the mirrors were promoted")
        ctx.phase("storage")

        def promote(lun: LunPlan) -> dict[str, str]:
            state = storage_step(ctx, "promote", lun)
            return state.get("mirror_device_config") or lun.device_config

        configs = each_lun(ctx, luns, "promote", promote)
        luns = [lun for lun in luns if lun.lun in configs]
        ctx.phase("attach")
        luns = attach_all(ctx, dest, luns, configs)
        ctx.phase("recover")
        recover_and_start(ctx, dest, [lun.sr_uuid for lun in luns], plan.power_after)
        end = mark(ctx, "rto-end")
        ctx.phase("finish")
        destroy_dr_tasks(ctx, dest)
        unarmed = rearm_metadata_replication(ctx, dest, configs)
    except DRError as exc:
        if suspends_run(exc):
            raise  # paused for a person, or interrupted until the pool answers
        ctx.settle_pending(run_messages.NOT_REACHED.format(error=exc))
        return Result(RunState.FAILED, str(exc), notes=ctx.notes)
    if ctx.cancel.is_set():
        ctx.settle_pending(run_messages.CANCELLED_VM)
        return Result(
            RunState.CANCELLED, "cancelled; VMs recovered so far are kept", notes=ctx.notes
        )
    state = verdict(ctx.outcomes.values(), plan.power_after)
    rto = (end - start).total_seconds()
    reason = ending(ctx.outcomes, plan.power_after, rto=rto, run_id=ctx.run_id, pool=plan.dest_pool)
    if unarmed:
        failure = run_messages.REARM_FAILED.format(pool=plan.dest_pool, items="; ".join(unarmed))
        ctx.notes.append(failure)
        if state is RunState.SUCCEEDED:
            state = RunState.PARTIALLY_SUCCEEDED
            reason = f"{failure} {reason}"
    return Result(state, reason, rto, notes=ctx.notes)


def _still_running(ctx: RunContext, outcomes: dict[keys.StepKey, Outcome]) -> str:
    """Why the run stops when VMs did not shut down at the source, and each VM's outcome:
    those that did not say so, the others that the run stopped before them."""
    pool = ctx.plan.source_pool
    stuck = {}
    for vm in ctx.plan.vms:
        out = outcomes.get(keys.shutdown_vm(pool, vm.uuid))
        if out is not None and out.status != "done":
            stuck[vm.uuid] = vm.name
            error = out.error or out.status
            ctx.vm_status(
                vm.uuid,
                VMStatus.NOT_RUN,
                run_messages.DID_NOT_SHUT_DOWN.format(pool=pool, error=error),
            )
    kind = "planned failover" if ctx.plan.kind == "failover" else ctx.plan.kind
    reason = run_messages.STILL_RUNNING.format(
        kind=kind, items=listed(list(stuck.values())), pool=pool
    )
    ctx.settle_pending(run_messages.NOT_REACHED.format(error=reason))
    return reason


def rearm_metadata_replication(
    ctx: RunContext, client: PoolAPI, configs: dict[str, dict[str, str]]
) -> list[str]:
    """Turn on metadata replication at the destination for the SRs that carried metadata, so
    the DR pool's own metadata travels back for a failback; -> what failed ("SR: error").

    A recovery keeps attached only the SRs its VMs' disks use: `DR_task.destroy` forgot a LUN
    that carries only metadata (xapi_dr.ml, docs/xapi-behaviours.md §3). Such an SR is
    brought back first (introduce, a PBD per host, plug, scan). Each SR is journaled under
    `rearm:<sr uuid>`; a failure does not undo the failover but is reported, never dropped.
    """
    failed = []
    for lun in ctx.plan.luns:
        if not lun.holds_metadata:
            continue

        def act(_s: int, lun: LunPlan = lun) -> dict[str, Any]:
            ref = ref_by_uuid(client, "SR", lun.sr_uuid)
            brought_back = ref is None
            if ref is None:
                ref = reattach(client, lun, configs.get(lun.lun) or lun.device_config)
            client.call("SR.enable_database_replication", ref)
            return {"sr": lun.sr_uuid, "brought_back": brought_back}

        try:
            ctx.journal.effect(keys.rearm(lun.sr_uuid), "replicate metadata", lun.sr_name, act)
        except XapiError as exc:
            if lost_contact(exc):
                raise
            failed.append(f"{lun.sr_name or lun.lun}: {exc}")
    return failed


def reattach(client: PoolAPI, lun: LunPlan, config: dict[str, str]) -> str:
    """Introduce the LUN's SR again, with a PBD per host plugged (the coordinator's first)
    and a scan (today's xapi does not scan on plug); -> the SR ref."""
    ref = client.call("SR.introduce", lun.sr_uuid, lun.sr_name, "", lun.sr_type, "", True, {})
    pool = client.call("pool.get_all")[0]
    master = client.call("pool.get_master", pool)
    hosts = sorted(client.call("host.get_all"), key=lambda h: h != master)
    for host in hosts:
        pbd = client.call(
            "PBD.create",
            {"host": host, "SR": ref, "device_config": config, "other_config": {}},
        )
        client.call("PBD.plug", pbd)
    client.call("SR.scan", ref)
    return ref


def abort(ctx: RunContext) -> Result:
    """Undo what the run did: remove what it created at the DR site (`cleanup`) and, for a
    planned failover, start again at the source, in vApp order, the VMs the run itself shut
    down there (its journal proves which) - but only before any promotion: once a LUN's
    promotion was asked for, the DR site's copy may be the one written to, and starting the
    primary's VMs again could run a VM twice (split brain); the result then says they were
    not started again and why. The same when the source does not answer."""
    ctx.init_outcomes()
    made = any(created_by_run(ctx).values())
    left = cleanup(ctx, ctx.dest, remove_test_copies=False)
    notes = []
    promoted = [
        lun.lun for lun in ctx.plan.luns if ctx.journal.row(keys.storage("promote", lun.lun))
    ]
    if promoted:
        notes.append(
            run_messages.ABORT_IRREVERSIBLE.format(items="promoted " + ", ".join(promoted))
        )
    said, failed = start_again_after_abort(ctx, promoted) if ctx.plan.planned else ([], {})
    return abort_result(
        ctx,
        left=left,
        made=made,
        removed=run_messages.ABORT_REMOVED,
        said=said,
        failed=failed,
        notes=notes,
    )
