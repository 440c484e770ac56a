"""Requests waiting for their reason, asked from a mention.

A slash command brings a `trigger_id`, so the bot opens the reason modal at once. A mention
(`@drbot failover all` in a thread) is an event and brings none, and a modal can only be
opened with one. So the bot answers the requester, in the thread, with a "Give a reason"
button: a click brings a fresh trigger_id and opens the same modal. The request itself stays
here, in the store, under an opaque id the button carries: the modal submits exactly what was
asked (kind, target, options) by whom, nothing a click could change.

An entry serves once (taking it is one delete in the store: two submissions cannot both ask
for approval), belongs to the person who asked (anyone else's click or submission is refused),
and lapses after `TTL` (the thread has moved on; mention the bot again).
"""

from __future__ import annotations

import secrets
from datetime import datetime, timedelta

from pydantic import BaseModel

from commands.requests import REQUEST, Request
from store import Store

REASONS_KV = "slack-pending-reasons"
TTL = timedelta(minutes=30)


class PendingReason(BaseModel):
    """One request asked from a mention, waiting for its reason."""

    request: dict  # the request as typed, without its reason (commands' plain data)
    user: str
    channel: str
    thread_ts: str | None
    asked_at: datetime

    def typed(self, reason: str) -> Request:
        return REQUEST.validate_python({**self.request, "reason": reason})

    def expired(self, now: datetime) -> bool:
        return now - self.asked_at > TTL


class PendingReasons:
    """id -> `PendingReason`, durable."""

    def __init__(self, store: Store) -> None:
        self._kv = store.kv(REASONS_KV)

    def add(
        self, request: Request, user: str, channel: str, thread_ts: str | None, now: datetime
    ) -> str:
        self._purge(now)
        pending_id = secrets.token_hex(8)
        self._kv[pending_id] = PendingReason(
            request=request.model_dump(mode="json", exclude={"reason"}),
            user=user,
            channel=channel,
            thread_ts=thread_ts,
            asked_at=now,
        ).model_dump(mode="json")
        return pending_id

    def get(self, pending_id: str) -> PendingReason | None:
        raw = self._kv.get(pending_id)
        return PendingReason.model_validate(raw) if raw else None

    def take(self, pending_id: str) -> PendingReason | None:
        """The entry, removed; None if it is gone (used already, here or by another process)."""
        found = self.get(pending_id)
        if found is None:
            return None
        try:
            del self._kv[pending_id]
        except KeyError:  # another submission took it between the read and the delete
            return None
        return found

    def _purge(self, now: datetime) -> None:
        """Forget requests nobody gave a reason for in time (a button left in a thread)."""
        for key in list(self._kv):
            found = self.get(key)
            if found is not None and found.expired(now):
                self._kv.pop(key, None)
