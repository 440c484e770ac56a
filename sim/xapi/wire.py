"""XAPI's two wire formats: XML-RPC and JSON-RPC, decoding requests and encoding results.

Encoding follows reference §1.3-§1.4 and xen-api's wire-protocol.md:
- XML-RPC: strings untyped (`<value>text</value>`), ints as digit strings, `<boolean>`,
  `<double>` printed `%.16g`, datetimes `YYYYMMDDTHH:MM:SSZ`, sets as arrays, maps as
  structs, void as an empty string; only `I4` values (event.from's valid_ref_counts) are
  `<i4>`. The envelope is a struct with `Status` first, then `Value` or `ErrorDescription`.
- JSON-RPC: v1 `{"result", "error": [code, args...], "id"}`, v2 `{"jsonrpc", "result" |
  "error": {"code", "message", "data"}, "id"}`; ints are JSON numbers, datetimes strings.
- A request malformed at the XML or JSON-RPC level is a `MalformedRequest`, which the
  server answers with HTTP 500 and an HTML body, as xapi does.

Records served by the generic getters travel as `Record` / `RecordMap` markers: their
serialised form is cached per database object and per mtime, so `get_all_records` of a
large pool is mostly a join of cached strings (and the rendering of stale ones happens
outside the database lock).
"""

from __future__ import annotations

import json
import xmlrpc.client
from collections.abc import Iterator
from datetime import UTC, datetime
from html import escape as html_escape
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from sim.xapi.db import Database

DT_FORMAT = "%Y%m%dT%H:%M:%SZ"


class MalformedRequest(Exception):
    """The request is not a well-formed XML-RPC / JSON-RPC call: HTTP 500."""


class I4(int):
    """An int sent as XML-RPC `<i4>` (XAPI does so only in event.from's valid_ref_counts)."""


class Record:
    """One database record, to be rendered from the fragment cache."""

    __slots__ = ("cls", "db", "ref")

    def __init__(self, db: Database, cls: str, ref: str) -> None:
        self.db, self.cls, self.ref = db, cls, ref


class RecordMap:
    """ref -> record for several records of one class, rendered from the fragment cache."""

    __slots__ = ("cls", "db", "refs")

    def __init__(self, db: Database, cls: str, refs: list[str]) -> None:
        self.db, self.cls, self.refs = db, cls, refs


# ---------------------------------------------------------------------- XML encoding


def _xml_escape(s: str) -> str:
    if "&" in s:
        s = s.replace("&", "&amp;")
    if "<" in s:
        s = s.replace("<", "&lt;")
    if ">" in s:
        s = s.replace(">", "&gt;")
    return s


_NAME_TAGS: dict[str, str] = {}


def _member_open(name: str) -> str:
    tag = _NAME_TAGS.get(name)
    if tag is None:
        tag = "<member><name>" + _xml_escape(name) + "</name>"
        if len(_NAME_TAGS) < 100_000:
            _NAME_TAGS[name] = tag
    return tag


