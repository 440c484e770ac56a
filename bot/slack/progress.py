"""One progress message per run, in the request's thread, edited in place.

Run events arrive from the engine's worker, one per step and per VM: thousands for a large
estate. The board folds them into each run's `ProgressState` at once (cheap, no Slack call in
the engine's thread) and a flusher thread edits each run's message at most once per
`interval` seconds on the clock (and, as a run ages, every tenth of its age), so the number of
chat.update calls grows with the logarithm of how long the run takes, never with how many VMs
it has. A run's final state is always written: a terminal
state is flushed as soon as the interval allows, and a flush that fails (Slack down, 429s past
the retry handler) stays due and is tried again.

When a run ends, the board posts its summary (from the service's `show`) in the thread, once.

A run planned blind (the protected pool unreachable: the disaster case) starts with no VM
list, so its VMs arrive by name only; `apps_of` (the run's recorded outcome) tells which
vApp each belongs to, read at most every `APPS_EVERY` seconds while unknown names appear and
once more at the end, so the per-vApp lines match the summary's.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, field

from bot.slack import blocks
from bot.slack.blocks import ProgressState
from bot.slack.poster import Poster
from bot.slack.threads import Threads
from engine.clock import Clock
from engine.events import RunEvent

log = logging.getLogger(__name__)

TERMINAL = {"succeeded", "partially-succeeded", "failed", "cancelled", "aborted", "interrupted"}
POLL = 0.05  # real seconds between the flusher's looks at the clock
SPACING_SHARE = 0.1  # a long run's edits come every tenth of its age
APPS_EVERY = 5.0  # seconds between two reads of a run's vApps while VMs of unknown vApp come


@dataclass
class _Run:
    state: ProgressState
    dirty: bool = True
    last_flush: float | None = None  # clock.monotonic() of the last edit
    ended: bool = False
    rto: float | None = None
    apps: dict[str, str] = field(default_factory=dict)
    apps_read: float | None = None  # clock.monotonic() of the last `apps_of` read


Summarise = Callable[[int, float | None], blocks.Message | None]
"""run id, RTO seconds -> the run's summary message (None if it cannot be read)."""
AppsOf = Callable[[int], dict[str, str]]
"""run id -> VM name -> vApp name, of the VMs the run knows to be in a vApp."""


