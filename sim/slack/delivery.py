"""Getting a payload to the app and its acknowledgement back, the way Slack does, over
Socket Mode or HTTP, with the 3-second deadline measured on the sim's clock.

A `Delivery` is pending until the app acknowledges it (an ack frame with its envelope_id, or
the HTTP response) or its deadline passes. What happens then depends on the kind:
commands and interactions have no retry, the person is shown the error (`operation_timeout`
when the app was too slow, `dispatch_failed` when it could not be reached); Events API
callbacks are retried up to three times (by default at once, after 1 minute, after 5 minutes)
with `retry_attempt` / `retry_reason` in Socket Mode and `X-Slack-Retry-Num` /
`X-Slack-Retry-Reason` over HTTP. An ack that arrives after the deadline is ignored.
"""

from __future__ import annotations

import itertools
import logging
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from sim.slack import http_delivery
from sim.slack.socket_mode import SocketModeServer
from sim.slack.world import World

log = logging.getLogger(__name__)
ACCEPTS_RESPONSE = {"slash_commands": True, "interactive": True, "events_api": False}


@dataclass
class Delivery:
    envelope_id: str
    kind: str  # slash_commands | interactive | events_api
    payload: dict
    deadline: float
    attempt: int = 0  # 0 for the first try, then retry_attempt
    retry_reason: str = ""
    route: str = ""  # "socket:<id>" or "http"
    status: str = "pending"  # pending | acked | failed
    error: str | None = None  # operation_timeout | dispatch_failed
    ack: dict | None = None
    on_ack: Callable[[Delivery], None] | None = None
    on_fail: Callable[[Delivery], None] | None = None
    attempts: list[dict] = field(default_factory=list)
    done: threading.Event = field(default_factory=threading.Event)
    trigger_id: str | None = None  # what the person's action handed the app, for tests
    response_url: str | None = None

    def wait(self, timeout: float = 5.0) -> Delivery:
        """Block until acknowledged or failed (at most `timeout` real seconds)."""
        if not self.done.wait(timeout):
            raise TimeoutError(
                f"{self.kind} {self.envelope_id} still pending after {timeout}s of real time;"
                " on a ManualClock, advance it past the ack deadline"
            )
        return self

    def summary(self) -> dict[str, Any]:
        return {
            "envelope_id": self.envelope_id,
            "kind": self.kind,
            "status": self.status,
            "error": self.error,
            "ack": self.ack,
            "route": self.route,
            "attempts": self.attempts,
        }


