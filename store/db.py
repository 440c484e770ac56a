"""Opening the store: one SQLite file, WAL, foreign keys, migrations, and write transactions.

The bot's handlers, the engine's worker and the operator CLI (another process) all use the same
file, so the store turns on WAL (readers never block the writer) and a busy timeout, and every
write runs in `BEGIN IMMEDIATE`: the write lock is taken before the first read, so a
read-then-write such as appending to the audit chain or taking a lease cannot interleave with
another writer.

Whatever SQLite reports about the file itself (not a database, damaged, read-only, disk full,
locked, unopenable) becomes `StoreUnusable`, one sentence naming the file, what is wrong and
what to do, on every path: opening, reading and writing. A write that fails leaves nothing of
itself behind (its transaction is rolled back), so a caller that groups several writes in one
`write()` gets all of them or none.

The file is created owner-only (0600; SQLite gives its -wal and -shm files the same mode), and
an existing store that others may read is reported with a warning on the `drbot.store` logger.
"""

from __future__ import annotations

import logging
import os
import sqlite3
import stat
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from types import TracebackType

from sqlite_utils import Database

from store import errors
from store.errors import StoreUnusable
from store.migrations import migrations

log = logging.getLogger("drbot.store")

SQLITE_MAGIC = b"SQLite format 3\x00"
OTHERS_MAY_READ = (
    "The store {path} may be read by other users (mode {mode:o}); it holds the audit trail and "
    "run plans: chmod 600 {path}"
)

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


def unusable(path: Path, exc: sqlite3.Error) -> StoreUnusable:
    """What SQLite's error `exc` means for the store at `path`, as a person can act on it."""
    code = getattr(exc, "sqlite_errorcode", -1) & 0xFF
    text = str(exc)
    if code == sqlite3.SQLITE_NOTADB:
        problem, fix = errors.NOT_A_STORE
    elif code == sqlite3.SQLITE_CORRUPT:
        problem, fix = errors.DAMAGED
    elif code == sqlite3.SQLITE_FULL:
        problem, fix = errors.DISK_FULL
    elif code == sqlite3.SQLITE_READONLY:
        problem, fix = errors.READ_ONLY
    elif code == sqlite3.SQLITE_CANTOPEN:
        problem, fix = errors.IS_A_DIRECTORY if path.is_dir() else errors.CANNOT_OPEN
    elif code in (sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED):
        problem, fix = errors.BUSY
    elif code == sqlite3.SQLITE_IOERR:
        problem, fix = errors.IO_ERROR
    else:
        problem, fix = errors.UNEXPECTED
    return StoreUnusable(path, problem.format(error=text), fix.format(path=path))


class _Guard:
    """The connection's lock. Any SQLite error raised while it is held leaves as
    `StoreUnusable`, so every read and write of the store's tables (all taken under it) reports
    a broken file the same way."""

    def __init__(self, path: Path) -> None:
        self._lock = threading.RLock()
        self._path = path

    def __enter__(self) -> _Guard:
        self._lock.acquire()
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._lock.release()
        if isinstance(exc, sqlite3.Error):
            raise unusable(self._path, exc) from exc


def _check_file(path: Path) -> None:
    """Refuse, before SQLite touches it, a path that cannot be a store: a directory, a file that
    is not SQLite, or one cut short (shorter than its header says, with no WAL to explain it)."""
    if path.is_dir():
        problem, fix = errors.IS_A_DIRECTORY
        raise StoreUnusable(path, problem, fix.format(path=path))
    try:
        size = path.stat().st_size
        with path.open("rb") as f:
            header = f.read(100)
    except FileNotFoundError:
        return
    except OSError as exc:
        problem, fix = errors.CANNOT_OPEN
        raise StoreUnusable(path, problem.format(error=exc.strerror), fix) from None
    if size == 0:
        return  # SQLite makes an empty file a new database
    if not header.startswith(SQLITE_MAGIC) or len(header) < 100:
        problem, fix = errors.NOT_A_STORE
        raise StoreUnusable(path, problem.format(error="no SQLite header"), fix)
    page_size = int.from_bytes(header[16:18], "big")
    page_size = 65536 if page_size == 1 else page_size
    pages = int.from_bytes(header[28:32], "big")
    # The page count is valid only when SQLite stamped it with the current change counter.
    counted = header[24:28] == header[92:96]
    wal = path.with_name(path.name + "-wal")
    pending = wal.exists() and wal.stat().st_size > 0
    if counted and not pending and size < pages * page_size:
        problem, fix = errors.TRUNCATED
        raise StoreUnusable(path, problem.format(size=size, expected=pages * page_size), fix)


def _create_private(path: Path) -> None:
    """Create the store's file owner-only, or warn when an existing one is readable by others."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        mode = stat.S_IMODE(path.stat().st_mode)
        if mode & 0o077:
            log.warning(OTHERS_MAY_READ.format(path=path, mode=mode))
        return
    except OSError:
        return  # SQLite reports why it cannot open the file, in its own words
    os.close(fd)


class StoreConnection:
    """The connection, its lock and the clock shared by the store's tables."""

    def __init__(self, path: Path, now: Now) -> None:
        self.path = path
        self.now = now
        _check_file(path)
        _create_private(path)
        self._after_commit: list[Callable[[], None]] = []
        self._on_close: list[Callable[[], None]] = []
        # One connection shared by the threads of this process, serialised by `lock`; other
        # processes coordinate through SQLite's own locking.
        self.lock = _Guard(path)
        with self.lock:
            conn = sqlite3.connect(str(path), check_same_thread=False, timeout=30)
            self.db = Database(conn)
            try:
                self.db.execute("PRAGMA busy_timeout = 30000")
                self.db.execute("PRAGMA foreign_keys = ON")
                self.db.enable_wal()
                self.db.execute("PRAGMA synchronous = NORMAL")
            except BaseException:
                conn.close()
                raise

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
                conn.execute("COMMIT")
            except BaseException:
                self._after_commit.clear()
                # SQLite may already have rolled back (a full disk does); a COMMIT that failed
                # leaves the transaction open. Either way nothing of it stays.
                if conn.in_transaction:
                    try:
                        conn.execute("ROLLBACK")
                    except sqlite3.Error:
                        pass  # the original error says more than the failed rollback
                raise
            done, self._after_commit = self._after_commit, []
        # Outside the lock: what runs after a commit (an anchor handed to the bot) must not
        # hold up the other threads of this process.
        for fn in done:
            fn()

    def after_commit(self, fn: Callable[[], None]) -> None:
        """Run `fn` once the write transaction in progress is committed (at once if none is);
        dropped if it rolls back. For what must never name a write that did not happen, such as
        an audit anchor written outside the store."""
        with self.lock:
            if self.db.conn.in_transaction:
                self._after_commit.append(fn)
                return
        fn()

    def on_close(self, fn: Callable[[], None]) -> None:
        """Run `fn` when the store is closed, before the connection goes."""
        self._on_close.append(fn)

    def stamp(self) -> str:
        return iso(self.now())

    def close(self) -> None:
        with self.lock:
            try:
                for fn in self._on_close:
                    fn()
            finally:
                self._on_close.clear()
                self.db.conn.close()


def migrate(db: Database) -> list[str]:
    """Apply the pending migrations; returns the names applied."""
    pending = [m.name for m in migrations.pending(db)]
    migrations.apply(db)
    return pending
