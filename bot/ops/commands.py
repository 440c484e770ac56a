"""`drbot plan`, `drbot run`, `drbot resume` and `drbot abort`: typer options in, the service's
answers rendered out.

A failover or failback from the CLI bypasses chat approvals, so the service asks for
`--break-glass` and a `--reason`, both recorded in the audit trail.
"""

from __future__ import annotations

from typing import Annotated

import typer

from bot.ops import messages
from bot.ops.answer import ask, refusal, request
from bot.ops.estate import estate_table, follow_estate
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
from bot.ops.wiring import actor, serving
from commands.messages import UNKNOWN_KIND
from commands.parse import KINDS, SHOWN
from commands.requests import ShowRequest, estate_scope
from commands.results import EstateResult, PlanResult, Refused, RunStarted, RunUpdated, RunView
from commands.service import Service
from engine.messages import shown


def _kind(kind: str) -> str:
    if kind not in KINDS:
        raise fail(UNKNOWN_KIND.format(kind=shown(kind, SHOWN)).replace("`", "'"))
    return kind


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
    req = request(
        "plan",
        kind=_kind(kind),
        target=target,
        pool=pool,
        power=power,
        planned=planned,
        disable_ha=disable_ha,
    )
    with serving(config) as service:
        if estate_scope(target) is not None:
            estate = ask(service, req, EstateResult)
            if as_json:
                dump(estate.model_dump(mode="json"))
            else:
                estate_table(estate)
            if estate.would_block:  # as a single plan with blockers: the dry run says no
                raise typer.Exit(1)
            return
        plan = ask(service, req, PlanResult).plan
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
    fields: dict[str, object] = {"target": target, "pool": pool, "power": power}
    if _kind(kind) == "test-failover":
        fields["disable_ha"] = disable_ha
    else:
        fields["break_glass"] = break_glass
    if kind == "failover":
        fields["planned"] = planned
    if break_glass and not (reason and reason.strip()):
        raise fail(messages.REASON_NEEDED)
    if reason and reason.strip():
        fields["reason"] = reason
    req = request(kind, **fields)
    with serving(config) as service:
        for run in service.interrupted_at_start():
            err.print(messages.INTERRUPTED.format(run_id=run.id, step=run.last_step), markup=False)
        result = service.dispatch(req, actor())
        if isinstance(result, Refused) and result.code == "blocked" and result.plan:
            if not as_json:
                plan_table(result.plan)
            err.print(messages.BLOCKED)
            for c in result.plan.blockers:
                err.print(f"  - {c.name} {c.subject}: {c.message}", markup=False)
            raise typer.Exit(2)
        if isinstance(result, EstateResult):
            follow_estate(service, result, as_json)
            return
        if not isinstance(result, RunStarted):
            raise refusal(result)
        if not as_json:
            console.print(
                messages.STARTED.format(
                    run_id=result.run.id,
                    kind=kind,
                    target=result.plan.target,
                    pool=result.plan.dest_pool,
                ),
                markup=False,
            )
        _follow_to_end(service, result.run.id, as_json)


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
    req = request("resume", run_id=run_id, storage_done=storage_done)
    with serving(config) as service:
        ask(service, req, RunUpdated)
        _follow_to_end(service, run_id, as_json)


def abort(run_id: RunIdArg, config: ConfigOpt = None, as_json: JsonOpt = False) -> None:
    """Undo what a run created (VMs, vApps, SRs it attached, DR_tasks, test copies)."""
    req = request("abort", run_id=run_id)
    with serving(config) as service:
        ask(service, req, RunUpdated)
        _follow_to_end(service, run_id, as_json)


def _follow_to_end(service: Service, run_id: int, as_json: bool) -> None:
    """Follow the run with a progress bar, then say how it ended (exit 1 unless it did well)."""
    follow(service, run_id, as_json)
    end(ask(service, ShowRequest(run_id=run_id), RunView), as_json)
