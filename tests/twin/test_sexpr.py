"""XAPI's value encoding in its XML database: %-protection and s-expression sets and maps."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sim.xapi.twin.sexpr import SexprError, parse_map, parse_set, unprotect


def _encode_string(s: str) -> str:
    """A string as SExpr.string_of writes it (ocaml/libs/sexpr/sExpr.ml): quoted, with
    backslash and quote escaped by a backslash."""
    return "'" + s.replace("\\", "\\\\").replace("'", "\\'") + "'"


def _encode_map(d: dict[str, str]) -> str:
    return "(" + " ".join(f"({_encode_string(k)} {_encode_string(v)})" for k, v in d.items()) + ")"


def _protect(s: str) -> str:
    """Xml_spaces.protect since CA-268761: every space, tab, newline, CR and % escaped."""
    table = {" ": "%.", "\t": "%t", "\n": "%n", "\r": "%r", "%": "%%"}
    return "".join(table.get(c, c) for c in s)


@pytest.mark.parametrize(
    ("stored", "value"),
    [
        ("Local%.storage", "Local storage"),
        ("CPU%_%_ X3450", "CPU     X3450"),  # before 2017: a pair of spaces was %_
        ("a%tb%nc%rd", "a\tb\nc\rd"),
        ("100%%", "100%"),
        ("50%x", "50%x"),
        ("plain", "plain"),
    ],
)
def test_unprotect_undoes_each_escape_of_xml_spaces(stored: str, value: str) -> None:
    """Each escape xapi writes (old %_ pairs and new %. singles) reads back as written."""
    assert unprotect(stored) == value


def test_sets_and_maps_parse_with_escapes() -> None:
    """Sets and maps in xapi's s-expression syntax, quotes and backslashes escaped."""
    assert parse_set("()") == []
    assert parse_set("('OpaqueRef:a' 'OpaqueRef:b')") == ["OpaqueRef:a", "OpaqueRef:b"]
    assert parse_map("(('it\\'s' 'a\\\\b') ('k' ''))") == {"it's": "a\\b", "k": ""}
    assert parse_map('(("double" "quoted"))') == {"double": "quoted"}


@pytest.mark.parametrize("text", ["(('a' 'b')", "('a'))", "(('a' 'b' 'c'))", "('a", "(a) (b)"])
def test_malformed_s_expressions_are_refused(text: str) -> None:
    """Unbalanced parentheses, a triple where a pair belongs and two expressions are errors."""
    with pytest.raises(SexprError):
        parse_map(text)


@given(st.dictionaries(st.text(min_size=1), st.text(), max_size=6))
def test_any_map_survives_xapis_encoding_and_protection(d: dict[str, str]) -> None:
    """A map written as xapi writes it (s-expression, then %-protected) reads back equal."""
    assert parse_map(unprotect(_protect(_encode_map(d)))) == d
