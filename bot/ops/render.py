"""How plans, runs and their ends are shown: rich tables for people, JSON for scripts."""

from __future__ import annotations

from typing import Any

import typer
from rich.markup import escape
from rich.table import Table

from bot.ops import messages
from bot.ops.output import console, dump
from engine.messages import shown
from store import RunRecord, TransitionRecord


def plan_table(plan: Any) -> None:
    """A plan for people: its header, VMs in vApp order, LUNs and every check."""
    console.print(
        f"[bold]{plan.kind}[/bold] of [bold]{escape(shown(plan.target))}[/bold]: "
        f"{plan.source_pool} -> {plan.dest_pool}, power after: {plan.power_after}, "
        f"estimated RTO {plan.estimated_rto_seconds:.0f} s, hash {plan.hash[:12]}"
    )
    table = Table("vApp / VM", "order", "delay", "record from", "in destination")
    for app in plan.appliances:
        table.add_row(f"[bold]{app.name}[/bold]", "", "", "", "")
        for vm in app.vms:
            table.add_row(
                f"  {vm.name}",
                str(vm.order),
                str(vm.start_delay),
                vm.record_source,
                vm.existing_in_dest,
            )
    for vm in plan.standalone_vms:
        table.add_row(vm.name, "-", "-", vm.record_source, vm.existing_in_dest)
    console.print(table)
    if plan.luns:
        luns = Table("LUN", "SR", "state", "lag (s)", "action")
        for lun in plan.luns:
            lag = "" if lun.lag_seconds is None else f"{lun.lag_seconds:.0f}"
            luns.add_row(lun.lun, lun.sr_name, lun.state, lag, lun.action)
        console.print(luns)
    if plan.checks:
        checks = Table("check", "status", "subject", "message")
        colour = {"ok": "green", "warning": "yellow", "blocker": "red"}
        for c in plan.checks:
            checks.add_row(
                escape(c.name),
                f"[{colour[c.status]}]{c.status}[/]",
                escape(c.subject),
                escape(c.message),
            )
        console.print(checks)


def run_summary(run: RunRecord) -> dict[str, Any]:
    """A run as JSON without its bulky parts (plan, outcome)."""
    return run.model_dump(mode="json", exclude={"plan_json", "outcome"})


def runs_table(runs: list[RunRecord]) -> None:
    """Runs as one table, newest first as given."""
    table = Table("id", "kind", "target", "pool", "state", "requested by", "created", "last step")
    for r in runs:
        table.add_row(
            str(r.id),
            r.kind,
            r.target,
            r.pool,
            r.state,
            r.requested_by or "",
            r.created_at.isoformat()[:19],
            r.last_step or "",
        )
    console.print(table)


def end(run: RunRecord, history: list[TransitionRecord], as_json: bool) -> None:
    """Report how a run ended (the last transition says why); exits 1 unless it succeeded,
    was aborted or waits (paused)."""
    if as_json:
        dump({**run_summary(run), "outcome": run.outcome.model_dump(mode="json")})
    else:
        colour = "green" if run.state in ("succeeded", "aborted") else "red"
        reason = (history[-1].reason if history else None) or run.error or ""
        console.print(
            messages.ENDED.format(run_id=run.id, state=run.state, reason=reason),
            style=colour,
            markup=False,
        )
    if run.state not in ("succeeded", "aborted", "paused"):
        raise typer.Exit(1)