class ProgressBoard:
    """Folds run events into per-run progress and keeps each run's message current."""

    def __init__(
        self,
        poster: Poster,
        threads: Threads,
        clock: Clock,
        *,
        interval: float = 1.0,
        summarise: Summarise | None = None,
        on_state: Callable[[int, str], None] | None = None,
        apps_of: AppsOf | None = None,
        on_written: Callable[[int, str], None] | None = None,
    ) -> None:
        """`on_written(run_id, state)` is told after each edit Slack accepted: Slack answers
        again, so what a run needs on screen besides its progress (a paused run's storage
        step) can be made sure of."""
        self._poster = poster
        self._apps_of = apps_of
        self._on_written = on_written
        self._threads = threads
        self._clock = clock
        self._interval = interval
        self._summarise = summarise
        self._on_state = on_state
        self._runs: dict[int, _Run] = {}
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="drbot-progress", daemon=True)
        self.edits = 0  # chat.update calls made, for the benchmark

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()
        self._thread.join(timeout=5)

    # ---- events (the engine's threads) -----------------------------------------------------

    def begin(self, run_id: int, kind: str, target: str, vm_apps: dict[str, str]) -> None:
        """Announce a run with its VMs (name -> vApp) so counts start right."""
        with self._lock:
            run = self._run(run_id, kind, target)
            run.state.total = max(run.state.total, len(vm_apps))
            run.state.vm_app = {**(run.state.vm_app or {}), **vm_apps}
            for vm in vm_apps:
                (run.state.vm_status or {}).setdefault(vm, "pending")
            run.dirty = True
        self._wake.set()

    def note(self, event: RunEvent) -> None:
        """Fold one event into its run's state; never calls Slack."""
        with self._lock:
            run = self._run(event.run_id, "", "")
            state = run.state
            state.elapsed = self._clock.monotonic() - state.started
            if event.phase:
                state.phase = event.phase
            if event.type == "state" and event.state:
                state.state = event.state
                state.paused = ""
                if event.state in TERMINAL:
                    run.ended = True
                    rto = event.extra.get("rto_seconds")
                    run.rto = float(rto) if rto else None
            elif event.type == "vm" and event.subject:
                assert state.vm_status is not None
                state.vm_status[event.subject] = event.vm_status or ""
            elif event.type == "progress" and event.total:
                state.total = max(state.total, event.total)
            elif event.type == "paused":
                state.state = "paused"
                state.paused = event.message
            run.dirty = True
        if event.type == "state" and self._on_state and event.state:
            self._on_state(event.run_id, event.state)
        self._wake.set()

    def _run(self, run_id: int, kind: str, target: str) -> _Run:
        run = self._runs.get(run_id)
        if run is None:
            run = self._runs[run_id] = _Run(
                ProgressState(
                    run_id=run_id,
                    kind=kind,
                    target=target,
                    started=self._clock.monotonic(),
                    vm_status={},
                    vm_app={},
                )
            )
        elif kind and not run.state.kind:
            run.state.kind, run.state.target = kind, target
        return run

    # ---- flushing (the board's thread) -----------------------------------------------------

    def flush_due(self) -> int:
        """Edit every run whose message is out of date and whose interval has passed; returns
        how many were edited. The flusher calls it; tests may too."""
        now = self._clock.monotonic()
        due: list[tuple[int, _Run]] = []
        with self._lock:
            for run_id, run in self._runs.items():
                if not run.dirty:
                    continue
                if run.last_flush is not None and now - run.last_flush < self._spacing(run, now):
                    continue
                due.append((run_id, run))
        edited = 0
        for run_id, run in due:
            if self._flush(run_id, run, now):
                edited += 1
        return edited

    def _spacing(self, run: _Run, now: float) -> float:
        """Seconds between two edits of a run: `interval` early on, then a tenth of the run's
        age, so an hour-long run makes ~50 edits, not 3,600 (Slack's budget is shared with
        approvals, summaries and the audit channel). A run's end waits at most that long."""
        return max(self._interval, (now - run.state.started) * SPACING_SHARE)

    def _flush(self, run_id: int, run: _Run, now: float) -> bool:
        where = self._threads.get(run_id)
        if where is None:
            return False  # not yet known where it lives: the state waits, nothing is lost
        self._learn_apps(run_id, run, now)
        with self._lock:
            message = blocks.progress_message(run.state)
            run.dirty = False
            ended = run.ended
        try:
            if where.progress_ts is None:
                where.progress_ts = self._poster.post(
                    where.channel, message, thread_ts=where.thread_ts
                )
                self._threads.put(run_id, where)
            else:
                self._poster.update(where.channel, where.progress_ts, message)
            self.edits += 1
            if ended and not where.summary_posted and self._summarise is not None:
                summary = self._summarise(run_id, run.rto)
                if summary is not None:
                    self._poster.post(where.channel, summary, thread_ts=where.thread_ts)
                    where.summary_posted = True
                    self._threads.put(run_id, where)
        except Exception:  # Slack down or refusing: stay due, try again at the next interval
            log.exception("progress of run %s not written; will retry", run_id)
            with self._lock:
                run.dirty = True
        else:
            if self._on_written is not None:
                self._on_written(run_id, run.state.state)
        with self._lock:
            run.last_flush = now
        return True

    def _learn_apps(self, run_id: int, run: _Run, now: float) -> None:
        """Read which vApp the run's VMs of unknown vApp belong to (a blind plan names none),
        at most every APPS_EVERY seconds, and at the end."""
        if self._apps_of is None:
            return
        with self._lock:
            known = run.state.vm_app or {}
            unknown = any(vm not in known for vm in run.state.vm_status or {})
            due = run.apps_read is None or now - run.apps_read >= APPS_EVERY or run.ended
            if not (unknown and due):
                return
            run.apps_read = now
        try:
            apps = self._apps_of(run_id)
        except Exception:  # a name is a nicety: the counts go out all the same
            log.exception("vApps of run %s not read", run_id)
            return
        with self._lock:
            run.state.vm_app = {**apps, **(run.state.vm_app or {})}

    def _loop(self) -> None:
        while not self._stop.is_set():
            self._wake.wait(POLL)
            self._wake.clear()
            try:
                self.flush_due()
            except Exception:
                log.exception("progress flush failed")
