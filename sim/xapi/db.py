"""One XAPI database: a pool's own, or a foreign one opened from a metadata VDI.

Objects are plain dicts of Python values keyed by API field name (str, int, float, bool,
UTC `datetime`, list for sets, dict for maps). Every write bumps `generation`, XAPI's
database generation count, and stamps the objects it touched with it (their "mtime"); the
event machinery reads changes back from those stamps, so several writes to one object
between two `event.from` calls coalesce into one `mod`, as in XAPI.

Reverse sets (`VM.VBDs`, `SR.PBDs` ... see `schema.REVERSE`) follow their forward
reference: write the forward side (`VBD.VM`) and the set on the other side follows, and the
object on the other side gets a `mod` too. Deleting an object removes it from the sets it is
in and turns the tracked references to it into `OpaqueRef:NULL`; untracked references (say
`pool.default_SR`) are left dangling, as XAPI leaves them.

Thread safety: every method takes `lock` (an RLock); hold it yourself for multi-step
changes that must look atomic. `changed` is a Condition on that lock, notified on writes.
"""

from __future__ import annotations

import threading
import uuid as uuidlib
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from typing import Any

from sim.xapi import schema
from sim.xapi.errors import handle_invalid, uuid_invalid
from sim.xapi.schema import NULL_REF

# How many deletions to remember for event.from; older tokens simply miss older deletions.
_DELETED_KEPT = 100_000
_DT_FORMAT = "%Y%m%dT%H:%M:%SZ"


def new_ref() -> str:
    """A fresh `OpaqueRef:<uuid>`."""
    return f"OpaqueRef:{uuidlib.uuid4()}"


def new_uuid() -> str:
    return str(uuidlib.uuid4())


def _copy(value: Any) -> Any:
    if isinstance(value, list):
        return list(value)
    if isinstance(value, dict):
        return dict(value)
    if isinstance(value, tuple | set | frozenset):
        return list(value)
    return value


def copy_record(rec: dict[str, Any]) -> dict[str, Any]:
    """A copy of a record that shares no list or dict with it."""
    return {k: _copy(v) for k, v in rec.items()}


