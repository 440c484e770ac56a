"""No import cycle among the modules of the product (bot, commands, engine, store) or of the
simulators (sim/xapi, sim/slack).

The graph is read from the source with `ast`, not from what Python happened to import, so an
import hidden inside a function body (the usual way to dodge a cycle at import time) is an
edge like any other. Imports under `if TYPE_CHECKING:` are left out: they are never executed
and exist only so that annotations can name a type.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PRODUCT = ("bot", "commands", "engine", "store")
SIMULATORS = ("sim/xapi", "sim/slack")


def module_name(path: Path, root: Path = ROOT) -> str:
    """`engine/kinds/recovery.py` -> `engine.kinds.recovery`; a package is its `__init__`."""
    parts = path.relative_to(root).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _is_type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _import_nodes(tree: ast.AST) -> Iterator[ast.Import | ast.ImportFrom]:
    """Every import statement, at any depth, except those under `if TYPE_CHECKING:`."""
    stack: list[ast.AST] = [tree]
    while stack:
        node = stack.pop()
        if isinstance(node, ast.If) and _is_type_checking(node):
            stack.extend(node.orelse)
            continue
        if isinstance(node, ast.Import | ast.ImportFrom):
            yield node
        stack.extend(ast.iter_child_nodes(node))


def imported_modules(path: Path, known: set[str], root: Path = ROOT) -> set[str]:
    """The modules of `known` that the file at `path` imports (relative imports resolved)."""
    me = module_name(path, root)
    package = me if path.name == "__init__.py" else me.rpartition(".")[0]
    found: set[str] = set()
    for node in _import_nodes(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        else:
            base = node.module or ""
            if node.level:
                anchor = package.split(".")
                anchor = anchor[: len(anchor) - (node.level - 1)]
                base = ".".join([*anchor, base] if base else anchor)
            # `from pkg import name` imports the submodule `pkg.name` when there is one.
            targets = [
                f"{base}.{alias.name}" if f"{base}.{alias.name}" in known else base
                for alias in node.names
            ]
        for target in targets:
            # `import a.b.c` names a.b.c; keep the longest prefix that is one of our modules.
            parts = target.split(".")
            while parts and ".".join(parts) not in known:
                parts.pop()
            if parts and ".".join(parts) != me:
                found.add(".".join(parts))
    return found


def import_graph(*dirs: str, root: Path = ROOT) -> dict[str, set[str]]:
    """module -> the modules it imports, over every `.py` file under `dirs` of `root`."""
    files = [p for d in dirs for p in sorted((root / d).rglob("*.py"))]
    known = {module_name(p, root) for p in files}
    return {module_name(p, root): imported_modules(p, known, root) for p in files}


def find_cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Each strongly connected component of more than one module (Tarjan), as a sorted list."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    on_stack: set[str] = set()
    stack: list[str] = []
    cycles: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in sorted(graph.get(node, ())):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                top = stack.pop()
                on_stack.discard(top)
                component.append(top)
                if top == node:
                    break
            if len(component) > 1:
                cycles.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return sorted(cycles)


@pytest.mark.parametrize("roots", [PRODUCT, SIMULATORS], ids=["product", "simulators"])
def test_no_import_cycle(roots: tuple[str, ...]) -> None:
    """No group of modules imports itself back, at module top or inside a function."""
    assert find_cycles(import_graph(*roots)) == []


def test_a_cycle_through_a_function_body_import_is_found(tmp_path: Path) -> None:
    """An import inside a function that closes a loop is reported with every module on it."""
    pkg = tmp_path / "pkg"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    (pkg / "a.py").write_text("from pkg import b\n")
    (pkg / "b.py").write_text("from . import c\n")
    (pkg / "c.py").write_text("def late():\n    from pkg.a import thing\n")
    (pkg / "d.py").write_text(
        "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from pkg import a\n"
    )
    graph = import_graph("pkg", root=tmp_path)
    assert graph["pkg.d"] == set()
    assert find_cycles(graph) == [["pkg.a", "pkg.b", "pkg.c"]]
