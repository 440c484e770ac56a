"""Staying within Slack's rate limits rather than running into them, and honouring a 429 for
every caller at once.

Slack counts calls per method, per app and workspace, by tier ("N+ a minute", bursts
tolerated), and chat.postMessage about one a second per channel (reference slack.md §5).
slack_sdk's own `RateLimitErrorRetryHandler` sleeps `Retry-After` in the one thread that got
the 429 while the bot's other threads (progress, audit feed, approvals, App Home) go on calling
the same method and collect 429s of their own. Here:

- `Pacer` keeps a token bucket per method the bot uses, four fifths of its tier's, and one
  per channel for chat.postMessage; a call waits its turn (on the bot's clock) instead of being
  refused. A 429 closes the method for everyone until its Retry-After has passed.
- `PacedClient` is the WebClient that waits its turn before each call.
- `RetryAfter` is the retry handler: on a 429 it tells the pacer, waits the Retry-After on the
  clock (a test's ManualClock moves instead of sleeping), then tries again, up to 5 times;
  past that the call fails and its caller keeps the work due (progress, audit feed).
- `ServerErrors` and `ConnectionErrors` are slack_sdk's handlers for Slack's 500/503 (an
  outage) and lost connections, with their back-off waited on the clock too (the SDK's own
  sleep in real time: a test of Slack being down would wait for real).

Methods the bot does not post with (auth.test, apps.connections.open of Socket Mode
reconnections) are not paced: holding a reconnection back would only lengthen an outage.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from typing import Any

from slack_sdk import WebClient
from slack_sdk.http_retry.builtin_handlers import (
    ConnectionErrorRetryHandler,
    RateLimitErrorRetryHandler,
    ServerErrorRetryHandler,
)
from slack_sdk.http_retry.interval_calculator import RetryIntervalCalculator
from slack_sdk.http_retry.request import HttpRequest
from slack_sdk.http_retry.response import HttpResponse
from slack_sdk.http_retry.state import RetryState
from slack_sdk.web import SlackResponse

from engine.clock import Clock

log = logging.getLogger(__name__)

# Calls a minute per method: Slack's tiers (2: 20+, 3: 50+, 4: 100+, chat.postMessage
# "several hundred" workspace-wide). Slack tolerates bursts: its bucket (and sim/slack's)
# holds a minute's calls and refills over the minute; the bot's holds `SHARE` of that and
# refills at `SHARE` of the rate, so it stays below the tier with a margin for the reports
# and any other client of the same app.
PER_MINUTE: dict[str, float] = {
    "chat.postMessage": 300,
    "chat.update": 50,
    "chat.delete": 50,
    "chat.postEphemeral": 100,
    "views.open": 100,
    "views.publish": 100,
    "views.update": 100,
    "views.push": 100,
    "users.info": 100,
    "usergroups.users.list": 20,
    "files.getUploadURLExternal": 100,
    "files.completeUploadExternal": 100,
    "conversations.history": 50,
    "conversations.replies": 50,
}
SHARE = 0.8
PER_CHANNEL_PER_SECOND = 1.0  # chat.postMessage in one channel
CHANNEL_BURST = 3
RETRIES = 5  # 429s waited out before a call fails to its caller
DEFAULT_RETRY_AFTER = 1.0  # a 429 without Retry-After (Slack always sends one)


@dataclass
class _Bucket:
    capacity: float
    per_second: float
    tokens: float
    updated: float

    def wait(self, now: float) -> float:
        """Seconds until a call may pass (0: now), refilling first."""
        self.tokens = min(self.capacity, self.tokens + (now - self.updated) * self.per_second)
        self.updated = now
        # A hair short of a whole call is a whole call: waiting a femtosecond on a clock that
        # cannot represent it would never end.
        return 0.0 if self.tokens >= 1 - 1e-6 else (1 - self.tokens) / self.per_second


class Pacer:
    """Per-method (and per-channel) turns for the bot's Slack calls, on `clock`."""

    def __init__(
        self,
        clock: Clock,
        per_minute: dict[str, float] | None = None,
        *,
        per_channel_per_second: float = PER_CHANNEL_PER_SECOND,
        channel_burst: float = CHANNEL_BURST,
    ) -> None:
        self._clock = clock
        self._per_minute = PER_MINUTE if per_minute is None else per_minute
        self._per_channel = (per_channel_per_second, channel_burst)
        self._buckets: dict[tuple[str, str], _Bucket] = {}
        self._closed_until: dict[str, float] = {}
        self._lock = threading.Lock()
        self.waited = 0.0  # seconds spent waiting for a turn, for the benchmark
        self.limited = 0  # 429s heard

    def turn(self, method: str, channel: str | None = None) -> None:
        """Wait until `method` (in `channel`, for chat.postMessage) may be called, and take
        the call from its buckets."""
        while True:
            with self._lock:
                now = self._clock.monotonic()
                buckets = self._buckets_of(method, channel, now)
                delay = max(
                    [self._closed_until.get(method, now) - now, *(b.wait(now) for b in buckets)]
                )
                if delay <= 0:
                    for bucket in buckets:
                        bucket.tokens -= 1
                    return
                self.waited += delay
            self._clock.sleep(delay)

    def hold(self, method: str, seconds: float) -> None:
        """Slack answered 429 with Retry-After `seconds`: nobody calls `method` before then."""
        with self._lock:
            self.limited += 1
            until = self._clock.monotonic() + seconds
            self._closed_until[method] = max(self._closed_until.get(method, until), until)

    def _buckets_of(self, method: str, channel: str | None, now: float) -> list[_Bucket]:
        found = []
        per_minute = self._per_minute.get(method)
        if per_minute is not None:
            allowed = per_minute * SHARE
            found.append(self._bucket((method, ""), max(1.0, allowed), allowed / 60.0, now))
        if method == "chat.postMessage" and channel:
            rate, burst = self._per_channel
            found.append(self._bucket((method, channel), burst, rate, now))
        return found

    def _bucket(self, key: tuple[str, str], capacity: float, rate: float, now: float) -> _Bucket:
        bucket = self._buckets.get(key)
        if bucket is None:
            bucket = self._buckets[key] = _Bucket(capacity, rate, capacity, now)
        return bucket


