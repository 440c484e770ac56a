"""Following a run to its end with a progress bar of its VMs; Ctrl-C cancels it."""

from __future__ import annotations

from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from bot.ops import messages
from bot.ops.output import console, err
from bot.ops.wiring import actor
from commands.events import ServiceEvent
from commands.requests import CancelRequest
from commands.results import RunSummary
from commands.service import Service
from engine.events import RunEvent
from store.outcomes import VMStatus

# VM statuses after which the bar counts the VM as done: every final one (a VM left out as
# not-in-metadata or not-protected is done too, or the bar would stop short of its total),
# and `recovered`, so that the bar moves as VMs come back before their start.
DONE_STATUSES = {s.value for s in VMStatus if s.settled} | {VMStatus.RECOVERED.value}
LIVE = ("running", "queued", "aborting")
POLL_SECONDS = 1.0


def follow(service: Service, run_id: int, as_json: bool) -> RunSummary:
    """Wait for the run, with a progress bar of VMs; Ctrl-C asks the service to cancel it."""
    run = service.wait(run_id, timeout=0)
    progress = Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
        disable=as_json,
    )
    # A run planned without reading its source (the primary dark) learns its VMs from the
    # replicated metadata as it goes: its bar has no total ("42/?"), not a made-up one.
    bar = progress.add_task(f"run {run_id}", total=run.vm_count or None)
    finished: set[str] = set()

    def on_event(ev: ServiceEvent) -> None:
        if not isinstance(ev, RunEvent) or ev.run_id != run_id:
            return
        if ev.type == "vm" and ev.vm_uuid and ev.vm_status in DONE_STATUSES:
            finished.add(ev.vm_uuid)
            progress.update(bar, completed=len(finished))
        elif ev.type == "progress" and ev.message:
            progress.update(bar, description=f"run {run_id}: {ev.message}")
        elif ev.type == "paused" and as_json:
            # For people the run's end says it, with the commands that go on (render.end).
            err.print(messages.PAUSED.format(message=ev.message), style="yellow", markup=False)

    unsubscribe = service.subscribe(on_event)
    try:
        with progress:
            while run.state in LIVE:
                try:
                    run = service.wait(run_id, timeout=POLL_SECONDS)
                except KeyboardInterrupt:
                    err.print(messages.CANCELLING.format(run_id=run_id))
                    service.dispatch(CancelRequest(run_id=run_id), actor())
    finally:
        unsubscribe()
    return run
