"""`drbot plan`, `drbot run`, `drbot resume` and `drbot abort`: planning and driving runs.

A failover or failback from the CLI bypasses chat approvals, so it needs `--break-glass` and a
`--reason`, both recorded in the audit trail.
"""

from __future__ import annotations

from typing import Annotated

import typer

from bot.ops import messages
from bot.ops.options import (
    ConfigOpt,
    HaOpt,
    JsonOpt,
    KindArg,
    PairOpt,
    PlannedOpt,
    PowerOpt,
    RunIdArg,
    TargetArg,
)
from bot.ops.output import console, dump, err, fail
from bot.ops.progress import follow
from bot.ops.render import end, plan_table
from bot.ops.wiring import Ops, actor, operating
from store import RunRecord


def plan_cmd(
    kind: KindArg,
    target: TargetArg,
    pool: PairOpt = None,
    power: PowerOpt = None,
    planned: PlannedOpt = False,
    disable_ha: HaOpt = False,
    config: ConfigOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Show what a run would do (the dry run): VMs, order, storage, checks, RTO, hash."""
    with operating(config) as ops:
        plan = ops.plan(
            kind, target, pool, power_after=power, planned=planned, disable_ha=disable_ha
        )
        if as_json:
            dump(plan.model_dump(mode="json"))
        else:
            plan_table(plan)
        if plan.blockers:
            raise typer.Exit(1)


def run_cmd(
    kind: KindArg,
    target: TargetArg,
    pool: PairOpt = None,
    power: PowerOpt = None,
    planned: PlannedOpt = False,
    disable_ha: HaOpt = False,
    break_glass: Annotated[
        bool, typer.Option("--break-glass", help="Run a failover/failback without chat approval.")
    ] = False,
    reason: Annotated[str | None, typer.Option("--reason", help="Why (recorded).")] = None,
    config: ConfigOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Plan and run a test-failover, failover or failback, following its progress."""
    if kind in ("failover", "failback") and not break_glass:
        raise fail(messages.BREAK_GLASS.format(kind=kind))
    if break_glass and not (reason and reason.strip()):
        raise fail(messages.REASON_NEEDED)
    with operating(config) as ops:
        plan = ops.plan(
            kind, target, pool, power_after=power, planned=planned, disable_ha=disable_ha
        )
        if plan.blockers:
            if not as_json:
                plan_table(plan)
            err.print(messages.BLOCKED)
            for c in plan.blockers:
                err.print(f"  - {c.name} {c.subject}: {c.message}", markup=False)
            raise typer.Exit(2)
        runner = ops.runner()
        for run in runner.reap():
            err.print(messages.INTERRUPTED.format(run_id=run.id, step=run.last_step), markup=False)
        if break_glass:
            ops.store.audit.append(
                "BreakGlass",
                actor(),
                {"kind": kind, "target": target, "reason": reason, "plan_hash": plan.hash},
            )
        run_id = runner.start(plan, requested_by=actor(), reason=reason)
        if not as_json:
            console.print(
                messages.STARTED.format(
                    run_id=run_id, kind=kind, target=plan.target, pool=plan.dest_pool
                )
            )
        finish(ops, follow(ops, runner, run_id, as_json), as_json)


def finish(ops: Ops, run: RunRecord, as_json: bool) -> None:
    """Report how the run ended, with its state history (the last transition says why)."""
    end(run, ops.store.runs.history(run.id), as_json)


def resume(
    run_id: RunIdArg,
    storage_done: Annotated[
        bool,
        typer.Option(
            "--storage-done",
            help="Confirm that the manual storage step the run is paused at was done.",
        ),
    ] = False,
    config: ConfigOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Go on with an interrupted or paused run where its journal says it stopped."""
    with operating(config) as ops:
        runner = ops.runner()
        runner.reap()
        step = runner.paused_step(run_id)
        if step is not None and not storage_done:
            raise fail(messages.STORAGE_PENDING.format(run_id=run_id, instruction=step.instruction))
        if step is not None:
            confirm = getattr(ops.adapter, "confirm", None)
            if confirm is not None:
                confirm(step.lun, step.action)
            ops.store.audit.append(
                "StorageStepConfirmed", actor(), {"run_id": run_id, **step.model_dump()}
            )
        runner.resume(run_id, actor=actor())
        finish(ops, follow(ops, runner, run_id, as_json), as_json)


def abort(run_id: RunIdArg, config: ConfigOpt = None, as_json: JsonOpt = False) -> None:
    """Undo what a run created (VMs, vApps, SRs it attached, DR_tasks, test copies)."""
    with operating(config) as ops:
        runner = ops.runner()
        runner.reap()
        runner.abort(run_id, actor=actor())
        finish(ops, follow(ops, runner, run_id, as_json), as_json)
