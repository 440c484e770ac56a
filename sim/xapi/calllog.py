"""The call log: every API call a simulator answered, for tests and for people.

Each entry: `seq` (1, 2, ...), `time` (ISO 8601 UTC), `host` (the address the call came
in on), `user` (for a login, the user name it tried), `method` (as sent, `Async.` included),
`args` (without the session, passwords and secrets redacted, made JSON-safe), `outcome`
("Success" or the error code). An `Async.` call's entry also names its `task`, and gets
the task's `task_outcome` ("Success", "cancelled" or the error code) when the task ends.
The control API serves `since(seq)`; tests count what a client really did with it.
"""

from __future__ import annotations

import threading
from collections import deque
from datetime import UTC, datetime
from typing import Any

REDACTED = "********"
_SECRET_WORDS = ("password", "secret", "pwd")


def _redact(value: Any) -> Any:
    if isinstance(value, dict):
        return {
            k: REDACTED if any(w in str(k).lower() for w in _SECRET_WORDS) else _redact(v)
            for k, v in value.items()
        }
    if isinstance(value, list | tuple):
        return [_redact(v) for v in value]
    if isinstance(value, str | int | float | bool) or value is None:
        return value
    if isinstance(value, datetime):
        return value.strftime("%Y%m%dT%H:%M:%SZ")
    return str(value)


def log_args(method: str, params: list[Any]) -> list[Any]:
    """The arguments worth logging: no session ref, no password."""
    args = list(params)
    if method.endswith("login_with_password"):
        if len(args) > 1:
            args[1] = REDACTED
        return _redact(args)
    if args and isinstance(args[0], str) and args[0].startswith("OpaqueRef:"):
        args = args[1:]
    return _redact(args)


class CallLog:
    """A bounded, thread-safe log of calls."""

    def __init__(self, maxlen: int = 200_000) -> None:
        self._lock = threading.Lock()
        self._entries: deque[dict[str, Any]] = deque(maxlen=maxlen)
        self._seq = 0  # seqs are contiguous: the entries kept are the last len(_entries) ones

    def record(
        self,
        started: float,
        host: str,
        user: str | None,
        method: str,
        params: list[Any],
        outcome: str,
    ) -> int:
        entry: dict[str, Any] = {
            "time": datetime.fromtimestamp(started, UTC).isoformat(timespec="milliseconds"),
            "host": host,
            "user": user,
            "method": method,
            "args": log_args(method, params),
            "outcome": outcome,
        }
        with self._lock:
            self._seq += 1
            entry["seq"] = self._seq
            self._entries.append(entry)
            return self._seq

    def annotate(self, seq: int, **fields: Any) -> None:
        """Add fields to an entry (an Async call's `task` and, later, its `task_outcome`)."""
        with self._lock:
            first = self._seq - len(self._entries) + 1
            if first <= seq <= self._seq:  # else it has aged out of the log
                self._entries[seq - first].update(fields)

    def since(self, seq: int = 0) -> list[dict[str, Any]]:
        """Entries with `seq` greater than the given one, oldest first."""
        with self._lock:
            return [dict(e) for e in self._entries if e["seq"] > seq]

    @property
    def last_seq(self) -> int:
        with self._lock:
            return self._seq
