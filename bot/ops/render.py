"""How plans, runs, status and their ends are shown: rich tables for people, JSON for scripts.

Tables follow the terminal's width: at 80 columns they keep the columns a person needs and
print long texts (check messages, readiness reasons) as an indented list under them, folded
at word boundaries; from `WIDE` columns on they show every column side by side.
"""

from __future__ import annotations

from typing import Any

import typer
from rich import box
from rich.markup import escape
from rich.table import Table

from bot.ops import messages
from bot.ops.output import console, dump
from commands.results import RunSummary, RunView, StatusResult
from commands.views import CHECK_ORDER, grouped_checks, lun_action
from engine.messages import shown
from engine.models import Plan, VMPlan

WIDE = 120  # columns from which tables show every column side by side
COLOUR = {"ok": "green", "info": "cyan", "warning": "yellow", "degraded": "yellow"}
COLOUR |= {"blocker": "red", "not-ready": "red", "ready": "green", "unknown": "red"}


def wide() -> bool:
    """True when the terminal has room for every column."""
    return console.width >= WIDE


def house_table(*columns: str, fold: bool = True) -> Table:
    """A table in the house style: light borders when narrow, so the text keeps the room;
    cells fold rather than lose their end."""
    roomy = wide()
    table = Table(*columns, box=box.HEAVY_HEAD if roomy else box.SIMPLE_HEAD, pad_edge=roomy)
    if fold:
        for column in table.columns:
            column.overflow = "fold"
    return table


def _gib(size: int) -> str:
    return f"{size / 2**30:.1f} GiB" if size else ""


def coloured(word: str) -> str:
    colour = COLOUR.get(word)
    return f"[{colour}]{escape(word)}[/]" if colour else escape(word)


def notes(rows: list[tuple[str, str]]) -> None:
    """Label + text lines, the text folded under itself (a hanging indent). Labels are markup
    of ours; texts are escaped."""
    grid = Table.grid(padding=(0, 1), pad_edge=False)
    grid.add_column(no_wrap=True)
    grid.add_column(ratio=1, overflow="fold")
    for label, text in rows:
        grid.add_row(label, text)
    console.print(grid)


# -- plans ---------------------------------------------------------------------------------------


def plan_table(plan: Plan) -> None:
    """A plan for people: its header, VMs in vApp order, LUNs and every check."""
    console.print(
        f"[bold]{plan.kind}[/bold] of [bold]{escape(shown(plan.target))}[/bold]: "
        f"{plan.source_pool} -> {plan.dest_pool}"
    )
    console.print(
        f"power after: {plan.power_after}  estimated RTO: {plan.estimated_rto_seconds:.0f} s  "
        f"hash: {plan.hash[:12]}"
    )
    more = ["power at source", "vCPUs", "memory", "power after"] if wide() else []
    vms = house_table("vApp / VM", "order", "delay", "record from", "in destination", *more)

    def cells(vm: VMPlan) -> list[str]:
        extra = [vm.power_state_at_source, str(vm.vcpus), _gib(vm.memory_bytes), vm.power_after]
        return [vm.record_source, vm.existing_in_dest, *(extra if more else [])]

    for app in plan.appliances:
        vms.add_row(f"[bold]{escape(app.name)}[/bold]")
        for vm in app.vms:
            vms.add_row(f"  {escape(vm.name)}", str(vm.order), str(vm.start_delay), *cells(vm))
    for vm in plan.standalone_vms:
        vms.add_row(escape(vm.name), "-", "-", *cells(vm))
    if plan.vms:
        console.print(vms)
    else:
        # A failover planned blind (the primary unreadable) learns its VMs during the run.
        blind = not plan.source_reachable
        console.print(messages.NO_VMS_LISTED if blind else messages.NO_VMS, markup=False)
    if plan.luns:
        _luns_table(plan)
    checks = grouped_checks(plan)
    if not checks:
        return
    if wide():
        table = house_table("check", "status", "subject", "message")
        table.columns[3].ratio = 1
        for c in checks:
            table.add_row(escape(c.name), coloured(c.status), escape(c.subject), escape(c.message))
        console.print(table)
        return
    console.print(messages.CHECKS_HEADER.format(counts=check_counts(plan)))
    notes(
        [
            (
                coloured(c.status),
                f"[bold]{escape(c.name)}[/bold] {escape(c.subject)}: {escape(c.message)}",
            )
            for c in checks
        ]
    )


