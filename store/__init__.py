"""SQLite through sqlite-utils: runs and their steps, leases, audit trail, drill history.

Usage:
    store = open_store("/var/lib/drbot/drbot.db")
    run_id = store.runs.create("test-failover", "app:payments", "dr", plan.hash, plan_json, "U1")
    store.runs.transition(run_id, RunState.RUNNING, "started")

The store imports neither the engine nor XenAPI. It returns its rows as models
(`store.records`: `RunRecord`, `StepRecord`, `TransitionRecord`, `LeaseRecord`) and keeps a
run's words in `store.outcomes` (`Kind`, `VMStatus`, `VMOutcome`, `RunOutcome`), which the
engine writes and the front ends read.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from pathlib import Path

from sqlite_utils import Database

from store.approvals import Approvals
from store.audit import Audit
from store.db import StoreConnection, _utcnow, migrate
from store.drills import Drills
from store.errors import IllegalTransition, LeaseHeld, RunNotFound, StepAlreadyDone, StoreError
from store.history import History
from store.kv import KeyValues
from store.outbox import Outbox
from store.outcomes import Kind, RunOutcome, VMOutcome, VMStatus
from store.records import (
    LeaseRecord,
    PausedStep,
    RunRecord,
    StepRecord,
    StepStatus,
    TransitionRecord,
)
from store.runs import Runs
from store.states import ACTIVE, ALLOWED, HOLDS_POOL, TERMINAL, RunState, can_transition
from store.steps import Steps

__all__ = [
    "ACTIVE",
    "ALLOWED",
    "HOLDS_POOL",
    "TERMINAL",
    "IllegalTransition",
    "KeyValues",
    "Kind",
    "LeaseHeld",
    "LeaseRecord",
    "PausedStep",
    "RunNotFound",
    "RunOutcome",
    "RunRecord",
    "RunState",
    "StepAlreadyDone",
    "StepRecord",
    "StepStatus",
    "Store",
    "StoreError",
    "TransitionRecord",
    "VMOutcome",
    "VMStatus",
    "can_transition",
    "open_store",
]


class Store:
    """The store's tables behind one connection: `runs`, `steps`, `audit`, `drills`, and
    small durable mappings through `kv(namespace)`."""

    def __init__(self, conn: StoreConnection) -> None:
        self.conn = conn
        self.runs = Runs(conn)
        self.steps = Steps(conn)
        self.audit = Audit(conn)
        self.drills = Drills(conn)
        self.approvals = Approvals(conn)
        self.history = History(conn)
        self.outbox = Outbox(conn)  # what the Slack bot must still post

    def kv(self, namespace: str) -> KeyValues:
        """A durable mapping of JSON values under `namespace`."""
        return KeyValues(self.conn, namespace)

    @property
    def path(self) -> Path:
        return self.conn.path

    @property
    def db(self) -> Database:
        """The underlying sqlite-utils `Database`, for reading (writes go through the tables)."""
        return self.conn.db

    def close(self) -> None:
        self.conn.close()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def open_store(path: str | Path, *, now: Callable[[], datetime] | None = None) -> Store:
    """Open (creating if needed) the store at `path`, turn on WAL and apply pending migrations.

    `now` gives the time stamped on rows (pass the engine clock's `now` in tests).
    """
    path = Path(path)
    if path.parent and not path.parent.exists():
        raise StoreError(
            f"The directory of the store {str(path)!r} does not exist; create it or set "
            "`store_path` in the configuration to a writable place."
        )
    conn = StoreConnection(path, now or _utcnow)
    with conn.lock:
        migrate(conn.db)
    return Store(conn)