class Dispatcher:
    def __init__(self, world: World) -> None:
        self._world = world
        self._pending: dict[str, Delivery] = {}
        self._retries: list[tuple[float, Delivery]] = []
        self._lock = threading.Lock()
        self._ids = itertools.count(1)
        self.socket: SocketModeServer | None = None
        self._stop = threading.Event()
        self._sweeper = threading.Thread(
            target=self._sweep_forever, name="slack-sim-sweeper", daemon=True
        )
        self.log: list[Delivery] = []

    def start(self, socket_server: SocketModeServer) -> None:
        self.socket = socket_server
        clock = self._world.clock
        if hasattr(clock, "on_advance"):
            clock.on_advance(self.sweep)
        self._sweeper.start()

    def stop(self) -> None:
        self._stop.set()
        self._sweeper.join(timeout=2)

    # ---- sending ----------------------------------------------------------------------------

    def deliver(
        self,
        kind: str,
        payload: dict,
        *,
        on_ack=None,
        on_fail=None,
        trigger_id: str | None = None,
        response_url: str | None = None,
    ) -> Delivery:
        """Send a payload to the app now; the Delivery settles on its ack or its failure."""
        delivery = Delivery(
            envelope_id=f"{secrets.token_hex(4)}-{next(self._ids):04d}-sim",
            kind=kind,
            payload=payload,
            deadline=0.0,
            on_ack=on_ack,
            on_fail=on_fail,
            trigger_id=trigger_id,
            response_url=response_url,
        )
        with self._lock:
            self.log.append(delivery)
        self._attempt(delivery)
        return delivery

    def _attempt(self, delivery: Delivery) -> None:
        world = self._world
        app = world.workspace.app
        delivery.deadline = world.now() + world.deadlines.ack
        delivery.attempts.append(
            {"attempt": delivery.attempt, "at": world.now(), "reason": delivery.retry_reason}
        )
        with self._lock:
            self._pending[delivery.envelope_id] = delivery
        if app.socket_mode:
            envelope: dict[str, Any] = {
                "envelope_id": delivery.envelope_id,
                "type": delivery.kind,
                "accepts_response_payload": _accepts_response(delivery),
                "payload": delivery.payload,
            }
            if delivery.kind == "events_api":
                envelope["retry_attempt"] = delivery.attempt
                envelope["retry_reason"] = delivery.retry_reason
            link = self.socket.send_envelope(envelope) if self.socket else None
            if link is None:
                self._fail(delivery, "dispatch_failed", "connection_failed")
            else:
                delivery.route = f"socket:{link}"
            return
        if not app.request_url:
            self._fail(delivery, "dispatch_failed", "connection_failed")
            return
        delivery.route = "http"
        threading.Thread(target=self._post, args=(delivery, app.request_url), daemon=True).start()

    def _post(self, delivery: Delivery, url: str) -> None:
        world = self._world
        attempt, noted = delivery.attempt, delivery.attempts[-1]
        answer = http_delivery.post(
            url,
            delivery.kind,
            delivery.payload,
            secret=world.workspace.app.signing_secret,
            # the app checks the timestamp against its own wall clock (5-minute window), so
            # sign with wall time even when the sim's deadlines run on a ManualClock
            timestamp=int(time.time() + world.request_clock_skew),
            timeout=world.deadlines.http_request_timeout,
            retry_num=delivery.attempt or None,
            retry_reason=delivery.retry_reason or None,
        )
        noted["http_status"] = answer.status
        if delivery.attempt != attempt:
            return  # Slack gave up on this request (http_timeout) and already sent a retry
        if answer.status == 200:
            self.acknowledge(delivery.envelope_id, answer.body or {})
        else:
            # an error answer with X-Slack-No-Retry: 1 asks Slack not to retry (§3.3)
            self._fail(
                delivery,
                "dispatch_failed",
                answer.failure or "http_error",
                retry=not answer.no_retry,
            )

    # ---- answers ----------------------------------------------------------------------------

    def acknowledge(self, envelope_id: str, payload: dict | None) -> None:
        """An ack arrived (socket frame or HTTP response); late or unknown ones are ignored."""
        with self._lock:
            delivery = self._pending.get(envelope_id)
            if delivery is None or self._world.now() > delivery.deadline:
                return
            del self._pending[envelope_id]
        delivery.status = "acked"
        delivery.ack = payload or {}
        try:
            if delivery.on_ack:
                delivery.on_ack(delivery)
        except Exception:  # a malformed ack must not kill the socket or HTTP thread
            log.exception("slack sim: could not apply the ack of %s", envelope_id)
        finally:
            delivery.done.set()

    def _fail(
        self,
        delivery: Delivery,
        error: str,
        reason: str,
        at: float | None = None,
        *,
        retry: bool = True,
    ) -> None:
        """Settle a delivery that failed (at `at`, default now): retry an event, else tell."""
        with self._lock:
            if self._pending.pop(delivery.envelope_id, None) is None:
                return
            retries = self._world.deadlines.events_retries
            if retry and delivery.kind == "events_api" and delivery.attempt < len(retries):
                delivery.attempt += 1
                delivery.retry_reason = reason
                failed_at = self._world.now() if at is None else at
                self._retries.append((failed_at + retries[delivery.attempt - 1], delivery))
                retry_now = retries[delivery.attempt - 1] <= 0
            else:
                retry_now = None
        if retry_now is None:
            delivery.status = "failed"
            delivery.error = error
            try:
                if delivery.on_fail:
                    delivery.on_fail(delivery)
            except Exception:
                log.exception("slack sim: could not show the failure of %s", delivery.envelope_id)
            finally:
                delivery.done.set()
        elif retry_now and at is None:
            self.sweep()

    # ---- time -------------------------------------------------------------------------------

    def sweep(self) -> None:
        """Act on everything that fell due: missed ack deadlines, scheduled event retries."""
        while True:
            now = self._world.now()
            with self._lock:
                expired = [d for d in self._pending.values() if now > d.deadline]
                due = [d for at, d in self._retries if at <= now]
                self._retries = [(at, d) for at, d in self._retries if at > now]
            for delivery in expired:
                reason = "http_timeout" if delivery.route == "http" else "timeout"
                # it failed when its deadline passed, which may be long before a jump of the clock
                self._fail(delivery, "operation_timeout", reason, at=delivery.deadline)
            for delivery in due:
                self._attempt(delivery)
            if not expired and not due:
                break
        if self.socket is not None:
            self.socket.tick(self._world.now())

    def _sweep_forever(self) -> None:
        while not self._stop.wait(0.05):
            try:
                self.sweep()
            except Exception:  # the sweeper must outlive any one bad delivery
                log.exception("slack sim: sweep failed")


def _accepts_response(delivery: Delivery) -> bool:
    if delivery.kind == "interactive":
        return delivery.payload.get("type") in ("view_submission", "block_suggestion")
    return ACCEPTS_RESPONSE.get(delivery.kind, False)
