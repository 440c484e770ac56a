"""Following a run to its end with a progress bar of its VMs; Ctrl-C cancels it."""

from __future__ import annotations

from typing import Any

from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from bot.ops import messages
from bot.ops.output import console, err
from bot.ops.wiring import Ops, actor
from engine.events import RunEvent
from store import RunRecord, VMStatus

# VM statuses after which the bar counts the VM as done.
DONE_STATUSES = {s for s in VMStatus if s is not VMStatus.PENDING}


def follow(ops: Ops, runner: Any, run_id: int, as_json: bool) -> RunRecord:
    """Wait for the run, with a progress bar of VMs; Ctrl-C cancels it."""
    run = ops.store.runs.get(run_id)
    total = len(run.plan.get("standalone_vms", [])) + sum(
        len(vm_group)
        for app in run.plan.get("appliances", [])
        for vm_group in app.get("order_groups", [])
    )
    progress = Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
        disable=as_json,
    )
    bar = progress.add_task(f"run {run_id}", total=total or 1)
    finished: set[str] = set()

    def on_event(ev: RunEvent) -> None:
        if ev.run_id != run_id:
            return
        if ev.type == "vm" and ev.vm_uuid and ev.vm_status in DONE_STATUSES:
            finished.add(ev.vm_uuid)
            progress.update(bar, completed=len(finished))
        elif ev.type == "progress" and ev.message:
            progress.update(bar, description=f"run {run_id}: {ev.message}")
        elif ev.type == "paused":
            err.print(messages.PAUSED.format(message=ev.message), style="yellow", markup=False)

    unsubscribe = runner.subscribe(on_event)
    try:
        with progress:
            while True:
                try:
                    run = runner.wait(run_id, timeout=1.0)
                except KeyboardInterrupt:
                    err.print(messages.CANCELLING.format(run_id=run_id))
                    runner.cancel(run_id, actor=actor())
                    continue
                if run.state not in ("running", "queued", "aborting"):
                    break
    finally:
        unsubscribe()
    return run
