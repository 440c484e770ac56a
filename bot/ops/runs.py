"""`drbot runs` and `drbot runs show ID`: the run history and one run in full."""

from __future__ import annotations

from typing import Annotated

import typer

from bot.ops.answer import ask, request
from bot.ops.options import ConfigOpt, JsonOpt, RunIdArg
from bot.ops.output import dump
from bot.ops.render import run_json, run_row, run_tables, runs_table
from bot.ops.wiring import serving
from commands.results import RunsList, RunView

runs_app = typer.Typer(help="List runs, or show one.", no_args_is_help=False)


@runs_app.callback(invoke_without_command=True)
def runs_list(
    ctx: typer.Context,
    limit: Annotated[
        int, typer.Option("--limit", "-n", help="How many runs.", min=1, max=10_000)
    ] = 20,
    pool: Annotated[
        str | None, typer.Option("--pool", help="Only the runs of this protected pool.")
    ] = None,
    config: ConfigOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """The newest runs first, each with the protected pool it acts for."""
    if ctx.invoked_subcommand is not None:
        return
    req = request("runs", limit=limit, pool=pool)
    with serving(config) as service:
        runs = ask(service, req, RunsList).runs
        if as_json:
            dump([run_row(r) for r in runs])
        else:
            runs_table(runs)


@runs_app.command("show")
def runs_show(
    run_id: RunIdArg,
    config: ConfigOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """One run: its state history, every step of its journal and each VM's outcome."""
    req = request("show", run_id=run_id)
    with serving(config) as service:
        view = ask(service, req, RunView)
        if as_json:
            dump(run_json(view))
        else:
            run_tables(view)
