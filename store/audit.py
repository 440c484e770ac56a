"""The audit trail: append-only, chained with a key kept outside the store, anchored outside it.

Each entry's `hash` is HMAC-SHA256, under drbot's audit key, of the previous entry's hash and
the canonical JSON of the entry (time, type, actor, payload). Whoever can write the store but
not read the key can neither edit an entry nor rebuild the chain after an edit. The key is a
secret file (`<store>.audit-key` unless the settings' `[audit] key_file` says otherwise, see
`register_audit_files`), created owner-only (0600) on first use.

The chain's head is anchored outside the store: every `anchor_every` entries, and when the
store is closed with entries not yet anchored, a line (entry number, its hash, the time, and
an HMAC of the three) is appended to the anchor file (`<store>.anchors` unless configured),
which drbot only ever appends to. Cutting entries off the end of the trail then leaves the
head short of the last anchor, which `check()` reports. `on_anchor(fn)` hands each anchor to
the bot as well, which posts it to the audit channel: a copy out of reach of the machine.

`check()` walks the chain and names the first entry that was edited, removed, moved or is
missing, and compares the head with the anchors; `verify()` is its yes/no.

Stores written before the chain was keyed migrate without a rewrite: their entries keep the
old unkeyed sha256 chain, and the first entry this version writes is an `AuditKeyed` seal that
names the unkeyed head (its number and hash) under the key. `check()` accepts unkeyed entries
only before such a seal; an unkeyed entry after a keyed one is a break.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import os
import secrets
import stat
from collections.abc import Callable
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, ValidationError

from store import errors
from store.db import StoreConnection
from store.errors import StoreError

log = logging.getLogger("drbot.store")

GENESIS = "0" * 64
SEAL = "AuditKeyed"  # the entry that vouches, under the key, for an older unkeyed chain
DEFAULT_ANCHOR_EVERY = 50

# A run's steps as audit entries (engine/runner.py writes them with the step's journal row).
STEP_DONE, STEP_FAILED, STEP_SKIPPED = "StepDone", "StepFailed", "StepSkipped"
STEP_EVENTS = frozenset({STEP_DONE, STEP_FAILED, STEP_SKIPPED})
# Actors that are drbot itself, not a person: their entries carry no `actor_name`.
NAMELESS = frozenset({"drbot", ""})


def _canonical(obj: Any) -> str:
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), default=str)


def entry_hash(prev_hash: str, seq: int, at: str, event_type: str, actor: str, payload: str) -> str:
    """The unkeyed sha256 link of stores written before the chain was keyed."""
    body = _canonical(
        {"seq": seq, "at": at, "event_type": event_type, "actor": actor, "payload": payload}
    )
    return hashlib.sha256((prev_hash + body).encode()).hexdigest()


def entry_mac(
    key: bytes, prev_hash: str, at: str, event_type: str, actor: str, payload: str
) -> str:
    """The keyed link: HMAC-SHA256 of the previous hash and the entry.

    The entry's number is not in it: the order is the chain of links, so a moved entry is told
    from an edited one (its own link still holds, it only follows the wrong entry).
    """
    body = _canonical({"at": at, "event_type": event_type, "actor": actor, "payload": payload})
    return hmac.new(key, (prev_hash + body).encode(), hashlib.sha256).hexdigest()


class Anchor(BaseModel):
    """The chain's head as written outside the store: entry `seq` had hash `hash` at `at`."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    seq: int
    hash: str
    at: str
    mac: str

    @staticmethod
    def _mac(key: bytes, seq: int, head: str, at: str) -> str:
        return hmac.new(key, f"anchor:{seq}:{head}:{at}".encode(), hashlib.sha256).hexdigest()

    @classmethod
    def make(cls, key: bytes, seq: int, head: str, at: str) -> Anchor:
        return cls(seq=seq, hash=head, at=at, mac=cls._mac(key, seq, head, at))

    def signed_by(self, key: bytes) -> bool:
        return hmac.compare_digest(self.mac, self._mac(key, self.seq, self.hash, self.at))

    def line(self) -> str:
        """The anchor file's line for this anchor (JSON, no newline)."""
        return _canonical(self.model_dump())

    def text(self) -> str:
        """One line for people, e.g. for the audit channel."""
        return errors.ANCHOR_TEXT.format(seq=self.seq, hash=self.hash, at=self.at)


