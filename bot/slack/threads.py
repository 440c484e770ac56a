"""Where each run lives in Slack: the channel and the thread's parent `ts` of its request, and
the ts of its progress message, kept in the store so a restarted bot (or a second process on
the same store) finds them.

A thread is always named by its parent's ts, never a reply's: Slack threads one level deep
and a reply's ts as `thread_ts` goes astray (sim/slack refuses it). `thread_of(body)` takes it
from a click's `container.thread_ts` / `message.thread_ts`, falling back to the clicked
message itself when that message is a thread's parent.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel

from store import Store

RUNS_KV = "slack-runs"
INTERRUPTED_KV = "slack-interrupted"  # run id -> ts of its Resume / Abort message


class RunThread(BaseModel):
    """A run's place in Slack."""

    channel: str
    thread_ts: str
    progress_ts: str | None = None
    summary_posted: bool = False


class Threads:
    """run id -> `RunThread`, durable."""

    def __init__(self, store: Store) -> None:
        self._kv = store.kv(RUNS_KV)
        self._interrupted = store.kv(INTERRUPTED_KV)

    def get(self, run_id: int) -> RunThread | None:
        raw = self._kv.get(str(run_id))
        return RunThread.model_validate(raw) if raw else None

    def put(self, run_id: int, where: RunThread) -> None:
        self._kv[str(run_id)] = where.model_dump()

    def interrupted_posted(self, run_id: int, ts: str) -> None:
        """The run's Resume / Abort message is `ts` (kept apart from `RunThread`, which the
        progress board rewrites as it goes)."""
        self._interrupted[str(run_id)] = ts

    def take_interrupted(self, run_id: int) -> str | None:
        """The ts of the run's Resume / Abort message, forgotten; None if there is none."""
        ts = self._interrupted.get(str(run_id))
        if ts is None:
            return None
        try:
            del self._interrupted[str(run_id)]
        except KeyError:  # another thread or process took it first
            return None
        return str(ts)

    def attach(self, run_id: int, channel: str, thread_ts: str) -> RunThread:
        """Remember the run's thread unless it already has one (a resumed run keeps its own)."""
        found = self.get(run_id)
        if found is not None:
            return found
        where = RunThread(channel=channel, thread_ts=thread_ts)
        self.put(run_id, where)
        return where


def thread_of(body: dict[str, Any]) -> str | None:
    """The parent ts of the thread a click happened in (or of the clicked parent message)."""
    container = body.get("container") or {}
    message = body.get("message") or {}
    return (
        container.get("thread_ts")
        or message.get("thread_ts")
        or container.get("message_ts")
        or message.get("ts")
    )
