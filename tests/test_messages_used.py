"""Every sentence in a message catalogue is said somewhere: no dead messages.

A catalogue (`messages.py` of a layer) holds every string a person reads; a constant no module
refers to is a message nobody can see, which misleads whoever edits the catalogue. A constant
counts as used when another module of the product names it, or when a used constant of its own
catalogue is built from it.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PRODUCT = ("engine", "commands", "store", "bot", "sim")
CATALOGUES = sorted(p for top in PRODUCT for p in (ROOT / top).rglob("*messages.py"))


def _constants(path: Path) -> list[str]:
    """The module-level UPPER_CASE names a catalogue assigns."""
    names = []
    for node in ast.parse(path.read_text()).body:
        targets = node.targets if isinstance(node, ast.Assign) else []
        if isinstance(node, ast.AnnAssign):
            targets = [node.target]
        names += [t.id for t in targets if isinstance(t, ast.Name) and t.id.isupper()]
    return names


def _product_sources() -> dict[Path, str]:
    return {p: p.read_text() for top in PRODUCT for p in (ROOT / top).rglob("*.py")}


def test_there_are_catalogues_to_check():
    """The engine's, the commands', the CLI's and Slack's catalogues are all found."""
    found = {str(p.relative_to(ROOT)) for p in CATALOGUES}
    assert {
        "engine/messages.py",
        "engine/run_messages.py",
        "commands/messages.py",
        "bot/slack/messages.py",
    } <= found


@pytest.mark.parametrize("catalogue", CATALOGUES, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_message_constant_is_used(catalogue: Path):
    """No constant of the catalogue goes unnamed by the rest of the product."""
    sources = _product_sources()
    own = sources[catalogue]
    unused = []
    for name in _constants(catalogue):
        word = re.compile(rf"\b{name}\b")
        elsewhere = any(word.search(text) for path, text in sources.items() if path != catalogue)
        if not elsewhere and len(word.findall(own)) < 2:
            unused.append(name)
    assert unused == []
