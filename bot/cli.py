"""The `drbot` command line: the simulators, the demo and the operator commands.

Each group of commands lives in its own module and is mounted here, so that this file
stays the one place that names them all.
"""

from __future__ import annotations

import typer

app = typer.Typer(
    name="drbot",
    help="Slack ChatOps for XenServer / XCP-ng disaster recovery.",
    no_args_is_help=True,
    add_completion=False,
)


def _mount() -> None:
    """Attach the command groups. Each module keeps its heavy imports (the engine, the
    simulators) inside its commands, so mounting them all costs little."""
    from bot import (
        cli_audit,
        cli_config,
        cli_docs,
        cli_ops,
        cli_rehearse,
        cli_report,
        cli_sim,
        cli_store,
        demo,
    )
    from bot.slack import serve

    app.add_typer(cli_sim.app, name="sim", help="Run and steer the XAPI and Slack simulators.")
    app.command("demo")(demo.demo)
    cli_ops.register(app)
    app.command("rehearse")(cli_rehearse.rehearse)
    app.add_typer(cli_report.app, name="report")
    app.command("serve")(serve.serve)
    cli_audit.register(app)
    cli_store.register(app)
    cli_config.register(app)
    cli_docs.register(app)


def main() -> None:
    """Entry point of the `drbot` console script."""
    _mount()
    app()


if __name__ == "__main__":
    main()
