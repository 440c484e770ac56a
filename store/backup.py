"""Online copies of the store, and putting one back.

`backup(store, dest)` copies the store through SQLite's online backup API
(https://www.sqlite.org/backup.html) from a connection of its own, in one step: the copy is
the database as one read transaction saw it, so it is consistent while the bot keeps writing
(in WAL mode a reader never blocks the writer, and the writer never blocks the reader). Copying
the file with `cp` instead could catch a page half written, or miss what is still in the -wal
file.

The copy is written to a temporary file beside `dest` (owner-only, 0600), switched to a
rollback journal so that it is one self-contained file, checked (`PRAGMA integrity_check`),
synced, and only then renamed over `dest`: a backup that fails leaves the previous one intact.

`restore(backup, store)` checks the copy is a sound drbot store and puts it in place the same
way, removing the old store's -wal and -shm files (they belong to the file being replaced and
would be replayed onto the restored one). It refuses to replace an existing store unless told
to: a standby started from a restored copy must be a decision, not an accident. Even when told
to, it refuses while a process on this host has the store open (`user_of`): a bot still serving
keeps its connection to the replaced file, so whatever it writes next (a test failover's run, its
audit entries) goes to a file that is no longer the store, and is lost.

What a copy holds is the store alone. The audit key (`<store>.audit-key`) is a file of its own,
kept apart on purpose (whoever can write the store must not hold the key); copy it to the
standby once, by hand, or its trail cannot be verified there.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import socket
import sqlite3
import struct
import sys
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict

from store import errors
from store.db import SQLITE_MAGIC, unusable
from store.errors import StoreError, StoreUnusable

# A drbot store has these tables from its first migration on; a copy without them is not one.
REQUIRED_TABLES = ("runs", "leases", "audit")


class DestinationUnusable(StoreError):
    """Where a backup was asked to go cannot take it (no such directory, a directory, not
    writable); the message names the destination and what to do. The store itself is fine."""

    def __init__(self, path: object, problem: str, fix: str) -> None:
        super().__init__(f"The backup destination {path} {problem}; {fix}")
        self.path, self.problem, self.fix = path, problem, fix


class BackupInfo(BaseModel):
    """What a copy holds, for the line the CLI prints."""

    model_config = ConfigDict(frozen=True)

    path: Path
    bytes: int
    pages: int
    runs: int
    audit_entries: int


def backup(store_path: str | Path, dest: str | Path) -> BackupInfo:
    """Copy the store at `store_path` to `dest` while it may be in use; returns what the copy
    holds. Raises `StoreUnusable` naming the file and the fix."""
    src, out = Path(store_path), Path(dest)
    if not src.is_file():
        problem, fix = errors.CANNOT_OPEN
        raise StoreUnusable(src, problem.format(error="no such file"), fix.format(path=src))
    _check_magic(src)
    _copy(src, out, "backup")
    return inspect(out)


def restore(
    backup_path: str | Path, store_path: str | Path, *, replace: bool = False
) -> BackupInfo:
    """Put the copy at `backup_path` in place as the store at `store_path`.

    Refuses (`StoreUnusable`) a copy that is not a sound drbot store, a store that a process on
    this host has open (naming it: stop it first), and an existing store unless `replace` is
    true. Between the check and the rename a bot could still start: stop its service first.
    """
    src, out = Path(backup_path), Path(store_path)
    if not src.is_file():
        problem, fix = errors.CANNOT_OPEN
        raise StoreUnusable(src, problem.format(error="no such file"), fix.format(path=src))
    _check_magic(src)
    inspect(src)  # a damaged or foreign file is refused before anything is replaced
    pid = user_of(out)
    if pid is not None:
        raise StoreUnusable(
            out,
            _IN_USE[0].format(pid=pid, host=socket.gethostname(), command=_command_of(pid)),
            _IN_USE[1],
        )
    if out.exists() and not replace:
        raise StoreUnusable(out, *_EXISTS)
    _copy(src, out, "store")
    for suffix in ("-wal", "-shm"):
        with contextlib.suppress(FileNotFoundError):
            out.with_name(out.name + suffix).unlink()
    return inspect(out)


_EXISTS = (
    "already exists",
    "stop drbot, keep a copy of that store if you may need it, and pass --force to replace it",
)


_IN_USE = (
    "is in use by process {pid} on this host ({host!r}){command}",
    "stop that drbot first (for example `systemctl stop drbot`, or Ctrl-C where it runs), then "
    "restore again: a store replaced under a running bot loses everything the bot writes next",
)

# Where SQLite's unix VFS keeps the "dead man switch" lock of a WAL database: byte 128 of the
# -shm file (the eight WAL locks are bytes 120-127). Every connection holds a shared (read) lock
# on it for as long as it has the database open, and it is a POSIX (fcntl) lock, so the kernel
# can name the process that holds it. Source: https://www.sqlite.org/walformat.html, section
# 2.3 ("the DMS lock") and os_unix.c (UNIX_SHM_DMS). drbot always opens its store in WAL mode
# (store/db.py), so every drbot process using the store holds it: `serve`, and any command
# that is running.
_SHM_DMS_BYTE = 128
# `struct flock` on Linux (glibc and musl, 64-bit and 32-bit with 64-bit off_t): l_type,
# l_whence (shorts), l_start, l_len (off_t), l_pid (pid_t); see fcntl(2).
_FLOCK = "hhqqi"


def user_of(store_path: str | Path) -> int | None:
    """The pid of a process on this host that has the store at `store_path` open, or None.

    Asks the kernel (fcntl F_GETLK, which takes no lock) who holds a lock on the -shm file's DMS
    byte that a write lock would conflict with; this process's own locks never count. No -shm
    file means no connection. Only processes on this host are seen (SQLite's WAL does not work
    across hosts anyway), and only on Linux, where drbot is deployed; elsewhere this says None.
    """
    if not sys.platform.startswith("linux"):
        return None
    shm = Path(store_path).with_name(Path(store_path).name + "-shm")
    try:
        fd = os.open(shm, os.O_RDONLY)
    except FileNotFoundError:
        return None
    try:
        query = struct.pack(_FLOCK, fcntl.F_WRLCK, os.SEEK_SET, _SHM_DMS_BYTE, 1, 0)
        answer = fcntl.fcntl(fd, fcntl.F_GETLK, query)
    finally:
        os.close(fd)
    kind, _, _, _, pid = struct.unpack(_FLOCK, answer)
    return None if kind == fcntl.F_UNLCK else int(pid)


def _command_of(pid: int) -> str:
    """`: <its command line>` for a message, or nothing when it cannot be read."""
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return ""
    words = [w.decode(errors="replace") for w in raw.split(b"\0") if w]
    text = " ".join(words)
    return f": {text[:120]}" if text else ""


def inspect(path: Path) -> BackupInfo:
    """Check that `path` is a sound drbot store and say what it holds (read-only)."""
    try:
        conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    except sqlite3.Error as exc:
        raise unusable(path, exc) from exc
    try:
        check = conn.execute("PRAGMA integrity_check").fetchone()[0]
        if check != "ok":
            problem, fix = errors.DAMAGED
            raise StoreUnusable(path, problem.format(error=check), fix.format(path=path))
        tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        missing = [t for t in REQUIRED_TABLES if t not in tables]
        if missing:
            problem, fix = errors.NOT_A_STORE
            raise StoreUnusable(
                path, problem.format(error=f"no {', '.join(missing)} table"), fix.format(path=path)
            )
        pages = int(conn.execute("PRAGMA page_count").fetchone()[0])
        runs = int(conn.execute("SELECT count(*) FROM runs").fetchone()[0])
        audit = int(conn.execute("SELECT count(*) FROM audit").fetchone()[0])
    except sqlite3.Error as exc:
        raise unusable(path, exc) from exc
    finally:
        conn.close()
    return BackupInfo(
        path=path, bytes=path.stat().st_size, pages=pages, runs=runs, audit_entries=audit
    )


def _check_magic(path: Path) -> None:
    with path.open("rb") as f:
        header = f.read(len(SQLITE_MAGIC))
    if header != SQLITE_MAGIC:
        problem, fix = errors.NOT_A_STORE
        raise StoreUnusable(path, problem.format(error="no SQLite header"), fix.format(path=path))


# Where a copy cannot be written: (what is wrong, what to do), for a backup's destination.
NO_DIRECTORY = (
    "cannot be written: its directory {directory} does not exist",
    "create it (mkdir -p {directory}) or name a file in a directory that exists",
)
IS_DIRECTORY = (
    "is a directory",
    "name the file to write, for example {path}/drbot-backup.db",
)
NOT_WRITABLE = (
    "cannot be written ({error})",
    "give this user write access to {directory}, or name a file in a directory it may write",
)


def _refuse(
    kind: Literal["backup", "store"], out: Path, reason: tuple[str, str], **more: object
) -> StoreError:
    """The refusal to write `out`: a backup's destination is not the store, and says so."""
    problem, fix = reason
    values = {"path": out, "directory": out.parent, **more}
    if kind == "backup":
        return DestinationUnusable(out, problem.format(**values), fix.format(**values))
    return StoreUnusable(out, problem.format(**values), fix.format(**values))


