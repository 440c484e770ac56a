"""Progress events of runs, for whoever listens (the bot edits one Slack message from them).

Subscribers are plain callables; a subscriber that raises is logged and dropped from nothing:
one broken listener never stops a run (nor the other listeners).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from datetime import datetime
from typing import Literal

from pydantic import BaseModel, Field

log = logging.getLogger(__name__)

EventType = Literal[
    "state",  # the run changed state (`state`, `message` = reason)
    "step-started",  # a journaled side effect is about to happen
    "step-finished",  # ... happened
    "step-failed",  # ... did not happen
    "vm",  # a VM's outcome changed (`subject` = VM name, `vm_status`)
    "progress",  # `done` of `total` units of the current phase
    "paused",  # waiting for a person (`message` = what to do)
]


class RunEvent(BaseModel):
    """One thing that happened in a run."""

    run_id: int
    type: EventType
    at: datetime
    phase: str = ""
    state: str | None = None
    step_key: str | None = None
    subject: str = ""
    message: str = ""
    vm_uuid: str | None = None
    vm_status: str | None = None
    done: int = 0
    total: int = 0
    extra: dict[str, str] = Field(default_factory=dict)


Subscriber = Callable[[RunEvent], None]


class EventBus:
    """Fan-out of `RunEvent`s to subscribers; thread-safe."""

    def __init__(self) -> None:
        self._subs: list[Subscriber] = []
        self._lock = threading.Lock()

    def subscribe(self, fn: Subscriber) -> Callable[[], None]:
        """Add a subscriber; returns the function that removes it."""
        with self._lock:
            self._subs.append(fn)

        def unsubscribe() -> None:
            with self._lock:
                if fn in self._subs:
                    self._subs.remove(fn)

        return unsubscribe

    def emit(self, event: RunEvent) -> None:
        with self._lock:
            subs = list(self._subs)
        for fn in subs:
            try:
                fn(event)
            except Exception:  # a listener's bug must not stop a recovery
                log.exception("run event subscriber failed on %s", event.type)
