"""The CLI side of a request over several pools (`site:NAME`, `all pools`): each pool's place,
then, as every pool's run ends, the one summary of the whole request."""

from __future__ import annotations

import typer
from rich.markup import escape

from bot.ops.output import console, dump
from bot.ops.render import house_table
from commands.results import EstateResult
from commands.service import Service

# Bounded waits for the whole request (a failover of a site may take hours).
WAIT_SLICE = 60.0
DONE = ("succeeded",)


def estate_table(result: EstateResult) -> None:
    """One row per pool: into which DR pool, its place in that pool's queue, its VMs and
    estimated RTO, its run. The house table style (render.py): it fits 80 columns, the note
    folded under its row; each pool's whole plan is `drbot plan KIND all --pool POOL`."""
    console.print(
        f"[bold]{escape(result.kind)}[/bold] of [bold]{escape(result.scope)}[/bold]: "
        f"{escape(result.phase)}"
    )
    table = house_table("protected", "into", "place", "VMs", "RTO", "state", "run", "note")
    for item in result.items:
        rto = "" if item.estimated_rto_seconds is None else f"{item.estimated_rto_seconds:.0f} s"
        table.add_row(
            escape(item.protected),
            escape(item.dr),
            str(item.position),
            str(item.vms),
            rto,
            escape(item.state),
            str(item.run_id or ""),
            escape(item.note),
        )
    console.print(table)
    for line in result.capacity:
        console.print(f"[yellow]{escape(line)}[/yellow]")


def follow_estate(service: Service, result: EstateResult, as_json: bool) -> None:
    """Show the places, wait for every run, show the summary; exit 1 unless all succeeded."""
    if not as_json:
        estate_table(result)
    summary = result
    while summary.phase != "finished":
        summary = service.estate.wait(result.request_id, timeout=WAIT_SLICE)
    if as_json:
        dump(summary.model_dump(mode="json"))
    else:
        estate_table(summary)
    if any(item.state not in DONE for item in summary.items):
        raise typer.Exit(1)