def xml_value(v: Any) -> str:
    """`<value>...</value>` for one Python value, in XAPI's encoding."""
    t = type(v)
    if t is str:
        return "<value>" + _xml_escape(v) + "</value>"
    if t is bool:
        return "<value><boolean>1</boolean></value>" if v else "<value><boolean>0</boolean></value>"
    if t is int:
        return "<value>" + str(v) + "</value>"
    if t is I4:
        return "<value><i4>" + str(int(v)) + "</i4></value>"
    if t is float:
        return "<value><double>" + format(v, ".16g") + "</double></value>"
    if t is dict:
        return "<value>" + xml_struct(v) + "</value>"
    if t is list or t is tuple:
        return "<value><array><data>" + "".join(map(xml_value, v)) + "</data></array></value>"
    if v is None:
        return "<value></value>"
    if t is datetime:
        return "<value><dateTime.iso8601>" + format_datetime(v) + "</dateTime.iso8601></value>"
    if t is Record:
        frags = render_records(v.db, v.cls, [v.ref], 0)
        if not frags:
            return "<value><struct></struct></value>"
        return "<value>" + frags[0][1] + "</value>"
    if t is RecordMap:
        parts = ["<value><struct>"]
        for ref, frag in render_records(v.db, v.cls, v.refs, 0):
            parts.append(_member_open(ref) + "<value>" + frag + "</value></member>")
        parts.append("</struct></value>")
        return "".join(parts)
    if isinstance(v, bool):
        return xml_value(bool(v))
    if isinstance(v, int):
        return xml_value(int(v))
    if isinstance(v, float):
        return xml_value(float(v))
    if isinstance(v, str):
        return xml_value(str(v))
    if isinstance(v, datetime):
        return xml_value(datetime.fromtimestamp(v.timestamp(), UTC))
    if isinstance(v, set | frozenset):
        return xml_value(sorted(v))
    if isinstance(v, dict):
        return xml_value(dict(v))
    raise TypeError(f"cannot send {type(v).__name__} over XML-RPC")


def xml_struct(d: dict[str, Any]) -> str:
    return (
        "<struct>"
        + "".join([_member_open(str(k)) + xml_value(x) + "</member>" for k, x in d.items()])
        + "</struct>"
    )


def format_datetime(v: datetime) -> str:
    if v.tzinfo is not None:
        v = v.astimezone(UTC)
    return v.strftime(DT_FORMAT)


_XML_HEAD = '<?xml version="1.0"?>\n<methodResponse><params><param><value><struct>'
_XML_TAIL = "</struct></value></param></params></methodResponse>\n"


def xml_success_parts(value: Any) -> list[str]:
    """The success response as a list of string pieces (big results are never one string)."""
    out = [
        _XML_HEAD
        + "<member><name>Status</name><value>Success</value></member>"
        + "<member><name>Value</name>"
    ]
    _xml_parts(value, out)
    out.append("</member>" + _XML_TAIL)
    return out


_NESTS = (Record, RecordMap, dict, list)


def _xml_parts(v: Any, out: list[str]) -> None:
    t = type(v)
    if t is RecordMap:
        out.append("<value><struct>")
        for ref, frag in render_records(v.db, v.cls, v.refs, 0):
            out.append(_member_open(ref) + "<value>")
            out.append(frag)
            out.append("</value></member>")
        out.append("</struct></value>")
    elif t is dict and any(type(x) in _NESTS for x in v.values()):
        out.append("<value><struct>")
        for k, x in v.items():
            out.append(_member_open(str(k)))
            _xml_parts(x, out)
            out.append("</member>")
        out.append("</struct></value>")
    elif t is list and any(type(x) in _NESTS for x in v):
        out.append("<value><array><data>")
        for x in v:
            _xml_parts(x, out)
        out.append("</data></array></value>")
    else:
        out.append(xml_value(v))


def xml_failure(description: list[str]) -> bytes:
    return (
        _XML_HEAD
        + "<member><name>Status</name><value>Failure</value></member>"
        + "<member><name>ErrorDescription</name>"
        + xml_value([str(x) for x in description])
        + "</member>"
        + _XML_TAIL
    ).encode()


def task_result(value: Any) -> str:
    """A task's `result` field: the XML-RPC serialisation of the return value."""
    return xml_value("" if value is None else value)


# ---------------------------------------------------------------------- JSON encoding


def _json_default(v: Any) -> Any:
    if isinstance(v, datetime):
        return format_datetime(v)
    if isinstance(v, set | frozenset | tuple):
        return list(v)
    raise TypeError(f"cannot send {type(v).__name__} over JSON-RPC")


_dumps = json.JSONEncoder(default=_json_default, ensure_ascii=False, separators=(",", ":")).encode


