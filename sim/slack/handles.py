"""Short-lived things Slack hands out: trigger_ids (3 s, one exchange), response_urls
(30 minutes, 5 uses), Socket Mode tickets (one connection each), upload tickets.

Lifetimes are read from `Deadlines` and measured on the sim's clock, so tests move time
instead of waiting for it.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field
from itertools import count

from sim.slack.errors import ApiError


@dataclass
class Deadlines:
    """How long things last, in clock seconds (Slack's documented values by default)."""

    ack: float = 3.0  # an envelope or HTTP request must be acknowledged within this
    trigger: float = 3.0  # a trigger_id must be exchanged within this
    response_url: float = 30 * 60.0  # a response_url works this long ...
    response_url_uses: int = 5  # ... this many times
    socket_ticket: float = 60.0  # an apps.connections.open URL must be used within this
    events_retries: tuple[float, ...] = (0.0, 60.0, 300.0)  # after a failed events delivery
    http_request_timeout: float = 10.0  # real seconds the sim's HTTP client waits for the app
    # Slack refreshes Socket Mode connections every few hours: a `warning` disconnect some
    # seconds before a `refresh_requested` one. None (the default) never refreshes.
    socket_refresh: float | None = None
    socket_refresh_warning: float = 10.0
    # A connection told to go (refresh_requested ...) still carries envelopes while it is
    # the only one, and is closed this long after, replacement or not.
    socket_drain: float = 10.0


@dataclass
class Trigger:
    id: str
    user: str
    issued: float
    view_id: str | None = None  # set when the interaction came from inside a modal
    exchanged: bool = False


@dataclass
class ResponseUrl:
    id: str
    kind: str  # "commands" or "actions"
    user: str
    channel: str | None
    issued: float
    message_ts: str | None = None  # the message holding the button, for replace/delete_original
    is_ephemeral: bool = False
    command: str | None = None
    uses: int = 0


@dataclass
class Handles:
    team_number: int = 1000000001
    triggers: dict[str, Trigger] = field(default_factory=dict)
    response_urls: dict[str, ResponseUrl] = field(default_factory=dict)
    tickets: dict[str, float] = field(default_factory=dict)
    _ids: count = field(default_factory=lambda: count(1))

    def serial(self) -> int:
        return next(self._ids)

    def issue_trigger(self, user: str, now: float, view_id: str | None = None) -> Trigger:
        trigger_id = f"{self.serial()}.{self.team_number}.{secrets.token_hex(16)}"
        trigger = self.triggers[trigger_id] = Trigger(trigger_id, user, now, view_id)
        return trigger

    def exchange_trigger(self, trigger_id: str | None, now: float, deadlines: Deadlines) -> Trigger:
        """Use a trigger_id once, within its lifetime, or raise Slack's error for it."""
        trigger = self.triggers.get(trigger_id or "")
        if trigger is None:
            raise ApiError("invalid_trigger_id")
        if trigger.exchanged:
            raise ApiError("exchanged_trigger_id")
        if now - trigger.issued > deadlines.trigger:
            raise ApiError("expired_trigger_id")
        trigger.exchanged = True
        return trigger

    def issue_response_url(
        self, kind: str, user: str, channel: str | None, now: float, **fields
    ) -> ResponseUrl:
        handle_id = f"{self.team_number}/{self.serial()}/{secrets.token_urlsafe(18)}"
        url = self.response_urls[handle_id] = ResponseUrl(
            handle_id, kind, user, channel, now, **fields
        )
        return url

    def use_response_url(self, handle_id: str, now: float, deadlines: Deadlines) -> ResponseUrl:
        url = self.response_urls.get(handle_id)
        if url is None:
            raise ApiError("no_such_url", status=404)
        if now - url.issued > deadlines.response_url:
            raise ApiError("expired_url", status=404)
        if url.uses >= deadlines.response_url_uses:
            raise ApiError("used_url", status=404)
        url.uses += 1
        return url

    def issue_ticket(self, now: float) -> str:
        ticket = secrets.token_hex(16)
        self.tickets[ticket] = now
        return ticket

    def redeem_ticket(self, ticket: str, now: float, deadlines: Deadlines) -> bool:
        issued = self.tickets.pop(ticket, None)
        return issued is not None and now - issued <= deadlines.socket_ticket
