"""Slack's rate limits: per method per app per workspace by tier, and ~1 message a second per
channel for chat.postMessage (reference slack.md §5). Token buckets on the sim's clock.

Tiers are "N+ per minute" with bursts tolerated: a bucket holds max(N, burst) calls and
refills at N per minute. Tier 1 (apps.connections.open) keeps a burst of 20 so an app
may open its ten documented connections at once, and reconnect them. An exhausted bucket
gives HTTP 429, a `Retry-After` of whole seconds until a call would pass, and `ratelimited`.
chat.postMessage also has a per-channel bucket: 1 a second, a burst of 5 (configurable).

Buckets are kept per workspace (the token's team) and method, as Slack counts them: one
app's calls in one workspace share them. `set_tier` makes a tier smaller (a seed's
`[limits] tiers`, or the control API), so a test or a benchmark sees 429s within a short
run instead of an hour's traffic; `burst` then defaults to the tier's own size.
"""

from __future__ import annotations

import math
import threading
from dataclasses import dataclass

from sim.slack.clock import Clock
from sim.slack.errors import ApiError

TIER_PER_MINUTE: dict[int | str, int] = {1: 1, 2: 20, 3: 50, 4: 100, "special": 600}
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
        self._buckets: dict[tuple[str, str, str], Bucket] = {}
        self._tiers: dict[int | str, tuple[float, float]] = {
            tier: (per_minute, max(per_minute, MIN_BURST))
            for tier, per_minute in TIER_PER_MINUTE.items()
        }
        self._forced: dict[str, list[int]] = {}
        self.refusals: list[tuple[str, str]] = []  # (method, channel or "") of each 429
        self._lock = threading.Lock()
        self.per_channel_per_second = per_channel_per_second
        self.per_channel_burst = per_channel_burst

    def force(self, method: str, count: int = 1, retry_after: int = 1) -> None:
        """Answer the next `count` calls of `method` with 429 (to test an app's handling)."""
        with self._lock:
            self._forced[method] = [count, retry_after]

    def set_tier(self, tier: int | str, per_minute: float, burst: float | None = None) -> None:
        """Allow `per_minute` calls a minute (bursts of `burst`, default the same) for every
        method of `tier`; buckets start full again."""
        if tier not in self._tiers or per_minute <= 0 or (burst is not None and burst < 1):
            raise ValueError(
                f"tier {tier!r}: give one of {sorted(map(str, self._tiers))}, a positive "
                "number of calls a minute and a burst of at least 1"
            )
        with self._lock:
            self._tiers[tier] = (per_minute, burst if burst is not None else per_minute)
            self._buckets.clear()

    def check_method(self, method: str, tier: int | str, workspace: str = "") -> None:
        with self._lock:
            forced = self._forced.get(method)
            if forced and forced[0] > 0:
                forced[0] -= 1
                self.refusals.append((method, ""))
                raise _limited(forced[1])
            if not self.enforced:
                return
            per_minute, burst = self._tiers[tier]
            wait = self._take((workspace, "method", method), burst, per_minute / 60.0)
            if wait is not None:
                self.refusals.append((method, ""))
                raise _limited(wait)

    def check_channel(self, channel: str, workspace: str = "") -> None:
        if not self.enforced:
            return
        with self._lock:
            wait = self._take(
                (workspace, "channel", channel),
                self.per_channel_burst,
                self.per_channel_per_second,
            )
            if wait is not None:
                self.refusals.append(("chat.postMessage", channel))
                raise _limited(wait)

    def _take(self, key: tuple[str, str, str], capacity: float, per_second: float) -> int | None:
        """None if the call may pass, else the whole seconds to wait (Retry-After)."""
        now = self._clock.now()
        bucket = self._buckets.get(key)
        if bucket is None:
            bucket = self._buckets[key] = Bucket(capacity, per_second, capacity, now)
        wait = bucket.take(now)
        return None if wait is None else max(1, math.ceil(wait))


def _limited(retry_after: int) -> ApiError:
    return ApiError("ratelimited", status=429, headers={"Retry-After": str(retry_after)})
