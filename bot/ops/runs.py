"""`drbot runs` and `drbot runs show ID`: the run history and one run in full."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.markup import escape
from rich.table import Table

from bot.ops.options import ConfigOpt, JsonOpt, RunIdArg
from bot.ops.output import console, dump
from bot.ops.render import run_summary, runs_table
from bot.ops.wiring import operating

runs_app = typer.Typer(help="List runs, or show one.", no_args_is_help=False)


@runs_app.callback(invoke_without_command=True)
def runs_list(
    ctx: typer.Context,
    limit: Annotated[
        int, typer.Option("--limit", "-n", help="How many runs.", min=1, max=10_000)
    ] = 20,
    config: ConfigOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """The newest runs first."""
    if ctx.invoked_subcommand is not None:
        return
    with operating(config) as ops:
        runs = ops.store.runs.list(limit=limit)
        if as_json:
            dump([run_summary(r) for r in runs])
        else:
            runs_table(runs)


@runs_app.command("show")
def runs_show(
    run_id: RunIdArg,
    config: ConfigOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """One run: its state history, every step of its journal and each VM's outcome."""
    with operating(config) as ops:
        run = ops.store.runs.get(run_id)
        history = ops.store.runs.history(run_id)
        steps = ops.store.steps.for_run(run_id)
        if as_json:
            dump(
                {
                    **run_summary(run),
                    "outcome": run.outcome.model_dump(mode="json"),
                    "history": [h.model_dump(mode="json") for h in history],
                    "steps": [s.model_dump(mode="json") for s in steps],
                }
            )
            return
        console.print(
            f"[bold]run {run.id}[/bold] {run.kind} of {escape(run.target)} into "
            f"{run.pool}: "
            f"[bold]{run.state}[/bold]  (requested by {run.requested_by}"
            + (f", reason: {escape(run.reason)}" if run.reason else "")
            + ")"
        )
        hist = Table("at", "from", "to", "reason")
        for h in history:
            hist.add_row(
                h.at.isoformat()[:19], h.from_state or "", h.to_state, escape(h.reason or "")
            )
        console.print(hist)
        st = Table("step", "subject", "status", "attempts", "task", "error")
        for s in steps:
            st.add_row(
                s.name,
                s.subject or "",
                s.status,
                str(s.attempts),
                (s.task_ref or "")[-12:],
                escape((s.error or "")[:80]),
            )
        console.print(st)
        vms = Table("VM", "vApp", "outcome", "error")
        for _uuid, o in sorted(run.outcome.vms.items()):
            vms.add_row(o.name, o.appliance or "", o.status, escape((o.error or "")[:80]))
        console.print(vms)
