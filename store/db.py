"""Opening the store: one SQLite file, WAL, foreign keys, migrations, and write transactions.

The bot's handlers, the engine's worker and the operator CLI (another process) all use the same
file, so the store turns on WAL (readers never block the writer) and a busy timeout, and every
write runs in `BEGIN IMMEDIATE`: the write lock is taken before the first read, so a
read-then-write such as appending to the audit chain or taking a lease cannot interleave with
another writer.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

from sqlite_utils import Database

from store.migrations import migrations

Now = Callable[[], datetime]


def _utcnow() -> datetime:
    return datetime.now(UTC)


def iso(value: datetime) -> str:
    """The one text form of a time in the store: ISO 8601 in UTC, microseconds, sortable."""
    if value.tzinfo is None:
        raise ValueError("The store keeps timezone-aware times only (use tzinfo=UTC).")
    return value.astimezone(UTC).isoformat(timespec="microseconds")


def parse_iso(text: str) -> datetime:
    return datetime.fromisoformat(text)


class StoreConnection:
    """The connection, its lock and the clock shared by the store's tables."""

    def __init__(self, path: Path, now: Now) -> None:
        self.path = path
        self.now = now
        # One connection shared by the threads of this process, serialised by `lock`; other
        # processes coordinate through SQLite's own locking.
        conn = sqlite3.connect(str(path), check_same_thread=False, timeout=30)
        self.db = Database(conn)
        self.lock = threading.RLock()
        self.db.execute("PRAGMA busy_timeout = 30000")
        self.db.execute("PRAGMA foreign_keys = ON")
        self.db.enable_wal()
        self.db.execute("PRAGMA synchronous = NORMAL")

    @contextmanager
    def write(self) -> Iterator[Database]:
        """One write transaction, taken with the write lock up front (nests as a savepoint)."""
        with self.lock:
            conn = self.db.conn
            if conn.in_transaction:
                with self.db.atomic():
                    yield self.db
                return
            conn.execute("BEGIN IMMEDIATE")
            try:
                yield self.db
            except BaseException:
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
                raise
            else:
                conn.execute("COMMIT")

    def stamp(self) -> str:
        return iso(self.now())

    def close(self) -> None:
        with self.lock:
            self.db.conn.close()


def migrate(db: Database) -> list[str]:
    """Apply the pending migrations; returns the names applied."""
    pending = [m.name for m in migrations.pending(db)]
    migrations.apply(db)
    return pending
