"""The CLI side of a request over several pools (`site:NAME`, `all pools`): each pool's place,
then, as every pool's run ends, the one summary of the whole request."""

from __future__ import annotations

import typer
from rich.markup import escape

from bot.ops import messages
from bot.ops.hints import cli_text
from bot.ops.output import console, counted, dump
from bot.ops.render import (
    check_counts,
    coloured,
    grouped_checks,
    house_table,
    notes,
)
from commands.results import EstateItem, EstateResult
from commands.service import Service

# Bounded waits for the whole request (a failover of a site may take hours).
WAIT_SLICE = 60.0
DONE = ("succeeded",)


def estate_table(result: EstateResult) -> None:
    """One row per pool: into which DR pool, its place in that pool's queue, its VMs and
    estimated RTO, its run. The house table style (render.py): it fits 80 columns, the note
    folded under its row; each pool's whole plan is `drbot plan KIND all --pool POOL`. A dry
    run (its items carry their plans) is shown by `preview_tables`."""
    if any(item.plan is not None for item in result.items):
        preview_tables(result)
        return
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
            escape(cli_text(item.note)),
        )
    console.print(table)
    for line in result.capacity:
        console.print(f"[yellow]{escape(line)}[/yellow]")


def preview_tables(result: EstateResult) -> None:
    """A dry run over several pools: one row per pool with its plan's summary (into, place,
    VMs, vApps, SRs, estimated RTO, how many checks of each kind), then each pool's blockers
    and warnings grouped as a single plan shows them, then whether a real run would start and,
    if not, what would stop it. Said as what a run would meet: a preview refuses nothing."""
    console.print(
        messages.PREVIEW_TITLE.format(kind=escape(result.kind), scope=escape(result.scope))
    )
    table = house_table("protected", "into", "place", "VMs", "vApps", "SRs", "RTO", "checks")
    for item in result.items:
        rto = "" if item.estimated_rto_seconds is None else f"{item.estimated_rto_seconds:.0f} s"
        counts = _counts(item)
        table.add_row(
            escape(item.protected),
            escape(item.dr),
            str(item.position),
            str(item.vms),
            str(item.vapps),
            str(item.srs),
            rto,
            counts,
        )
    console.print(table)
    for item in result.items:
        if item.plan is None:
            continue
        checks = [c for c in grouped_checks(item.plan) if c.status in ("blocker", "warning")]
        if not checks:
            continue
        console.print(
            messages.PREVIEW_POOL.format(
                pool=escape(item.protected), dr=escape(item.dr), counts=check_counts(item.plan)
            )
        )
        notes(
            [
                (
                    coloured(c.status),
                    f"[bold]{escape(c.name)}[/bold] {escape(c.subject)}: {escape(c.message)}",
                )
                for c in checks
            ]
        )
    for line in result.capacity:
        console.print(f"[yellow]{escape(line)}[/yellow]")
    if result.would_block:
        # The blocked pools' blockers were shown above, grouped: name the pools, and say in
        # full only what is not any one pool's (a failover's shortfall of room).
        blocked = [i.protected for i in result.items if i.blockers]
        rest = [
            line
            for line in result.would_block
            if not any(line.startswith(f"{pool}: ") for pool in blocked)
        ]
        lines = (
            [
                messages.PREVIEW_BLOCKED_POOLS.format(
                    count=len(blocked), total=len(result.items), pools=", ".join(blocked)
                )
            ]
            if blocked
            else []
        )
        console.print(messages.PREVIEW_WOULD_NOT_START, style="red", markup=False)
        notes([("[red]-[/red]", escape(line)) for line in [*lines, *rest]])
    else:
        console.print(messages.PREVIEW_WOULD_START, style="green", markup=False)
    console.print(messages.PREVIEW_WHOLE_PLAN.format(kind=result.kind), markup=False)


def _counts(item: EstateItem) -> str:
    """'3 blockers', '1 blocker, 2 warnings', 'ok': the pool's checks that matter, coloured."""
    parts = [
        counted(n, word)
        for n, word in ((item.blockers, "blocker"), (item.warnings, "warning"))
        if n
    ]
    text = ", ".join(parts) or messages.PREVIEW_CHECKS_OK
    colour = "red" if item.blockers else "yellow" if item.warnings else "green"
    return f"[{colour}]{text}[/{colour}]"


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
