"""The arguments and options the CLI commands share (typer annotations)."""

from __future__ import annotations

from typing import Annotated

import typer

from engine.models import PowerAfter

# SQLite's largest integer: a larger run id cannot name a run (and would not fit a query).
MAX_RUN_ID = 2**63 - 1

ConfigOpt = Annotated[str | None, typer.Option("--config", "-c", help="Configuration file (TOML).")]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON for scripts.")]
PairOpt = Annotated[
    str | None,
    typer.Option(
        "--pool",
        "-p",
        help="The pair to act on: its protected or DR pool, or PROTECTED:DR (needed when "
        "the configuration has several pairs).",
    ),
]
KindArg = Annotated[str, typer.Argument(help="test-failover, failover or failback.")]
TargetArg = Annotated[
    str,
    typer.Argument(
        help="'all', a vApp name, a VM name or uuid, or a,b,c; 'site:NAME' or 'all pools' for "
        "one run per protected pool."
    ),
]
PowerOpt = Annotated[
    PowerAfter | None,
    typer.Option("--power", help="After recovery: start, start-paused or leave-off."),
]
PlannedOpt = Annotated[
    bool, typer.Option("--planned", help="Failover with the primary up: shut down there first.")
]
HaOpt = Annotated[
    bool,
    typer.Option("--disable-ha", help="Test failover: turn HA off on the DR pool, back on after."),
]
RunIdArg = Annotated[int, typer.Argument(help="Run id (see `drbot runs`).", min=1, max=MAX_RUN_ID)]
