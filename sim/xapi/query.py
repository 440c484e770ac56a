"""The `get_all_records_where` expression language (xen-api `db_filter_lex/parse`).

    expr  := term ("or" term)*
    term  := unary ("and" unary)*
    unary := "not" unary | "(" expr ")" | "true" | "false" | value "=" value
    value := "field" LITERAL | LITERAL
    LITERAL := a double-quoted string, no escapes

A field is named as in the database (`name__label`; the API spelling `name_label` works
too) and compared as the database stores it: bools as "true"/"false", ints in decimal,
datetimes as `YYYYMMDDTHH:MM:SSZ`, sets and maps as s-expressions. A bad expression gives
`INVALID_VALUE [expr, reason]`.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import datetime
from typing import Any

from sim.xapi import schema
from sim.xapi.errors import INVALID_VALUE, XapiError

Predicate = Callable[[dict[str, Any]], bool]

_TOKEN = re.compile(r'\s*(?:(\()|(\))|(=)|"([^"]*)"|([A-Za-z_]+))')


def _tokens(expr: str) -> list[tuple[str, str]]:
    out: list[tuple[str, str]] = []
    pos = 0
    while pos < len(expr):
        if expr[pos:].strip() == "":
            break
        m = _TOKEN.match(expr, pos)
        if not m:
            raise ValueError(f"unexpected character at offset {pos}")
        pos = m.end()
        if m.group(1):
            out.append(("(", "("))
        elif m.group(2):
            out.append((")", ")"))
        elif m.group(3):
            out.append(("=", "="))
        elif m.group(4) is not None:
            out.append(("lit", m.group(4)))
        else:
            word = m.group(5).lower()
            if word not in ("and", "or", "not", "true", "false", "field"):
                raise ValueError(f"unknown word {m.group(5)!r}")
            out.append((word, word))
    return out


def db_string(v: Any) -> str:
    """A field value as the database stores it (what expressions compare against)."""
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, str):
        return v
    if isinstance(v, int | float):
        return str(v)
    if isinstance(v, datetime):
        return v.strftime("%Y%m%dT%H:%M:%SZ")
    if isinstance(v, list):
        return "(" + " ".join(f"'{db_string(x)}'" for x in v) + ")"
    if isinstance(v, dict):
        return "(" + " ".join(f"('{k}' '{db_string(x)}')" for k, x in v.items()) + ")"
    return str(v)


class _Parser:
    def __init__(self, tokens: list[tuple[str, str]], cls: str) -> None:
        self.toks = tokens
        self.i = 0
        self.fields = schema.spec(cls).fields
        self.cls = cls

    def peek(self) -> str | None:
        return self.toks[self.i][0] if self.i < len(self.toks) else None

    def take(self, kind: str) -> str:
        if self.peek() != kind:
            raise ValueError(f"expected {kind} at token {self.i}")
        self.i += 1
        return self.toks[self.i - 1][1]

    def expr(self) -> Predicate:
        left = self.term()
        while self.peek() == "or":
            self.i += 1
            right = self.term()
            left = (lambda a, b: lambda r: a(r) or b(r))(left, right)
        return left

    def term(self) -> Predicate:
        left = self.unary()
        while self.peek() == "and":
            self.i += 1
            right = self.unary()
            left = (lambda a, b: lambda r: a(r) and b(r))(left, right)
        return left

    def unary(self) -> Predicate:
        k = self.peek()
        if k == "not":
            self.i += 1
            inner = self.unary()
            return lambda r: not inner(r)
        if k == "(":
            self.i += 1
            inner = self.expr()
            self.take(")")
            return inner
        if k == "true":
            self.i += 1
            return lambda r: True
        if k == "false":
            self.i += 1
            return lambda r: False
        a = self.value()
        self.take("=")
        b = self.value()
        return lambda r: a(r) == b(r)

    def value(self) -> Callable[[dict[str, Any]], str]:
        if self.peek() == "field":
            self.i += 1
            name = schema.api_name(self.take("lit"))
            if name not in self.fields:
                raise ValueError(f"{self.cls} has no field {name!r}")
            return lambda r: db_string(r[name])
        lit = self.take("lit")
        return lambda r: lit


def compile_filter(expr: str, cls: str) -> Predicate:
    """A predicate over records of `cls`, or `INVALID_VALUE [expr, reason]`."""
    try:
        p = _Parser(_tokens(expr), cls)
        pred = p.expr()
        if p.i != len(p.toks):
            raise ValueError(f"unexpected {p.toks[p.i][1]!r} at token {p.i}")
        return pred
    except ValueError as e:
        raise XapiError(INVALID_VALUE, expr, str(e)) from None
