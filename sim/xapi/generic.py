"""The generic messages every stored class has, generated from the schema (reference §1.7).

`get_record`, `get_by_uuid`, `get_by_name_label` (classes with a name), `get_all`,
`get_all_records`, `get_all_where`, `get_all_records_where`, a getter per field, and for
read-write fields a setter (plus `add_to_<map>` / `remove_from_<map>` for maps and
`add_<set>` / `remove_<set>` for string sets). They are registered with `generated=True`,
so a method the world registers under the same name wins whatever the import order.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sim.xapi import schema
from sim.xapi.api import Call, method
from sim.xapi.errors import FIELD_TYPE_ERROR, MAP_DUPLICATE_KEY, XapiError, handle_invalid
from sim.xapi.query import compile_filter
from sim.xapi.schema import NULL_REF, ClassSpec, Field
from sim.xapi.wire import Record, RecordMap, parse_datetime


def _db(call: Call, cls: str) -> Any:
    # Tasks live in the pool's own database even for a foreign-database session.
    return call.pool.db if cls == "task" else call.db


def _check_ref(call: Call, cls: str, ref: Any) -> str:
    if not isinstance(ref, str) or not _db(call, cls).exists(cls, ref):
        raise handle_invalid(cls, str(ref))
    return ref


def coerce(f: Field, value: Any) -> Any:
    """An input value converted to the field's kind, or `FIELD_TYPE_ERROR [field]`."""
    try:
        k = f.kind
        if k == schema.S or k == schema.R:
            if isinstance(value, str):
                return value
        elif k == schema.I:
            if isinstance(value, int) and not isinstance(value, bool):
                return value
            if isinstance(value, str):
                return int(value)
        elif k == schema.F:
            if isinstance(value, int | float | str) and not isinstance(value, bool):
                return float(value)
        elif k == schema.B:
            if isinstance(value, bool):
                return value
        elif k == schema.D:
            if isinstance(value, datetime):
                return value if value.tzinfo else value.replace(tzinfo=UTC)
            if isinstance(value, str):
                return parse_datetime(value)
        elif k in (schema.SS, schema.RS):
            if isinstance(value, list) and all(isinstance(x, str) for x in value):
                return list(dict.fromkeys(value))
        elif k == schema.M and isinstance(value, dict):
            sub = Field(f.name, f.value_kind)
            return {str(kk): coerce(sub, vv) for kk, vv in value.items()}
    except (ValueError, TypeError, XapiError):
        pass
    raise XapiError(FIELD_TYPE_ERROR, f.name)


def _register_class(spec: ClassSpec) -> None:
    cls = spec.name
    low = cls.lower()

    def reg(msg: str, params: list[Any], read: bool) -> Any:
        return method(f"{cls}.{msg}", params, perm=f"{low}.{msg}", read=read, generated=True)

    @reg("get_record", ["self"], True)
    def get_record(call: Call, ref: str) -> Record:
        return Record(_db(call, cls), cls, _check_ref(call, cls, ref))

    @reg("get_by_uuid", ["uuid"], True)
    def get_by_uuid(call: Call, uuid: str) -> str:
        return _db(call, cls).by_uuid(cls, str(uuid))

    if spec.has_name_label:

        @reg("get_by_name_label", ["label"], True)
        def get_by_name_label(call: Call, label: str) -> list[str]:
            return _db(call, cls).by_name_label(cls, label)

    if spec.get_all:

        @reg("get_all", [], True)
        def get_all(call: Call) -> list[str]:
            return _db(call, cls).refs(cls)

        @reg("get_all_records", [], True)
        def get_all_records(call: Call) -> RecordMap:
            return RecordMap(_db(call, cls), cls, _db(call, cls).refs(cls))

        def _where(call: Call, expr: str) -> list[str]:
            pred = compile_filter(str(expr), cls)
            db = _db(call, cls)
            with db.lock:
                return [r for r in db.refs(cls) if pred(db.live(cls, r))]

        @reg("get_all_where", ["expr"], True)
        def get_all_where(call: Call, expr: str) -> list[str]:
            return _where(call, expr)

        @reg("get_all_records_where", ["expr"], True)
        def get_all_records_where(call: Call, expr: str) -> RecordMap:
            return RecordMap(_db(call, cls), cls, _where(call, expr))

    for f in spec.fields.values():
        _register_field(cls, low, f)


def _register_field(cls: str, low: str, f: Field) -> None:
    name = f.name

    @method(f"{cls}.get_{name}", ["self"], perm=f"{low}.get_{name}", read=True, generated=True)
    def getter(call: Call, ref: str) -> Any:
        return _db(call, cls).get_field(cls, _check_ref(call, cls, ref), name)

    if not f.rw:
        return

    @method(f"{cls}.set_{name}", ["self", "value"], perm=f"{low}.set_{name}", generated=True)
    def setter(call: Call, ref: str, value: Any) -> str:
        _check_ref(call, cls, ref)
        v = coerce(f, value)
        if f.kind == schema.R and f.target and v != NULL_REF:
            _check_ref(call, f.target, v)
        _db(call, cls).set(cls, ref, **{name: v})
        return ""

    if f.kind == schema.M:

        @method(
            f"{cls}.add_to_{name}",
            ["self", "key", "value"],
            perm=f"{low}.add_to_{name}",
            generated=True,
        )
        def add_to(call: Call, ref: str, key: str, value: Any) -> str:
            db = _db(call, cls)
            with db.lock:
                current = db.get_field(cls, _check_ref(call, cls, ref), name)
                if key in current:
                    uuid = db.get_field(cls, ref, "uuid")
                    raise XapiError(MAP_DUPLICATE_KEY, cls, name, uuid, key)
                current[str(key)] = coerce(Field(name, f.value_kind), value)
                db.set(cls, ref, **{name: current})
            return ""

        @method(
            f"{cls}.remove_from_{name}",
            ["self", "key"],
            perm=f"{low}.remove_from_{name}",
            generated=True,
        )
        def remove_from(call: Call, ref: str, key: str) -> str:
            db = _db(call, cls)
            with db.lock:
                current = db.get_field(cls, _check_ref(call, cls, ref), name)
                if key in current:
                    del current[key]
                    db.set(cls, ref, **{name: current})
            return ""

    if f.kind == schema.SS:

        @method(f"{cls}.add_{name}", ["self", "value"], perm=f"{low}.add_{name}", generated=True)
        def add_member(call: Call, ref: str, value: str) -> str:
            db = _db(call, cls)
            with db.lock:
                current = db.get_field(cls, _check_ref(call, cls, ref), name)
                if value not in current:
                    db.set(cls, ref, **{name: [*current, str(value)]})
            return ""

        @method(
            f"{cls}.remove_{name}", ["self", "value"], perm=f"{low}.remove_{name}", generated=True
        )
        def remove_member(call: Call, ref: str, value: str) -> str:
            db = _db(call, cls)
            with db.lock:
                current = db.get_field(cls, _check_ref(call, cls, ref), name)
                if value in current:
                    db.set(cls, ref, **{name: [x for x in current if x != value]})
            return ""


def register_all() -> None:
    """Register the generic messages of every stored class (idempotent)."""
    for spec in schema.CLASSES.values():
        if spec.in_db:
            _register_class(spec)


register_all()
