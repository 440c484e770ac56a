"""The storage team's messages: one per manual storage step a run paused at, with a Done
button while the run waits for that step, and closed (no button, who confirmed it or why it is
no longer needed) once it does not.

A run with several LUNs pauses once per step and LUN, so a run may have several messages; each
is kept under its run with the step it asks for, in the store, so a restarted bot (or a second
process on the same store) closes the right one. A button left on screen after its step is a
trap: the storage team clicks what they see, and the service would refuse it anyway (the step
is named in the button), but the message must say why there is nothing to do.
"""

from __future__ import annotations

import threading

from pydantic import BaseModel

from commands.results import StorageStep
from store import Store

NOTICES_KV = "slack-storage-steps"


class StorageNotice(BaseModel):
    """Where one step's message is, and for which step."""

    channel: str
    ts: str
    step: StorageStep
    closed: bool = False


class StorageNotices:
    """run id -> its storage step messages, durable."""

    def __init__(self, store: Store) -> None:
        self._kv = store.kv(NOTICES_KV)
        self._lock = threading.Lock()

    def of(self, run_id: int) -> list[StorageNotice]:
        raw = self._kv.get(str(run_id)) or []
        return [StorageNotice.model_validate(item) for item in raw]

    def _save(self, run_id: int, notices: list[StorageNotice]) -> None:
        self._kv[str(run_id)] = [n.model_dump(mode="json") for n in notices]

    def is_open(self, run_id: int, step: StorageStep) -> bool:
        """A message for this step is on screen with its button (do not post it twice)."""
        return any(not n.closed and _same(n.step, step) for n in self.of(run_id))

    def add(self, run_id: int, channel: str, ts: str, step: StorageStep) -> None:
        with self._lock:
            self._save(run_id, [*self.of(run_id), StorageNotice(channel=channel, ts=ts, step=step)])

    def close(self, run_id: int, step: StorageStep | None = None) -> list[StorageNotice]:
        """Mark the open messages of `step` (every open one of the run when None) closed;
        returns those that were open, for the caller to edit."""
        with self._lock:
            notices = self.of(run_id)
            closing = [n for n in notices if not n.closed and (step is None or _same(n.step, step))]
            for n in closing:
                n.closed = True
            if closing:
                self._save(run_id, notices)
            return closing


def _same(a: StorageStep, b: StorageStep) -> bool:
    return (a.lun, a.action) == (b.lun, b.action)