def _luns_table(plan: Plan) -> None:
    """The LUNs the run acts on and what the storage does to each, in words. At 80 columns the
    replication state and lag share a column and the LUN keeps its line (it is the name the
    storage team knows); wider, each has its own."""
    roomy = wide()
    columns = (
        ["LUN", "SR", "state", "lag (s)", "action"]
        if roomy
        else ["LUN", "SR", "replication", "action"]
    )
    luns = house_table(*columns)
    luns.columns[0].no_wrap = True
    for lun in plan.luns:
        lag = "" if lun.lag_seconds is None else f"{lun.lag_seconds:.0f}"
        action = lun_action(lun.action)
        if roomy:
            luns.add_row(lun.lun, escape(lun.sr_name), lun.state, lag, action)
        else:
            state = f"{lun.state}, {lag} s" if lag else lun.state
            luns.add_row(lun.lun, escape(lun.sr_name), state, action)
    console.print(luns)


def check_counts(plan: Plan) -> str:
    """'1 blocker, 46 warnings, 7 ok': how many checks of each status, as the header says it."""
    counts = {status: 0 for status in CHECK_ORDER}
    for c in plan.checks:
        counts[c.status] = counts.get(c.status, 0) + 1
    words = {"blocker": "blockers", "warning": "warnings", "ok": "ok"}
    return ", ".join(
        f"{n} {status if n == 1 else words.get(status, status)}" for status, n in counts.items()
    )


# -- status --------------------------------------------------------------------------------------


def status_report(result: StatusResult) -> dict[str, Any]:
    """The status as `drbot status --json` has always printed it."""
    pairs = []
    for pair in result.pairs:
        readiness: dict[str, Any] = {"verdict": pair.verdict, "reasons": pair.reasons}
        if pair.vms is not None:
            readiness |= {
                "protected_vms": pair.protected_vms,
                "vms": pair.vms,
                "rpo_seconds": pair.rpo_seconds,
            }
        pairs.append(
            {
                "protected": pair.protected,
                "dr": pair.dr,
                "readiness": readiness,
                "last_drill": pair.last_drill.model_dump(mode="json") if pair.last_drill else None,
            }
        )
    report: dict[str, Any] = {
        "pairs": pairs,
        "replication": [lun.model_dump(mode="json") for lun in result.replication],
        "active_runs": [run_row(r) for r in result.active_runs],
    }
    if result.replication_error:
        report["replication_error"] = result.replication_error
    return report


def status_tables(result: StatusResult) -> None:
    """Readiness of each pair, replication and the runs not yet ended, for people."""
    columns = ["protected", "DR pool", "verdict", "VMs protected", "RPO", "last drill"]
    pairs = house_table(*columns, *(["reasons"] if wide() else []))
    if wide():
        pairs.columns[-1].ratio = 1
    for pair in result.pairs:
        last = pair.last_drill
        cells = [
            escape(pair.protected),
            escape(pair.dr),
            coloured(pair.verdict),
            "" if pair.vms is None else f"{pair.protected_vms}/{pair.vms}",
            "" if pair.rpo_seconds is None else f"{pair.rpo_seconds:.0f} s",
            f"{last.outcome} ({last.rto_seconds or 0:.0f} s)" if last else messages.NEVER,
        ]
        if wide():
            cells.append(escape("\n".join(pair.reasons)))
        pairs.add_row(*cells)
    console.print(pairs)
    if not wide():
        for pair in result.pairs:
            if pair.reasons:
                console.print(f"[bold]{escape(pair.protected)} -> {escape(pair.dr)}[/bold]")
                notes([_reason(r) for r in pair.reasons])
    if result.replication_error:
        console.print(result.replication_error, style="red", markup=False)
    if result.replication:
        rep = house_table("LUN", "SR", "state", "lag (s)")
        for lun in result.replication:
            lag = "" if lun.lag_seconds is None else f"{lun.lag_seconds:.0f}"
            rep.add_row(lun.lun, escape(lun.name), lun.state, lag)
        console.print(rep)
    if result.active_runs:
        runs_table(result.active_runs)


def _reason(text: str) -> tuple[str, str]:
    """'degraded: subject: message' -> (coloured 'degraded', 'subject: message')."""
    severity, sep, rest = text.partition(": ")
    if sep and severity in COLOUR:
        return coloured(severity), escape(rest)
    return "-", escape(text)


# -- runs ----------------------------------------------------------------------------------------


def run_row(run: RunSummary) -> dict[str, Any]:
    """A run summary as the CLI's JSON has always printed it."""
    return run.model_dump(mode="json", exclude={"vm_count"})