class AuditCheck(BaseModel):
    """What `check()` found: `ok` unless `problem` names the first break."""

    entries: int
    keyed_from: int | None = None  # the first entry chained with the key
    anchors: int = 0
    last_anchor: Anchor | None = None
    problem: str | None = None
    notes: list[str] = []

    @property
    def ok(self) -> bool:
        return self.problem is None


def _private_file(path: Path, content: bytes) -> None:
    """Create `path` owner-only (0600, directory 0700 if drbot makes it) with `content`;
    FileExistsError if it exists. The file appears whole or not at all: it is written under
    a temporary name and hard-linked into place, so a second writer (another thread at the
    first append of a new store) never reads it empty and takes an empty key for drbot's."""
    if not path.parent.exists():
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.{secrets.token_hex(6)}")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(content)
            f.flush()
            os.fsync(f.fileno())
        try:
            os.link(temporary, path)  # fails if `path` exists: the first writer's file stays
        except FileExistsError:
            raise
        except OSError:  # a filesystem without hard links: create it in place, as before
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "wb") as f:
                f.write(content)
    finally:
        temporary.unlink(missing_ok=True)


def load_key(path: Path) -> bytes:
    """drbot's audit key from `path`, created (32 random bytes, hex, 0600) if it is missing."""
    try:
        _private_file(path, secrets.token_hex(32).encode() + b"\n")
    except FileExistsError:
        mode = stat.S_IMODE(path.stat().st_mode)
        if mode & 0o077:
            log.warning(errors.KEY_READABLE.format(path=path, mode=mode))
    except OSError as exc:
        raise StoreError(errors.KEY_UNWRITABLE.format(path=path, error=exc.strerror)) from None
    try:
        return bytes.fromhex(path.read_text(encoding="ascii").strip())
    except (OSError, ValueError) as exc:
        raise StoreError(errors.KEY_UNREADABLE.format(path=path, error=exc)) from None


