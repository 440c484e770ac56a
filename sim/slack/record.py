"""What people see, in order: the sim's answer to "what would be on the screen now?".

Every message, edit, deletion, ephemeral, thread reply, file, view and client-side error is
appended as a `Seen` entry with a sequence number. Entries are never changed afterwards, so a
test can ask "what appeared in #dr-ops after entry 12" or wait, with a bound, until something
it expects appears (`wait_for`): that is how tests wait for the app without sleeping.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

KINDS = (
    "message",  # a new top-level message in a channel
    "thread_reply",  # a reply in a thread (reply_broadcast also shows it in the channel)
    "edit",  # chat.update or response_url replace_original
    "delete",  # chat.delete or response_url delete_original
    "ephemeral",  # only `to_user` sees it
    "file",  # a file shared in a channel or thread
    "view_opened",
    "view_updated",
    "view_pushed",
    "view_closed",
    "view_errors",
    "home_published",
    "confirm",  # a confirm dialog shown to `to_user` (and whether they confirmed)
    "error",  # what the Slack client shows when the app failed (operation_timeout ...)
)


@dataclass(frozen=True)
class Seen:
    seq: int
    kind: str
    at: float
    channel: str | None = None
    ts: str | None = None
    thread_ts: str | None = None
    user: str | None = None  # the author (a person or the bot user)
    to_user: str | None = None  # the only viewer, for ephemerals, views and errors
    text: str = ""
    blocks: list | None = None
    files: list = field(default_factory=list)
    view: dict | None = None
    detail: dict = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    def visible_to(self, user_id: str) -> bool:
        return self.to_user is None or self.to_user == user_id


class Record:
    """An append-only, thread-safe log of `Seen` entries with bounded waiting."""

    def __init__(self) -> None:
        self._entries: list[Seen] = []
        self._changed = threading.Condition()

    def add(self, kind: str, at: float, **fields: Any) -> Seen:
        with self._changed:
            entry = Seen(seq=len(self._entries) + 1, kind=kind, at=at, **fields)
            self._entries.append(entry)
            self._changed.notify_all()
            return entry

    def entries(
        self,
        *,
        channel: str | None = None,
        thread_ts: str | None = None,
        kind: str | tuple[str, ...] | None = None,
        visible_to: str | None = None,
        since: int = 0,
    ) -> list[Seen]:
        """Entries in order, filtered. `thread_ts` selects a thread (its root and replies)."""
        kinds = (kind,) if isinstance(kind, str) else kind
        with self._changed:
            found = list(self._entries[since:])
        out = []
        for entry in found:
            if channel is not None and entry.channel != channel:
                continue
            if thread_ts is not None and thread_ts not in (entry.thread_ts, entry.ts):
                continue
            if kinds is not None and entry.kind not in kinds:
                continue
            if visible_to is not None and not entry.visible_to(visible_to):
                continue
            out.append(entry)
        return out

    def last_seq(self) -> int:
        with self._changed:
            return len(self._entries)

    def wait_for(
        self, predicate: Callable[[Seen], bool], timeout: float = 5.0, since: int = 0
    ) -> Seen:
        """The first entry after `since` matching `predicate`, waiting at most `timeout` real
        seconds for it; raises TimeoutError saying what was seen instead."""
        position = since
        with self._changed:
            end = threading.TIMEOUT_MAX if timeout is None else timeout
            deadline = time.monotonic() + end
            while True:
                while position < len(self._entries):
                    entry = self._entries[position]
                    position += 1
                    if predicate(entry):
                        return entry
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    seen = [
                        f"{e.seq}:{e.kind}:{e.channel}:{e.text[:40]!r}"
                        for e in self._entries[since:]
                    ]
                    raise TimeoutError(f"nothing matching appeared within {timeout}s; seen: {seen}")
                self._changed.wait(remaining)