def runs_table(runs: list[RunSummary]) -> None:
    """Run summaries as one table, newest first as given; each names its protected pool (a DR
    pool takes several, so the pool a run recovers into does not tell them apart). At 80
    columns the words that must not break (kind, state, time) keep their line, the protected
    pool is shown only when the runs have several, and the time is month-day hour:minute."""
    if wide():
        table = house_table(
            "id", "kind", "target", "protected", "into", "state", "requested by", "created",
            "last step",
        )  # fmt: skip
        for r in runs:
            table.add_row(
                str(r.id), r.kind, escape(r.target), escape(r.protected_pool), r.pool,
                coloured(r.state), escape(r.requested_by or ""), r.created_at[:19],
                escape(r.last_step or ""),
            )  # fmt: skip
        console.print(table)
        return
    several = len({r.protected_pool for r in runs}) > 1
    columns = ["id", "kind", "target", *(["protected"] if several else []), "state", "created"]
    table = house_table(*columns, "last step")
    for name in ("id", "kind", "state", "created"):
        table.columns[columns.index(name)].no_wrap = True
    for r in runs:
        cells = [str(r.id), r.kind, escape(r.target)]
        cells += [escape(r.protected_pool)] if several else []
        cells += [coloured(r.state), r.created_at[5:16].replace("T", " ")]
        table.add_row(*cells, escape(r.last_step or ""))
    console.print(table)


def run_tables(view: RunView) -> None:
    """One run: its header, state history, journal steps and each VM's outcome. At 80 columns
    the errors of steps and VMs are listed, whole, under their tables rather than squeezed
    into a column; from `WIDE` columns on they are a column of their own (folded, never cut)."""
    run = view.run
    console.print(
        f"[bold]run {run.id}[/bold] {run.kind} of {escape(run.target)} into {run.pool}: "
        f"[bold]{run.state}[/bold]  (requested by {escape(run.requested_by or '')}"
        + (f", reason: {escape(run.reason)}" if run.reason else "")
        + ")"
    )
    roomy = wide()
    hist = house_table("at", "from", "to", "reason")
    hist.columns[0].no_wrap = True
    for h in view.history:
        at = h.at[:19] if roomy else h.at[5:19].replace("T", " ")
        hist.add_row(at, h.from_state or "", h.to_state, escape(h.reason or ""))
    console.print(hist)
    if roomy:
        steps = house_table("step", "subject", "status", "attempts", "task", "error")
        steps.columns[5].ratio = 1
    else:
        steps = house_table("step", "subject", "status", "attempts")
    step_errors = []
    for s in view.steps:
        cells = [escape(s.name), escape(s.subject or ""), s.status, str(s.attempts)]
        if roomy:
            cells += [(s.task_ref or "")[-12:], escape(s.error or "")]
        elif s.error:
            step_errors.append(
                (s.status, f"{escape(s.name)} {escape(s.subject or '')}: {escape(s.error)}")
            )
        steps.add_row(*cells)
    console.print(steps)
    if step_errors:
        notes(step_errors)
    vms = house_table("VM", "vApp", "outcome", *(["error"] if roomy else []))
    if roomy:
        vms.columns[3].ratio = 1
    vm_errors = []
    for vm in view.vms:
        cells = [escape(vm.name), escape(vm.appliance or ""), vm.status]
        if roomy:
            cells.append(escape(vm.error or ""))
        elif vm.error:
            vm_errors.append((vm.status, f"{escape(vm.name)}: {escape(vm.error)}"))
        vms.add_row(*cells)
    console.print(vms)
    if vm_errors:
        notes(vm_errors)
    for note in view.notes:
        console.print(note, markup=False)
    if view.storage_step is not None:
        step = view.storage_step
        console.print(
            messages.WAITS_FOR.format(lun=step.lun, action=step.action, text=step.instruction),
            markup=False,
        )
        console.print(messages.PAUSED_STORAGE.format(run_id=run.id), markup=False)


def run_json(view: RunView) -> dict[str, Any]:
    """A run as `--json` prints it: summary, each VM's outcome by uuid, history and steps."""
    return {
        **run_row(view.run),
        "outcome": {
            "vms": {vm.uuid: vm.model_dump(mode="json", exclude={"uuid"}) for vm in view.vms},
            "notes": view.notes,
        },
        "history": [h.model_dump(mode="json") for h in view.history],
        "steps": [s.model_dump(mode="json") for s in view.steps],
    }


def end(view: RunView, as_json: bool) -> None:
    """Report how a run ended; exits 1 unless it succeeded, was aborted or waits (paused)."""
    run = view.run
    if as_json:
        dump(run_json(view))
    elif run.state == "paused":
        # Not an end: the run waits for a person, who needs the exact commands that go on.
        reason = (view.history[-1].reason if view.history else None) or ""
        console.print(messages.PAUSED_END.format(run_id=run.id, reason=reason), markup=False)
        if view.storage_step is not None:
            console.print(messages.PAUSED_STORAGE.format(run_id=run.id), markup=False)
        else:
            console.print(messages.PAUSED_RESUME.format(run_id=run.id), markup=False)
    else:
        colour = "green" if run.state in ("succeeded", "aborted") else "red"
        reason = (view.history[-1].reason if view.history else None) or run.error or ""
        console.print(
            messages.ENDED.format(run_id=run.id, state=run.state, reason=reason),
            style=colour,
            markup=False,
        )
    if run.state not in ("succeeded", "aborted", "paused"):
        raise typer.Exit(1)
