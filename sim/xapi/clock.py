"""Simulated time: wall-clock `now()`, and operation durations shrunk by a speed factor.

The simulator's calendar is the real one (datetimes a client sees are current), but every
*operation* that takes time on a real host (a boot, a shutdown, a VM recovery, an SR plug, a
probe) sleeps `latency / speed`. A speed of 1000 turns a 30 s boot into 30 ms, so tests run
in milliseconds and a demo at speed 1 feels like a real pool.

The replication lag of a storage array is deliberately *not* scaled: it is the window in
which writes are lost when a site dies, and a scenario's "VM created inside the lag" trap
must survive a fast test run. `POST /replication/<lun>/sync` closes the window on demand.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from dataclasses import dataclass, field
from datetime import UTC, datetime


@dataclass
class LatencyModel:
    """Seconds each operation takes on a real host, before the speed factor.

    `per_gb` fields add time proportional to size where a real operation scales with it.
    """

    vm_start: float = 20.0
    vm_clean_shutdown: float = 15.0
    vm_hard_shutdown: float = 3.0
    vm_recover: float = 2.0
    vm_destroy: float = 0.5
    sr_probe: float = 3.0
    pbd_plug: float = 2.0
    pbd_unplug: float = 1.0
    sr_scan: float = 1.0
    open_database: float = 2.0
    enable_replication: float = 3.0

    def get(self, operation: str) -> float:
        """The latency of `operation` in seconds (0 for an operation the model does not know)."""
        return float(getattr(self, operation, 0.0))


@dataclass
class SimClock:
    """The simulator's clock: real datetimes, scaled sleeps, and a stop switch.

    `sleep` wakes early when `interrupt()` is called (the simulator is stopping), so a slow
    simulated boot never holds a shutdown hostage.
    """

    speed: float = 1.0
    latency: LatencyModel = field(default_factory=LatencyModel)
    _stop: threading.Event = field(default_factory=threading.Event, repr=False)
    # The last named sleeps (why, simulated seconds), e.g. ("start_delay", 30): what a test
    # reads to see which waits an operation made, since durations are not timed.
    named_sleeps: deque[tuple[str, float]] = field(
        default_factory=lambda: deque(maxlen=1000), repr=False
    )

    def __post_init__(self) -> None:
        if self.speed <= 0:
            raise ValueError("speed must be a positive factor, e.g. 1 (real time) or 1000")

    def now(self) -> datetime:
        """The current UTC time, to the second (XAPI's datetimes carry no fractions)."""
        return datetime.now(UTC).replace(microsecond=0)

    def monotonic(self) -> float:
        """Real monotonic seconds, for measuring and for the replication lag."""
        return time.monotonic()

    def wall(self) -> float:
        """Real epoch seconds (the replication journal's timestamps, persisted across runs)."""
        return time.time()

    def scaled(self, seconds: float) -> float:
        """Real seconds that `seconds` of simulated work take at this speed."""
        return max(0.0, float(seconds)) / self.speed

    def sleep(self, seconds: float, why: str = "") -> bool:
        """Sleep `seconds` of simulated time; returns False if interrupted by `interrupt()`.
        A sleep with a `why` is remembered in `named_sleeps`."""
        if why:
            self.named_sleeps.append((why, float(seconds)))
        real = self.scaled(seconds)
        if real <= 0:
            return not self._stop.is_set()
        return not self._stop.wait(real)

    def work(self, operation: str, count: float = 1.0) -> bool:
        """Sleep for `count` times the latency of `operation` (see `LatencyModel`)."""
        return self.sleep(self.latency.get(operation) * count)

    def interrupt(self) -> None:
        """Wake every sleeper now and make later sleeps return at once (shutdown)."""
        self._stop.set()

    @property
    def stopping(self) -> bool:
        """True once `interrupt()` was called."""
        return self._stop.is_set()
