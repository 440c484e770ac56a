"""Values as XAPI writes them into its XML database: space protection and s-expressions.

Two layers, undone in this order (xen-api `ocaml/database/db_xml.ml` reads an attribute, then
`Xml_spaces.unprotect`s it, then the column's type unmarshals it):

1. **Space protection** (`ocaml/database/xml_spaces.ml`). XML normalises whitespace inside
   attribute values, so xapi escapes it with `%`: since 2017 (CA-268761) every space is
   written `%.`; before that only a pair of spaces was written `%_` (one space stayed
   literal, which XML keeps). Tab, newline and carriage return are `%t`, `%n`, `%r`, and a
   literal `%` is `%%`. Any other `%x` is left as it is, as xapi does.
2. **S-expressions** for sets and maps (`ocaml/database/string_marshall_helper.ml`,
   `ocaml/libs/sexpr/`): a set is `('a' 'b')`, a map `(('k1' 'v1') ('k2' 'v2'))`, the empty
   set or map `()`. Strings are single-quoted (the reader also takes double quotes); inside
   them a backslash makes the next character literal, so `\\'` is a quote and `\\\\` a
   backslash.
"""

from __future__ import annotations

import re

_PROTECTED = re.compile(r"%([._tnr%])")
_UNPROTECT = {".": " ", "_": "  ", "t": "\t", "n": "\n", "r": "\r", "%": "%"}

# The lexer of ocaml/libs/sexpr/sExprLexer.mll: blanks, `;` comments, quoted strings, symbols.
_TOKEN = re.compile(
    r"""[ \t\r\n]+|;[^\n]*(?:\n|$)"""
    r"""|'((?:[^'\\]|\\.)*)'|"((?:[^"\\]|\\.)*)"|(\()|(\))|([^"' \t\n()]+)""",
    re.DOTALL,
)


class SexprError(ValueError):
    """Text that is not a well-formed s-expression of strings."""


def unprotect(value: str) -> str:
    """An attribute value as xapi stored it, with its `%` escapes undone."""
    if "%" not in value:
        return value
    return _PROTECTED.sub(lambda m: _UNPROTECT[m.group(1)], value)


def _unescape(text: str) -> str:
    if "\\" not in text:
        return text
    out = []
    escaped = False
    for ch in text:
        if escaped or ch != "\\":
            out.append(ch)
            escaped = False
        else:
            escaped = True
    if escaped:  # a trailing lone backslash stays, as SExpr.unescape keeps it
        out.append("\\")
    return "".join(out)


def _parse(text: str) -> list[object]:
    """The s-expression `text` as nested lists of strings (symbols count as strings)."""
    stack: list[list[object]] = [[]]
    pos = 0
    end = len(text)
    while pos < end:
        m = _TOKEN.match(text, pos)
        if m is None:
            raise SexprError(f"unexpected character at {pos}")
        pos = m.end()
        single, double, opened, closed, symbol = m.groups()
        if opened:
            stack.append([])
        elif closed:
            if len(stack) == 1:
                raise SexprError("')' without '('")
            done = stack.pop()
            stack[-1].append(done)
        elif single is not None:
            stack[-1].append(_unescape(single))
        elif double is not None:
            stack[-1].append(_unescape(double))
        elif symbol is not None:
            stack[-1].append(symbol)
    if len(stack) != 1:
        raise SexprError("'(' without ')'")
    if len(stack[0]) != 1:
        raise SexprError("not exactly one expression")
    return stack[0]


def parse_set(text: str) -> list[str]:
    """A set field: `('a' 'b')` -> ['a', 'b']."""
    if text == "()":
        return []
    (node,) = _parse(text)
    if not isinstance(node, list) or not all(isinstance(x, str) for x in node):
        raise SexprError("a set is a list of strings")
    return [str(x) for x in node]


def parse_map(text: str) -> dict[str, str]:
    """A map field: `(('k' 'v'))` -> {'k': 'v'} (a later duplicate key wins)."""
    if text == "()":
        return {}
    (node,) = _parse(text)
    if not isinstance(node, list):
        raise SexprError("a map is a list of pairs")
    out: dict[str, str] = {}
    for pair in node:
        if not (
            isinstance(pair, list) and len(pair) == 2 and all(isinstance(x, str) for x in pair)
        ):
            raise SexprError("a map entry is a pair of strings")
        out[str(pair[0])] = str(pair[1])
    return out