def _copy(src: Path, out: Path, kind: Literal["backup", "store"]) -> None:
    """SQLite's backup of `src` into a private temporary file beside `out`, then renamed."""
    if out.is_dir():
        raise _refuse(kind, out, IS_DIRECTORY)
    if not out.parent.is_dir():
        raise _refuse(kind, out, NO_DIRECTORY)
    tmp = out.with_name(f".{out.name}.{os.getpid()}.partial")
    with contextlib.suppress(FileNotFoundError):
        tmp.unlink()
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except OSError as exc:
        raise _refuse(kind, out, NOT_WRITABLE, error=exc.strerror) from None
    os.close(fd)
    try:
        try:
            source = sqlite3.connect(str(src), timeout=30)
        except sqlite3.Error as exc:
            raise unusable(src, exc) from exc
        try:
            target = sqlite3.connect(str(tmp))
            try:
                source.execute("PRAGMA busy_timeout = 30000")
                # pages=-1: the whole database in one step, under one read transaction.
                source.backup(target, pages=-1)
                # One self-contained file: no -wal beside the copy to lose on the way.
                target.execute("PRAGMA journal_mode = DELETE")
                check = target.execute("PRAGMA integrity_check").fetchone()[0]
            finally:
                target.close()
        except sqlite3.Error as exc:
            raise unusable(src, exc) from exc
        finally:
            source.close()
        if check != "ok":
            problem, fix = errors.DAMAGED
            raise StoreUnusable(src, problem.format(error=check), fix.format(path=src))
        fd = os.open(tmp, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, out)
        _sync_dir(out.parent)
    finally:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()


def _sync_dir(directory: Path) -> None:
    """Make the rename itself durable (a crash right after must not lose the new name)."""
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