class Database:
    """A thread-safe in-memory XAPI database (see the module docstring)."""

    def __init__(self, name: str = "") -> None:
        self.name = name
        self.lock = threading.RLock()
        self.changed = threading.Condition(self.lock)
        self.generation = 0
        self._tables: dict[str, dict[str, dict[str, Any]]] = {
            c: {} for c, s in schema.CLASSES.items() if s.in_db
        }
        # (cls, ref) -> [ctime, mtime]: the generations of creation and last write.
        self._stamps: dict[tuple[str, str], list[int]] = {}
        # (cls, ref) -> mtime, kept in ascending mtime order (moved to the end on write) so
        # that "what changed since generation G" reads only the tail.
        self._changes: dict[tuple[str, str], int] = {}
        # (generation, cls, ref, ctime) of deletions, ascending.
        self._deleted: list[tuple[int, str, str, int]] = []
        self._uuids: dict[str, dict[str, str]] = {c: {} for c in self._tables}
        # Serialised fragments of records, filled by the wire layer:
        # (cls, ref) -> (mtime, xml, json). Stale entries are detected by mtime.
        self.render_cache: dict[tuple[str, str], tuple[int, str | None, str | None]] = {}
        # Bumped by event.inject-like notifications that are not writes.
        self.message_generation = 0
        # Write hooks (see on_write) and the objects touched by the write in progress.
        self._hooks: list[Callable[[str, str, str, dict[str, Any] | None], None]] = []
        self._touched: dict[tuple[str, str], None] = {}

    def on_write(self, fn: Callable[[str, str, str, dict[str, Any] | None], None]) -> None:
        """Call `fn(op, cls, ref, record_or_None)` after every persistent write.

        Called under `lock`, with `generation` already bumped, once per object the write
        touched: `"add"` for a created object, `"mod"` (with a copy of the whole new record)
        for a written one and for objects whose reverse sets followed, `"del"` (None) for a
        deleted one. This is how a pool database writes through to its redo logs.
        """
        with self.lock:
            self._hooks.append(fn)

    def _fire(
        self, created: tuple[str, str] | None = None, deleted: tuple[str, str] | None = None
    ) -> None:
        touched, self._touched = self._touched, {}
        if not self._hooks:
            return
        events: list[tuple[str, str, str, dict[str, Any] | None]] = []
        if deleted is not None:
            events.append(("del", deleted[0], deleted[1], None))
        for cls, ref in touched:
            rec = self._tables[cls].get(ref)
            if rec is None:
                continue
            op = "add" if (cls, ref) == created else "mod"
            events.append((op, cls, ref, copy_record(rec)))
        for op, cls, ref, rec in events:
            for fn in self._hooks:
                fn(op, cls, ref, rec)

    # ----------------------------------------------------------------- reads

    def _table(self, cls: str) -> dict[str, dict[str, Any]]:
        try:
            return self._tables[cls]
        except KeyError:
            raise ValueError(f"the simulator's database has no class {cls!r}") from None

    def exists(self, cls: str, ref: str) -> bool:
        with self.lock:
            return ref in self._table(cls)

    def handle(self, cls: str, ref: Any) -> str:
        """`ref` if it names a record of `cls`, else `HANDLE_INVALID [cls, ref]` (non-str too)."""
        if not isinstance(ref, str) or not self.exists(cls, ref):
            raise handle_invalid(cls, ref)
        return ref

    def get(self, cls: str, ref: str) -> dict[str, Any]:
        """A copy of the record, or `HANDLE_INVALID [cls, ref]`."""
        with self.lock:
            rec = self._table(cls).get(ref)
            if rec is None:
                raise handle_invalid(cls, ref)
            return copy_record(rec)

    def get_field(self, cls: str, ref: str, name: str) -> Any:
        """One field's value (a copy), or `HANDLE_INVALID [cls, ref]`."""
        with self.lock:
            rec = self._table(cls).get(ref)
            if rec is None:
                raise handle_invalid(cls, ref)
            return _copy(rec[name])

    def live(self, cls: str, ref: str) -> dict[str, Any] | None:
        """The stored record itself (no copy): only while holding `lock`, and never mutate it."""
        return self._table(cls).get(ref)

    def refs(self, cls: str) -> list[str]:
        with self.lock:
            return list(self._table(cls))

    def count(self, cls: str) -> int:
        with self.lock:
            return len(self._table(cls))

    def all(self, cls: str) -> dict[str, dict[str, Any]]:
        """ref -> copy of the record, for every object of `cls`."""
        with self.lock:
            return {r: copy_record(rec) for r, rec in self._table(cls).items()}

    def where(self, cls: str, **equals: Any) -> list[str]:
        """Refs of the objects whose fields equal all of `equals`."""
        with self.lock:
            items = equals.items()
            return [
                r for r, rec in self._table(cls).items() if all(rec.get(k) == v for k, v in items)
            ]

    def by_uuid(self, cls: str, uuid: str) -> str:
        """The ref of the object with that uuid, or `UUID_INVALID [cls, uuid]`."""
        with self.lock:
            self._table(cls)
            ref = self._uuids[cls].get(uuid)
            if ref is None:
                raise uuid_invalid(cls, uuid)
            return ref

    def by_name_label(self, cls: str, label: str) -> list[str]:
        """Refs of the objects named `label` (possibly none)."""
        return self.where(cls, name_label=label)

    def mtime(self, cls: str, ref: str) -> int:
        with self.lock:
            return self._stamps[(cls, ref)][1]

    def stamp_of(self, cls: str, ref: str) -> int | None:
        """The object's mtime, or None if it does not exist (caller holds `lock`)."""
        stamps = self._stamps.get((cls, ref))
        return None if stamps is None else stamps[1]

    # ----------------------------------------------------------------- writes

    def _bump(self) -> int:
        self.generation += 1
        return self.generation

    def _touch(self, cls: str, ref: str, gen: int) -> None:
        key = (cls, ref)
        stamps = self._stamps.get(key)
        if stamps is None:
            return
        stamps[1] = gen
        self._changes.pop(key, None)
        self._changes[key] = gen
        self._touched[key] = None

    def _set_add(self, cls: str, ref: str, set_field: str, member: str, gen: int) -> None:
        rec = self._tables[cls].get(ref)
        if rec is not None and member not in rec[set_field]:
            rec[set_field].append(member)
            self._touch(cls, ref, gen)

    def _set_remove(self, cls: str, ref: str, set_field: str, member: str, gen: int) -> None:
        rec = self._tables[cls].get(ref)
        if rec is not None and member in rec[set_field]:
            rec[set_field].remove(member)
            self._touch(cls, ref, gen)

    def create(self, cls: str, fields: dict[str, Any], ref: str | None = None) -> str:
        """Add an object: missing fields get schema defaults, `uuid` a fresh one; -> ref."""
        spec = schema.spec(cls)
        unknown = set(fields) - set(spec.fields)
        if unknown:
            raise ValueError(f"{cls} has no field(s) {sorted(unknown)}")
        rec = spec.defaults()
        for k, v in fields.items():
            rec[k] = _copy(v)
        if not rec.get("uuid"):
            rec["uuid"] = new_uuid()
        ref = ref or new_ref()
        with self.lock:
            table = self._table(cls)
            if ref in table:
                raise ValueError(f"{cls} {ref} exists already")
            gen = self._bump()
            table[ref] = rec
            self._stamps[(cls, ref)] = [gen, gen]
            self._uuids[cls][rec["uuid"]] = ref
            self._touch(cls, ref, gen)
            for fld, tcls, tset in schema.REFS_WITH_SETS.get(cls, ()):
                target = rec[fld]
                if target != NULL_REF:
                    self._set_add(tcls, target, tset, ref, gen)
            self._fire(created=(cls, ref))
            self.changed.notify_all()
        return ref

    def set(self, cls: str, ref: str, **fields: Any) -> None:
        """Write fields of one object (one generation, one `mod`); reverse sets follow."""
        spec = schema.spec(cls)
        unknown = set(fields) - set(spec.fields)
        if unknown:
            raise ValueError(f"{cls} has no field(s) {sorted(unknown)}")
        with self.lock:
            rec = self._table(cls).get(ref)
            if rec is None:
                raise handle_invalid(cls, ref)
            gen = self._bump()
            links = {fld: (tcls, tset) for fld, tcls, tset in schema.REFS_WITH_SETS.get(cls, ())}
            for k, v in fields.items():
                old = rec[k]
                rec[k] = _copy(v)
                if k == "uuid" and old != v:
                    self._uuids[cls].pop(old, None)
                    self._uuids[cls][v] = ref
                link = links.get(k)
                if link and old != v:
                    tcls, tset = link
                    if old != NULL_REF:
                        self._set_remove(tcls, old, tset, ref, gen)
                    if v != NULL_REF:
                        self._set_add(tcls, v, tset, ref, gen)
            self._touch(cls, ref, gen)
            self._fire()
            self.changed.notify_all()

    def delete(self, cls: str, ref: str) -> None:
        """Remove an object (`del` event); reverse sets and tracked references follow."""
        with self.lock:
            table = self._table(cls)
            rec = table.pop(ref, None)
            if rec is None:
                raise handle_invalid(cls, ref)
            gen = self._bump()
            ctime = self._stamps.pop((cls, ref))[0]
            self._changes.pop((cls, ref), None)
            self.render_cache.pop((cls, ref), None)
            if self._uuids[cls].get(rec["uuid"]) == ref:
                del self._uuids[cls][rec["uuid"]]
            for fld, tcls, tset in schema.REFS_WITH_SETS.get(cls, ()):
                if rec[fld] != NULL_REF:
                    self._set_remove(tcls, rec[fld], tset, ref, gen)
            for pcls, pfld, tset in schema.POINTED_BY.get(cls, ()):
                for member in rec[tset]:
                    prec = self._tables[pcls].get(member)
                    if prec is not None and prec[pfld] == ref:
                        prec[pfld] = NULL_REF
                        self._touch(pcls, member, gen)
            self._deleted.append((gen, cls, ref, ctime))
            if len(self._deleted) > _DELETED_KEPT:
                del self._deleted[: len(self._deleted) - _DELETED_KEPT]
            self._fire(deleted=(cls, ref))
            self.changed.notify_all()

    def touch(self, cls: str, ref: str) -> int:
        """Record a `mod` of an object without changing it (event.inject); -> generation."""
        with self.lock:
            if ref not in self._table(cls):
                raise handle_invalid(cls, ref)
            gen = self._bump()
            self._touch(cls, ref, gen)
            self._touched = {}  # not a persistent write: no write-through
            self.changed.notify_all()
            return gen

    # ----------------------------------------------------------------- changes

    def changes_since(
        self, since: int, classes: Iterable[str] | None = None
    ) -> tuple[list[tuple[str, str, str, int]], list[tuple[str, str, int]]]:
        """What changed after generation `since`, while holding `lock`.

        Returns `(live, deleted)`: live is `[(cls, ref, "add"|"mod", mtime)]` (add when the
        object was created after `since`), deleted is `[(cls, ref, gen)]` for objects that
        existed at `since` and are gone now. `classes=None` means every class.
        """
        wanted = None if classes is None else set(classes)
        live: list[tuple[str, str, str, int]] = []
        for (cls, ref), mtime in reversed(self._changes.items()):
            if mtime <= since:
                break
            if wanted is not None and cls not in wanted:
                continue
            ctime = self._stamps[(cls, ref)][0]
            live.append((cls, ref, "add" if ctime > since else "mod", mtime))
        deleted: list[tuple[str, str, int]] = []
        for gen, cls, ref, ctime in reversed(self._deleted):
            if gen <= since:
                break
            if ctime > since or (wanted is not None and cls not in wanted):
                continue
            deleted.append((cls, ref, gen))
        return live, deleted

    # ----------------------------------------------------------------- copies

    def copy(self, name: str | None = None) -> Database:
        """An independent deep copy (same refs, uuids and generation; no event history)."""
        other = Database(self.name if name is None else name)
        with self.lock:
            other.generation = self.generation
            for cls, table in self._tables.items():
                other._tables[cls] = {r: copy_record(rec) for r, rec in table.items()}
                other._uuids[cls] = dict(self._uuids[cls])
            other._stamps = {k: list(v) for k, v in self._stamps.items()}
            other._changes = dict(self._changes)
        return other

    def tables(self) -> dict[str, dict[str, dict[str, Any]]]:
        """A deep copy of every table: class -> ref -> record (what a redo log keeps)."""
        with self.lock:
            return {
                cls: {r: copy_record(rec) for r, rec in table.items()}
                for cls, table in self._tables.items()
            }

    @classmethod
    def from_tables(
        cls_, tables: dict[str, dict[str, dict[str, Any]]], generation: int, name: str = ""
    ) -> Database:
        """A database holding copies of `tables` (missing fields get defaults) at `generation`.

        Every object is stamped with `generation`, so an `event.from` with an empty token
        sees them all as `add`.
        """
        db = cls_(name)
        db.generation = int(generation)
        for cls, table in tables.items():
            if cls not in db._tables:
                continue
            spec = schema.spec(cls)
            for ref, row in table.items():
                rec = spec.defaults()
                for k, v in row.items():
                    if k in spec.fields:
                        rec[k] = _copy(v)
                db._tables[cls][ref] = rec
                db._uuids[cls][rec["uuid"]] = ref
                db._stamps[(cls, ref)] = [db.generation, db.generation]
                db._changes[(cls, ref)] = db.generation
        return db

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict of the whole database (datetimes as XAPI strings)."""
        with self.lock:
            tables: dict[str, dict[str, Any]] = {}
            for cls, table in self._tables.items():
                dts = [n for n, f in schema.spec(cls).fields.items() if f.kind == schema.D]
                out = {}
                for ref, rec in table.items():
                    row = copy_record(rec)
                    for n in dts:
                        row[n] = row[n].strftime(_DT_FORMAT)
                    ctime, mtime = self._stamps[(cls, ref)]
                    out[ref] = {"__ctime": ctime, "__mtime": mtime, **row}
                tables[cls] = out
            return {"name": self.name, "generation": self.generation, "tables": tables}

    @classmethod
    def from_json(cls_, data: dict[str, Any]) -> Database:
        """The database `to_json` wrote (fields unknown to this schema are dropped, missing
        ones get defaults, so a dump from an older simulator still loads)."""
        db = cls_(data.get("name", ""))
        db.generation = int(data["generation"])
        pending: list[tuple[int, str, str]] = []
        for cls, table in data["tables"].items():
            if cls not in db._tables:
                continue
            spec = schema.spec(cls)
            for ref, row in table.items():
                rec = spec.defaults()
                for n, f in spec.fields.items():
                    if n in row:
                        v = row[n]
                        if f.kind == schema.D and isinstance(v, str):
                            v = datetime.strptime(v, _DT_FORMAT).replace(tzinfo=UTC)
                        rec[n] = v
                db._tables[cls][ref] = rec
                db._uuids[cls][rec["uuid"]] = ref
                ctime, mtime = int(row.get("__ctime", 0)), int(row.get("__mtime", 0))
                db._stamps[(cls, ref)] = [ctime, mtime]
                pending.append((mtime, cls, ref))
        for mtime, cls, ref in sorted(pending):
            db._changes[(cls, ref)] = mtime
        return db