class RetryAfter(RateLimitErrorRetryHandler):
    """On a 429: close the method for everyone for Retry-After (the pacer), wait for the next
    turn on the clock, and try again (up to `max_retry_count` times)."""

    def __init__(self, pacer: Pacer, max_retry_count: int = RETRIES) -> None:
        super().__init__(max_retry_count=max_retry_count)
        self.pacer = pacer

    def prepare_for_next_attempt(
        self,
        *,
        state: RetryState,
        request: HttpRequest,
        response: HttpResponse | None = None,
        error: Exception | None = None,
    ) -> None:
        if response is None:  # only a 429 comes here (`_can_retry`)
            raise error or RuntimeError("a retry without a response")
        method = request.url.split("?")[0].rstrip("/").rsplit("/", 1)[-1]
        self.pacer.hold(method, _retry_after(response))
        log.info("Slack answered 429 to %s; waiting Retry-After", method)
        self.pacer.turn(method)
        state.next_attempt_requested = True
        state.increment_current_attempt()


class _OnTheClock:
    """A slack_sdk retry handler's back-off, waited on `clock` instead of `time.sleep`."""

    clock: Clock
    interval_calculator: RetryIntervalCalculator  # the SDK handler's (set by its __init__)

    def prepare_for_next_attempt(
        self,
        *,
        state: RetryState,
        request: HttpRequest,
        response: HttpResponse | None = None,
        error: Exception | None = None,
    ) -> None:
        state.next_attempt_requested = True
        self.clock.sleep(self.interval_calculator.calculate_sleep_duration(state.current_attempt))
        state.increment_current_attempt()


class ServerErrors(_OnTheClock, ServerErrorRetryHandler):
    """Slack answered 500 or 503 (down, or an incident): try again after a back-off."""

    def __init__(self, clock: Clock, max_retry_count: int = 2) -> None:
        super().__init__(max_retry_count=max_retry_count)
        self.clock = clock


class ConnectionErrors(_OnTheClock, ConnectionErrorRetryHandler):
    """The connection to Slack was lost or reset: try again after a back-off."""

    def __init__(self, clock: Clock, max_retry_count: int = 2) -> None:
        super().__init__(max_retry_count=max_retry_count)
        self.clock = clock


def _retry_after(response: HttpResponse) -> float:
    for name, values in response.headers.items():
        if name.lower() == "retry-after" and values:
            try:
                return max(0.0, float(values[0]))
            except ValueError:
                break
    return DEFAULT_RETRY_AFTER


class PacedClient(WebClient):
    """A WebClient whose every call waits its turn with the pacer first."""

    def __init__(self, pacer: Pacer, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.pacer = pacer

    def api_call(self, api_method: str, **kwargs: Any) -> SlackResponse:
        channel = None
        for part in ("json", "data", "params"):
            value = kwargs.get(part)
            if isinstance(value, dict) and value.get("channel"):
                channel = str(value["channel"])
                break
        self.pacer.turn(api_method, channel)
        return super().api_call(api_method, **kwargs)
