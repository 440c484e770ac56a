"""Time, sleeping and monotonic time come in through a `Clock`, so the engine runs fast in tests.

Every engine function that waits, stamps a time or measures a duration takes a `Clock`. Production
code passes `SystemClock()`; tests pass `ManualClock`, which never sleeps for real: `sleep(s)` and
`advance(s)` move both its wall time and its monotonic time forward at once.
"""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime, timedelta
from typing import Protocol, runtime_checkable


@runtime_checkable
class Clock(Protocol):
    """What the engine needs of time. Implementations must be safe to call from any thread."""

    def now(self) -> datetime:
        """The current wall time, timezone-aware, in UTC."""
        ...

    def monotonic(self) -> float:
        """Seconds on a clock that never goes back; only differences are meaningful."""
        ...

    def sleep(self, seconds: float) -> None:
        """Wait `seconds` (a negative or zero value returns at once)."""
        ...


class SystemClock:
    """The real clock of the machine."""

    def now(self) -> datetime:
        return datetime.now(UTC)

    def monotonic(self) -> float:
        return time.monotonic()

    def sleep(self, seconds: float) -> None:
        if seconds > 0:
            time.sleep(seconds)


class ManualClock:
    """A clock that moves only when told to; `sleep` advances it instead of blocking.

    Example:
        clock = ManualClock(datetime(2026, 1, 1, tzinfo=UTC))
        clock.advance(90)
        assert clock.monotonic() == 90.0
    """

    def __init__(self, start: datetime | None = None) -> None:
        self._now = start or datetime(2026, 1, 1, tzinfo=UTC)
        if self._now.tzinfo is None:
            raise ValueError("ManualClock needs a timezone-aware start time (use tzinfo=UTC).")
        self._mono = 0.0
        self._lock = threading.Lock()

    def now(self) -> datetime:
        with self._lock:
            return self._now

    def monotonic(self) -> float:
        with self._lock:
            return self._mono

    def advance(self, seconds: float) -> None:
        """Move wall and monotonic time forward by `seconds` (never backwards)."""
        if seconds < 0:
            raise ValueError("A clock does not go back: advance() needs seconds >= 0.")
        with self._lock:
            self._mono += seconds
            self._now += timedelta(seconds=seconds)

    def sleep(self, seconds: float) -> None:
        if seconds > 0:
            self.advance(seconds)