def json_value(v: Any) -> str:
    """JSON text of one Python value, in XAPI's JSON-RPC encoding."""
    t = type(v)
    if t is Record:
        frags = render_records(v.db, v.cls, [v.ref], 1)
        return frags[0][1] if frags else "{}"
    if t is RecordMap:
        return (
            "{"
            + ",".join(
                [_dumps(ref) + ":" + frag for ref, frag in render_records(v.db, v.cls, v.refs, 1)]
            )
            + "}"
        )
    if t is dict:
        if any(type(x) in (Record, RecordMap, dict, list) for x in v.values()):
            return (
                "{" + ",".join([_dumps(str(k)) + ":" + json_value(x) for k, x in v.items()]) + "}"
            )
        return _dumps(v)
    if t is list:
        if any(type(x) in (Record, RecordMap, dict) for x in v):
            return "[" + ",".join([json_value(x) for x in v]) + "]"
        return _dumps(v)
    if v is None:
        return '""'
    return _dumps(v)


def json_success_parts(value: Any, req_id: Any, v2: bool) -> list[str]:
    """The JSON-RPC success response as a list of string pieces."""
    out = ['{"jsonrpc":"2.0","result":' if v2 else '{"result":']
    _json_parts(value, out)
    out.append((',"id":' if v2 else ',"error":null,"id":') + _dumps(req_id) + "}")
    return out


def _json_parts(v: Any, out: list[str]) -> None:
    t = type(v)
    if t is RecordMap:
        out.append("{")
        first = True
        for ref, frag in render_records(v.db, v.cls, v.refs, 1):
            out.append(("" if first else ",") + _dumps(ref) + ":")
            out.append(frag)
            first = False
        out.append("}")
    elif t is dict and any(
        type(x) in (Record, RecordMap) or type(x) in (dict, list) for x in v.values()
    ):
        out.append("{")
        for i, (k, x) in enumerate(v.items()):
            out.append(("," if i else "") + _dumps(str(k)) + ":")
            _json_parts(x, out)
        out.append("}")
    elif t is list and any(type(x) in _NESTS for x in v):
        out.append("[")
        for i, x in enumerate(v):
            if i:
                out.append(",")
            _json_parts(x, out)
        out.append("]")
    else:
        out.append(json_value(v))


def encoded_length(parts: list[str]) -> int:
    """The UTF-8 length of the joined parts, without joining them."""
    return sum(len(p) if p.isascii() else len(p.encode()) for p in parts)


def encoded_batches(parts: list[str], size: int = 1 << 20) -> Iterator[bytes]:
    """The joined parts as UTF-8 bytes, about `size` characters at a time."""
    batch: list[str] = []
    n = 0
    for p in parts:
        batch.append(p)
        n += len(p)
        if n >= size:
            yield "".join(batch).encode()
            batch, n = [], 0
    if batch:
        yield "".join(batch).encode()


def json_failure(description: list[str], req_id: Any, v2: bool) -> bytes:
    desc = [str(x) for x in description]
    if v2:
        err = {"code": 1, "message": desc[0], "data": desc[1:]}
        return _dumps({"jsonrpc": "2.0", "error": err, "id": req_id}).encode()
    return _dumps({"result": None, "error": desc, "id": req_id}).encode()


# ---------------------------------------------------------------------- record cache


