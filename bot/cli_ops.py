"""The operator CLI, for when chat is down: status, plan, run, runs, resume, abort.

Mounted on `drbot` by `bot/cli.py` (`cli_ops.register(app)`); the commands live in `bot/ops/`
(wiring, rendering, progress, one module per command group, strings in `bot/ops/messages.py`).
Connection settings come from the configuration file (`--config FILE`, else `DRBOT_CONFIG`,
else ./drbot.toml). Every command takes `--json` for scripts; otherwise it prints rich tables
and, for runs, a progress bar.

A failover or failback from the CLI bypasses chat approvals, so it needs `--break-glass` and a
`--reason`, both recorded in the audit trail. Exit codes: 0 done, 1 the run did not fully
succeed, 2 the request was refused (bad input, blockers, busy pool, configuration).
"""

from __future__ import annotations

import typer

from bot.ops.commands import abort, plan_cmd, resume, run_cmd
from bot.ops.runs import runs_app
from bot.ops.status import status

__all__ = ["abort", "plan_cmd", "register", "resume", "run_cmd", "runs_app", "status"]


def register(app: typer.Typer) -> None:
    """Mount the operator commands on the `drbot` application."""
    app.command("status")(status)
    app.command("plan")(plan_cmd)
    app.command("run")(run_cmd)
    app.add_typer(runs_app, name="runs")
    app.command("resume")(resume)
    app.command("abort")(abort)
