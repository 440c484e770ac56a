"""Slack's rate limits: per method per app per workspace by tier, and ~1 message a second per
channel for chat.postMessage (reference slack.md §5). Token buckets on the sim's clock.

Tiers are "N+ per minute" with bursts tolerated: a bucket holds max(N, burst) calls and
refills at N per minute. Tier 1 (apps.connections.open) keeps a burst of 20 so an app
may open its ten documented connections at once, and reconnect them. An exhausted bucket
gives HTTP 429, a `Retry-After` of whole seconds until a call would pass, and `ratelimited`.
chat.postMessage also has a per-channel bucket: 1 a second, a burst of 5 (configurable).
"""

from __future__ import annotations

import math
import threading
from dataclasses import dataclass

from sim.slack.clock import Clock
from sim.slack.errors import ApiError

TIER_PER_MINUTE = {1: 1, 2: 20, 3: 50, 4: 100, "special": 600}
MIN_BURST = 20


@dataclass
class Bucket:
    capacity: float
    per_second: float
    tokens: float
    updated: float

    def take(self, now: float) -> float | None:
        """Take one call; None if allowed, else seconds until one would be."""
        elapsed = max(0.0, now - self.updated)
        self.tokens = min(self.capacity, self.tokens + elapsed * self.per_second)
        self.updated = now
        if self.tokens >= 1:
            self.tokens -= 1
            return None
        return (1 - self.tokens) / self.per_second


class RateLimiter:
    def __init__(
        self,
        clock: Clock,
        per_channel_per_second: float = 1.0,
        per_channel_burst: int = 5,
        *,
        enforced: bool = True,
    ):
        """`enforced=False` (seed `[limits] rate_limits = false`) answers no 429 except the
        forced ones: for load tests of the double itself, never for tests of an app."""
        self.enforced = enforced
        self._clock = clock
        self._buckets: dict[tuple[str, str], Bucket] = {}
        self._forced: dict[str, list[int]] = {}
        self.refusals: list[tuple[str, str]] = []  # (method, channel or "") of each 429
        self._lock = threading.Lock()
        self.per_channel_per_second = per_channel_per_second
        self.per_channel_burst = per_channel_burst

    def force(self, method: str, count: int = 1, retry_after: int = 1) -> None:
        """Answer the next `count` calls of `method` with 429 (to test an app's handling)."""
        with self._lock:
            self._forced[method] = [count, retry_after]

    def check_method(self, method: str, tier: int | str) -> None:
        with self._lock:
            forced = self._forced.get(method)
            if forced and forced[0] > 0:
                forced[0] -= 1
                self.refusals.append((method, ""))
                raise _limited(forced[1])
            if not self.enforced:
                return
            per_minute = TIER_PER_MINUTE[tier]
            wait = self._take(("method", method), max(per_minute, MIN_BURST), per_minute / 60.0)
            if wait is not None:
                self.refusals.append((method, ""))
                raise _limited(wait)

    def check_channel(self, channel: str) -> None:
        if not self.enforced:
            return
        with self._lock:
            wait = self._take(
                ("channel", channel), self.per_channel_burst, self.per_channel_per_second
            )
            if wait is not None:
                self.refusals.append(("chat.postMessage", channel))
                raise _limited(wait)

    def _take(self, key: tuple[str, str], capacity: float, per_second: float) -> int | None:
        """None if the call may pass, else the whole seconds to wait (Retry-After)."""
        now = self._clock.now()
        bucket = self._buckets.get(key)
        if bucket is None:
            bucket = self._buckets[key] = Bucket(capacity, per_second, capacity, now)
        wait = bucket.take(now)
        return None if wait is None else max(1, math.ceil(wait))


def _limited(retry_after: int) -> ApiError:
    return ApiError("ratelimited", status=429, headers={"Retry-After": str(retry_after)})
