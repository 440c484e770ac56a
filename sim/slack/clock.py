"""Time for the Slack double: every deadline (ack 3 s, trigger_id 3 s, response_url 30 min,
rate-limit windows, events retries) is measured on a clock the caller can replace.

`SystemClock` is wall time. `ManualClock` only moves when a test calls `advance()`, so a
test can prove "after 3 seconds the user sees operation_timeout" without waiting 3 seconds;
listeners registered with `on_advance` (the sim's deadline sweeper) run right after each move.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Protocol


class Clock(Protocol):
    """What the sim needs of time: the current epoch seconds."""

    def now(self) -> float: ...


class SystemClock:
    """Wall-clock time (what Slack uses)."""

    def now(self) -> float:
        return time.time()

    def on_advance(self, callback: Callable[[], None]) -> None:
        """Wall time moves by itself; the sweeper polls it."""


class ManualClock:
    """A clock that stands still until `advance(seconds)`; starts at wall time by default
    so that request signatures made with it stay inside Bolt's 5-minute replay window."""

    def __init__(self, start: float | None = None) -> None:
        self._now = time.time() if start is None else float(start)
        self._lock = threading.Lock()
        self._listeners: list[Callable[[], None]] = []

    def now(self) -> float:
        with self._lock:
            return self._now

    def advance(self, seconds: float) -> float:
        """Move time forward and let the sim act on whatever fell due; returns the new time."""
        if seconds < 0:
            raise ValueError("a clock only moves forward: pass a positive number of seconds")
        with self._lock:
            self._now += seconds
            now = self._now
            listeners = list(self._listeners)
        for listener in listeners:
            listener()
        return now

    def on_advance(self, callback: Callable[[], None]) -> None:
        with self._lock:
            self._listeners.append(callback)
