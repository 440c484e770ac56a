"""What the store refuses, as exceptions that say what to do.

The store knows nothing of the engine; the runner translates these into the engine's
`RunConflict` / `RunStateError` where it needs to.
"""

from __future__ import annotations


class StoreError(Exception):
    """Anything the store refuses."""


class RunNotFound(StoreError):
    def __init__(self, run_id: int) -> None:
        super().__init__(f"No run {run_id} in the store; list runs with `drbot runs`.")
        self.run_id = run_id


class IllegalTransition(StoreError):
    def __init__(self, run_id: int, src: str, dst: str, allowed: list[str]) -> None:
        options = ", ".join(allowed) or "none (the run is finished)"
        super().__init__(
            f"Run {run_id} is {src} and cannot become {dst}; from {src} it may become: {options}."
        )
        self.run_id, self.src, self.dst = run_id, src, dst


class LeaseHeld(StoreError):
    def __init__(self, pool: str, run_id: int, holder: str, until: str) -> None:
        super().__init__(
            f"Pool {pool!r} is busy with run {run_id} (held by {holder} until {until}); "
            f"wait for it to finish, or resume/abort it with `drbot resume {run_id}` / "
            f"`drbot abort {run_id}`."
        )
        self.pool, self.run_id, self.holder, self.until = pool, run_id, holder, until


class StepAlreadyDone(StoreError):
    def __init__(self, run_id: int, key: str) -> None:
        super().__init__(
            f"Step {key!r} of run {run_id} is already done; a step is never done twice."
        )
        self.run_id, self.key = run_id, key


class StoreUnusable(StoreError):
    """The store's file cannot be used as it is: not SQLite, damaged, a directory, read-only,
    or on a full disk. The message names the file, what is wrong and what to do."""

    def __init__(self, path: object, problem: str, fix: str) -> None:
        super().__init__(f"The store {path} {problem}; {fix}")
        self.path, self.problem, self.fix = path, problem, fix


# What is wrong with the store's file, and what to do about it (StoreUnusable's two halves).
NOT_A_STORE = (
    "is not a SQLite database ({error})",
    "point store_path at drbot's store, or move this file aside to start a new, empty store.",
)
DAMAGED = (
    "is damaged ({error})",
    "restore it from a backup, or move it aside to start a new, empty store "
    "(the runs and audit trail in it are then no longer used).",
)
TRUNCATED = (
    "is truncated: {size} bytes where its header says {expected}",
    "restore it from a backup, or move it aside to start a new, empty store "
    "(the runs and audit trail in it are then no longer used).",
)
IS_A_DIRECTORY = (
    "is a directory, not a file",
    "set store_path to a file, for example {path}/drbot.db.",
)
READ_ONLY = (
    "cannot be written ({error})",
    "give drbot's user write access to the file and its directory (SQLite writes "
    "-wal and -shm files beside it), or set store_path to a writable place.",
)
DISK_FULL = (
    "cannot grow: the disk is full ({error})",
    "free space on its file system, then try again; nothing was half-written.",
)
CANNOT_OPEN = (
    "cannot be opened ({error})",
    "check that its directory exists and drbot's user may read and write there.",
)
BUSY = (
    "is locked by another process ({error})",
    "wait for the other drbot command to finish, then try again.",
)
IO_ERROR = (
    "could not be read or written ({error})",
    "check the disk and its file system (dmesg), then try again.",
)
UNEXPECTED = (
    "failed ({error})",
    "check the file and the disk; if it persists, restore the store from a backup.",
)


# The audit trail: its key, its anchors, and what `drbot audit verify` finds.
KEY_READABLE = (
    "The audit key {path} may be read by other users (mode {mode:o}); whoever reads it can "
    "rewrite the audit trail unseen: chmod 600 {path}"
)
KEY_UNWRITABLE = (
    "The audit key {path} cannot be created ({error}); give drbot's user write access to its "
    "directory, or set audit.key_file to a writable place."
)
KEY_UNREADABLE = (
    "The audit key {path} cannot be read ({error}); restore it from a backup (it must be the "
    "key the trail was written with), or point audit.key_file at it."
)
KEY_MISSING = (
    "The audit key {path} is missing, so the trail cannot be checked: restore the key it was "
    "written with (it is kept outside the store by design), or point audit.key_file at it."
)
ANCHORS_UNREADABLE = "The audit anchor file {path} cannot be read ({error}); check its permissions."
ANCHORS_UNWRITABLE = (
    "The audit anchor file {path} cannot be appended to ({error}); give drbot's user write "
    "access to it, or set audit.anchor_file to a writable place."
)
ANCHOR_LINE_BAD = (
    "Line {line} of the audit anchor file {path} is not an anchor: the file was edited "
    "(drbot only appends to it); restore it from a copy (the audit channel has each anchor)."
)
ANCHOR_TEXT = "audit anchor: entry {seq} has hash {hash} (at {at})"
ENTRY_MISSING = (
    "Entry {seq} is missing: the trail goes from entry {prev} to entry {next} (it was removed)."
)
ENTRY_BEFORE_MISSING = (
    "An entry before entry {seq} is missing: entry {seq} follows an entry that is no longer in "
    "the trail (removed, and the entries after it renumbered)."
)
ENTRY_MOVED = (
    "Entry {seq} was moved: it was written after entry {after}, not after entry {prev} "
    "(entries were reordered)."
)
ENTRY_EDITED = (
    "Entry {seq} ({type} at {at}) does not match its signature: it was edited, or the trail "
    "was rebuilt without drbot's key (or {key} is not the key it was written with)."
)
ENTRY_UNKEYED = (
    "Entry {seq} is not signed with drbot's key although entry {keyed} before it is: the trail "
    "was rebuilt from entry {seq} on without the key."
)
UNKEYED_NOT_SEALED = (
    "Entries 1-{last} are unkeyed and entry {seq} does not seal them: they were rebuilt or "
    "inserted without drbot's key."
)
TRUNCATED_END = (
    "Entries {first}-{last} are missing from the end: the last anchor in {path} (at {at}) "
    "names entry {last} (the trail was truncated)."
)
ANCHOR_MISMATCH = "Entry {seq} is not the entry anchored at {at}: the trail was rewritten up to it."
ANCHOR_FORGED = (
    "The anchor of entry {seq} (at {at}) in {path} is not signed with drbot's key: the anchor "
    "file was edited."
)
ANCHORS_MISSING = (
    "The audit anchor file {path} is missing or empty although the trail has {count} keyed "
    "entries: it was removed or emptied; restore it (the audit channel has each anchor)."
)
CHAIN_NOT_YET_KEYED = (
    "The trail's {count} entries predate the audit key (unkeyed chain, checked as such); the "
    "next entry drbot writes seals them under the key."
)
SEALED = "Entries 1-{last} predate the audit key; entry {seq} sealed them under it at {at}."