def read_anchors(path: Path) -> list[Anchor]:
    """The anchors in the file at `path`, oldest first; StoreError naming a line that is not
    one (a hand-edited or damaged anchor file)."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return []
    except OSError as exc:
        raise StoreError(errors.ANCHORS_UNREADABLE.format(path=path, error=exc)) from None
    if not text.endswith("\n"):
        # Its last line is still being appended by another thread or process (each anchor is
        # written with its newline): it counts once whole. Dropping it hides nothing a reader
        # could rely on: the anchors only ever bound how much of the trail must be there.
        text = text[: text.rfind("\n") + 1]
    anchors = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            anchors.append(Anchor.model_validate_json(line))
        except ValidationError:
            raise StoreError(errors.ANCHOR_LINE_BAD.format(path=path, line=number)) from None
    return anchors


class AuditFiles(BaseModel):
    """Where the audit key and the anchors of one store live, and how often it is anchored."""

    model_config = ConfigDict(frozen=True)

    key_file: Path
    anchor_file: Path
    anchor_every: int = DEFAULT_ANCHOR_EVERY

    @classmethod
    def beside(cls, store_path: Path) -> AuditFiles:
        """The defaults: `<store>.audit-key` and `<store>.anchors` next to the store."""
        return cls(
            key_file=Path(f"{store_path}.audit-key"), anchor_file=Path(f"{store_path}.anchors")
        )


# Store path (resolved) -> its audit files, as the configuration names them. Registered by the
# settings loader, so that every part of the process that opens that store (the CLI, the bot,
# the demo) keys and anchors its trail the same way without passing the paths along.
_registered: dict[Path, AuditFiles] = {}


def register_audit_files(store_path: Path, files: AuditFiles) -> None:
    """Use `files` for the store at `store_path` whenever this process opens it."""
    _registered[Path(store_path).resolve()] = files


def audit_files(store_path: Path) -> AuditFiles:
    """The audit files of the store at `store_path`: as registered, else beside the store."""
    return _registered.get(Path(store_path).resolve()) or AuditFiles.beside(Path(store_path))


class Audit:
    """Append to, anchor and check the keyed audit chain."""

    def __init__(self, conn: StoreConnection) -> None:
        self._c = conn
        files = audit_files(conn.path)
        self.key_file = files.key_file
        self.anchor_file = files.anchor_file
        self.anchor_every = files.anchor_every
        self._key: bytes | None = None
        self._anchored = 0  # the last entry anchored by this process
        self._listeners: list[Callable[[Anchor], None]] = []
        self._names: dict[str, str] = {}  # actor -> the name its entries last carried
        conn.on_close(self._anchor_on_close)

    def on_anchor(self, fn: Callable[[Anchor], None]) -> Callable[[], None]:
        """Call `fn` with every anchor written (after it is in the anchor file); returns the
        function that stops it. This is how the bot posts anchors to the audit channel: `fn`
        runs in the writer's thread, so it should hand the anchor on (an outbox), not post.
        A failing `fn` is logged and never stops the trail."""
        self._listeners.append(fn)
        return lambda: self._listeners.remove(fn)

    @property
    def key(self) -> bytes:
        if self._key is None:
            self._key = load_key(self.key_file)
        return self._key

    # -- writing ---------------------------------------------------------------------------

    def append(self, event_type: str, actor: str, payload: dict[str, Any]) -> dict[str, Any]:
        """Add one entry at the end of the chain and return it (with `seq`, `hash`).

        `actor` is the immutable id (`slack:U123`), the column `drbot audit verify` and export
        compare; the person's name goes in the payload's `actor_name`. An entry whose payload
        has none (a run's transitions and steps: the engine knows only the id) gets the name
        the trail last recorded for that actor, so every entry naming a person names them by
        id and name. The name is part of the hashed payload like any other field.
        """
        key = self.key
        payload = self._named(actor, payload)
        with self._c.write() as db:
            last = self._head(db)
            if last is not None and self._unkeyed(last):
                # The first entry of this version on an older store: seal the unkeyed chain.
                seal = {"unkeyed_entries": last["seq"], "unkeyed_head": last["hash"]}
                last = self._insert(db, key, last, SEAL, "drbot", seal)
            row = self._insert(db, key, last, event_type, actor, payload)
            if row["seq"] % self.anchor_every == 0:
                self._c.after_commit(lambda: self._anchor_quietly(row["seq"], row["hash"]))
        return {**row, "payload": payload}

    def _named(self, actor: str, payload: dict[str, Any]) -> dict[str, Any]:
        if actor in NAMELESS:
            return payload
        given = payload.get("actor_name")
        if given:
            self._names[actor] = str(given)
            return payload
        if "actor_name" in payload:
            return payload  # said empty on purpose by the writer
        name = self.name_of(actor)
        return {**payload, "actor_name": name} if name else payload

    def name_of(self, actor: str) -> str:
        """The name the trail last recorded for `actor` ("" if none); cached per process, so
        a run's thousands of step entries cost one look-up."""
        if actor not in self._names:
            with self._c.lock:
                rows = list(
                    self._c.db.query(
                        "SELECT json_extract(payload_json, '$.actor_name') AS name FROM audit"
                        " WHERE actor = ? AND coalesce(name, '') != ''"
                        " ORDER BY seq DESC LIMIT 1",
                        [actor],
                    )
                )
            self._names[actor] = str(rows[0]["name"]) if rows else ""
        return self._names[actor]

    def _insert(
        self,
        db: Any,
        key: bytes,
        last: dict[str, Any] | None,
        event_type: str,
        actor: str,
        payload: dict[str, Any],
    ) -> dict[str, Any]:
        prev = last["hash"] if last else GENESIS
        seq = last["seq"] + 1 if last else 1
        at = self._c.stamp()
        payload_json = _canonical(payload)
        row = {
            "seq": seq,
            "at": at,
            "event_type": event_type,
            "actor": actor,
            "payload_json": payload_json,
            "prev_hash": prev,
            "hash": entry_mac(key, prev, at, event_type, actor, payload_json),
        }
        db["audit"].insert(row)
        return row

    @staticmethod
    def _head(db: Any) -> dict[str, Any] | None:
        last = list(db.query("SELECT * FROM audit ORDER BY seq DESC LIMIT 1"))
        return last[0] if last else None

    @staticmethod
    def _keyed(key: bytes | None, r: dict[str, Any]) -> bool:
        if key is None:
            return False
        mac = entry_mac(
            key, r["prev_hash"], r["at"], r["event_type"], r["actor"], r["payload_json"]
        )
        return hmac.compare_digest(mac, r["hash"])

    @staticmethod
    def _unkeyed(r: dict[str, Any]) -> bool:
        """Whether `r` is a valid link of the old unkeyed chain."""
        digest = entry_hash(
            r["prev_hash"], r["seq"], r["at"], r["event_type"], r["actor"], r["payload_json"]
        )
        return hmac.compare_digest(digest, r["hash"])

    def anchor(self) -> Anchor | None:
        """Anchor the head now (None when the trail is empty); returns the anchor written."""
        with self._c.lock:
            head = self._head(self._c.db)
        if head is None:
            return None
        return self._write_anchor(head["seq"], head["hash"])

    def _write_anchor(self, seq: int, head: str) -> Anchor:
        anchor = Anchor.make(self.key, seq, head, self._c.stamp())
        try:
            if not self.anchor_file.exists():
                _private_file(self.anchor_file, b"")
            # O_APPEND: drbot only ever adds to the anchor file.
            fd = os.open(self.anchor_file, os.O_WRONLY | os.O_APPEND)
            with os.fdopen(fd, "a", encoding="utf-8") as f:
                f.write(anchor.line() + "\n")
        except OSError as exc:
            raise StoreError(
                errors.ANCHORS_UNWRITABLE.format(path=self.anchor_file, error=exc.strerror)
            ) from None
        self._anchored = seq
        for fn in list(self._listeners):
            try:
                fn(anchor)
            except Exception:
                log.exception("an audit anchor listener failed")
        return anchor

    def _anchor_quietly(self, seq: int, head: str) -> None:
        """Anchor after a commit: the entry is written whatever happens to its anchor, so a
        failure is reported (and `check()` will miss the anchor), never raised into the
        writer."""
        try:
            self._write_anchor(seq, head)
        except StoreError as exc:
            log.warning(str(exc))

    def _anchor_on_close(self) -> None:
        if self._key is None:
            return  # nothing was appended or checked by this process
        with self._c.lock:
            head = self._head(self._c.db)
        if head is not None and head["seq"] > self._anchored:
            self._anchor_quietly(head["seq"], head["hash"])

    # -- reading ---------------------------------------------------------------------------

    def entries(self, since: int = 0, limit: int | None = None) -> list[dict[str, Any]]:
        """Entries with `seq > since`, oldest first, with `payload` decoded."""
        with self._c.lock:
            rows = list(
                self._c.db["audit"].rows_where("seq > ?", [since], order_by="seq", limit=limit)
            )
        return [{**r, "payload": json.loads(r["payload_json"])} for r in rows]

    def verify(self) -> bool:
        """True when the chain and its anchors hold (see `check()` for what broke)."""
        return self.check().ok

    def check(self) -> AuditCheck:
        """Walk the chain from the start and compare its head with the anchors.

        Names the first entry that was edited (its content no longer matches its link), moved
        (it is authentic but follows another entry), removed (a number or a link is missing),
        or written without the key; then whether entries the last anchor names are missing
        from the end, or differ from what was anchored.
        """
        # Checking never makes a key: a trail written with a key cannot be checked without it.
        key = self.key if self._key is not None or self.key_file.exists() else None
        # Anchors before rows: an anchor is written only after its entry is committed, so every
        # anchor read here names an entry the rows below include, unless it was really cut off.
        # Read the other way round, a writer anchoring in between looks like a truncation.
        anchors = read_anchors(self.anchor_file)
        with self._c.lock:
            rows = list(self._c.db.query("SELECT * FROM audit ORDER BY seq"))
        result = AuditCheck(entries=len(rows))
        by_hash = {r["hash"]: r["seq"] for r in rows}
        prev, expected = GENESIS, 1
        for r in rows:
            problem = self._link_problem(key, r, prev, expected, by_hash, result)
            if problem is not None:
                missing = key is None and r["seq"] == expected
                result.problem = (
                    errors.KEY_MISSING.format(path=self.key_file) if missing else problem
                )
                return result
            prev, expected = r["hash"], r["seq"] + 1
        if rows and result.keyed_from is None:
            result.notes.append(errors.CHAIN_NOT_YET_KEYED.format(count=len(rows)))
        self._check_anchors(key, rows, anchors, result)
        return result

    def _link_problem(
        self,
        key: bytes | None,
        r: dict[str, Any],
        prev: str,
        expected: int,
        by_hash: dict[str, int],
        result: AuditCheck,
    ) -> str | None:
        seq = r["seq"]
        if seq != expected:
            return errors.ENTRY_MISSING.format(seq=expected, prev=expected - 1, next=seq)
        keyed = self._keyed(key, r)
        unkeyed = not keyed and self._unkeyed(r)
        if keyed:
            if result.keyed_from is None:
                result.keyed_from = seq
                if seq > 1:
                    seal = json.loads(r["payload_json"])
                    if r["event_type"] != SEAL or seal.get("unkeyed_head") != prev:
                        return errors.UNKEYED_NOT_SEALED.format(seq=seq, last=seq - 1)
                    result.notes.append(errors.SEALED.format(last=seq - 1, seq=seq, at=r["at"]))
        elif unkeyed and result.keyed_from is not None:
            return errors.ENTRY_UNKEYED.format(seq=seq, keyed=result.keyed_from)
        elif not unkeyed:
            return errors.ENTRY_EDITED.format(
                seq=seq, at=r["at"], type=r["event_type"], key=self.key_file
            )
        if r["prev_hash"] != prev:
            if r["prev_hash"] in by_hash:
                return errors.ENTRY_MOVED.format(
                    seq=seq, after=by_hash[r["prev_hash"]], prev=seq - 1
                )
            return errors.ENTRY_BEFORE_MISSING.format(seq=seq)
        return None

    def _check_anchors(
        self,
        key: bytes | None,
        rows: list[dict[str, Any]],
        anchors: list[Anchor],
        result: AuditCheck,
    ) -> None:
        result.anchors = len(anchors)
        if anchors and key is None:
            result.problem = errors.KEY_MISSING.format(path=self.key_file)
            return
        for anchor in anchors:
            if key is not None and not anchor.signed_by(key):
                result.problem = errors.ANCHOR_FORGED.format(
                    path=self.anchor_file, seq=anchor.seq, at=anchor.at
                )
                return
        keyed = len(rows) - result.keyed_from + 1 if result.keyed_from else 0
        if not anchors:
            # An anchor is written every `anchor_every` entries: a keyed trail that long has one,
            # unless the writer of its newest entry is anchoring it right now.
            if keyed >= self.anchor_every and not read_anchors(self.anchor_file):
                result.problem = errors.ANCHORS_MISSING.format(
                    path=self.anchor_file, count=len(rows)
                )
            return
        last = result.last_anchor = anchors[-1]
        head = rows[-1]["seq"] if rows else 0
        if head < last.seq:
            result.problem = errors.TRUNCATED_END.format(
                first=head + 1, last=last.seq, at=last.at, path=self.anchor_file
            )
            return
        anchored = rows[last.seq - 1]
        if not hmac.compare_digest(anchored["hash"], last.hash):
            result.problem = errors.ANCHOR_MISMATCH.format(seq=last.seq, at=last.at)