def render_records(db: Database, cls: str, refs: list[str], kind: int) -> list[tuple[str, str]]:
    """[(ref, fragment)] for the records that still exist; kind 0 = XML struct, 1 = JSON.

    Fresh fragments come from `db.render_cache`; stale ones are copied under the lock and
    rendered outside it, then cached with the mtime they were copied at.
    """
    out: list[tuple[str, str]] = []
    todo: list[tuple[int, str, int, dict[str, Any]]] = []
    cache = db.render_cache
    with db.lock:
        for ref in refs:
            mtime = db.stamp_of(cls, ref)
            if mtime is None:
                continue
            hit = cache.get((cls, ref))
            text = None
            if hit is not None and hit[0] == mtime:
                text = hit[1] if kind == 0 else hit[2]
            if text is not None:
                out.append((ref, text))
            else:
                todo.append((len(out), ref, mtime, db.get(cls, ref)))
                out.append((ref, ""))
    rendered = []
    for idx, ref, mtime, rec in todo:
        frag = xml_struct(rec) if kind == 0 else _dumps(rec)
        out[idx] = (ref, frag)
        rendered.append((ref, mtime, frag))
    if rendered:
        # Stored under the lock, and only while the object is still as rendered, so that a
        # write or delete racing with the render never leaves a stale or orphan entry.
        with db.lock:
            for ref, mtime, frag in rendered:
                if db.stamp_of(cls, ref) != mtime:
                    continue
                key = (cls, ref)
                hit = cache.get(key)
                if hit is not None and hit[0] == mtime:
                    cache[key] = (mtime, frag, hit[2]) if kind == 0 else (mtime, hit[1], frag)
                else:
                    cache[key] = (mtime, frag, None) if kind == 0 else (mtime, None, frag)
    return out


# ---------------------------------------------------------------------- decoding


def parse_datetime(text: str) -> datetime:
    """XAPI datetimes: `YYYYMMDDTHH:MM:SSZ`, with dashes, `Z` or an offset, or none."""
    t = text.strip()
    for fmt in ("%Y%m%dT%H:%M:%SZ", "%Y%m%dT%H:%M:%S", "%Y-%m-%dT%H:%M:%SZ"):
        try:
            return datetime.strptime(t, fmt).replace(tzinfo=UTC)
        except ValueError:
            pass
    try:
        d = datetime.fromisoformat(t.replace("Z", "+00:00"))
    except ValueError:
        raise MalformedRequest(f"bad dateTime.iso8601 value {text!r}") from None
    return d if d.tzinfo else d.replace(tzinfo=UTC)


def _plain(v: Any) -> Any:
    if isinstance(v, xmlrpc.client.DateTime):
        return parse_datetime(v.value)
    if isinstance(v, xmlrpc.client.Binary):
        return v.data
    if isinstance(v, list | tuple):
        return [_plain(x) for x in v]
    if isinstance(v, dict):
        return {k: _plain(x) for k, x in v.items()}
    return v


def decode_xml_request(body: bytes) -> tuple[str, list[Any]]:
    """(method name, params) of an XML-RPC methodCall, or `MalformedRequest`."""
    if b"<params" not in body:
        raise MalformedRequest('Xmlrpc.Parse_error("close_tag", "open_tag", _)')
    try:
        params, name = xmlrpc.client.loads(body, use_builtin_types=False)
    except Exception as e:
        raise MalformedRequest(f"Xmlrpc.Parse_error({type(e).__name__}: {e})") from None
    if not name:
        raise MalformedRequest("Xmlrpc.Parse_error: no methodName")
    return name, [_plain(p) for p in params]


def decode_json_request(body: bytes) -> tuple[str, list[Any], Any, bool]:
    """(method, params, id, is_v2) of a JSON-RPC call, or `MalformedRequest`."""
    try:
        req = json.loads(body)
    except ValueError as e:
        raise MalformedRequest(f"Jsonrpc.Parse_error({e})") from None
    if (
        not isinstance(req, dict)
        or not isinstance(req.get("method"), str)
        or not isinstance(req.get("params"), list)
        or req.get("id") is None
    ):
        raise MalformedRequest(
            'Jsonrpc.Malformed_method_request("{jsonrpc=...,method=...,id=...}")'
        )
    return req["method"], req["params"], req["id"], req.get("jsonrpc") == "2.0"


def html_500(detail: str) -> bytes:
    """The HTML body xapi sends with HTTP 500."""
    return (
        "<html><body><h1>HTTP 500 internal server error</h1>An unexpected error occurred;"
        " please wait a while and try again. If the problem persists, please contact your"
        " support representative.<h1> Additional information </h1>"
        + html_escape(detail)
        + "</body></html>"
    ).encode()
