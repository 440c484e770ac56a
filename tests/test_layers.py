"""The dependency rules of shared/design.md, checked on the imports of every module."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

# layer -> top-level packages it must never import
BANNED = {
    "engine": {"bot", "commands", "sim", "slack_bolt", "slack_sdk"},
    "commands": {"bot", "sim", "slack_bolt", "slack_sdk", "XenAPI"},
    "store": {"bot", "commands", "engine", "sim", "slack_bolt", "slack_sdk", "XenAPI"},
    "sim": {"bot", "commands", "engine", "store"},
}

# The product may reach into sim/ only where the CLI starts or steers the simulators.
SIM_IMPORTERS = {"bot/cli_sim.py", "bot/demo.py", "bot/cli_rehearse.py"}


def _imports(path: Path) -> list[tuple[int, str]]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.append((node.lineno, node.module))
    return found


def _modules(*layers: str) -> list[Path]:
    return sorted(p for layer in layers for p in (ROOT / layer).rglob("*.py"))


@pytest.mark.parametrize("layer", sorted(BANNED))
def test_layer_imports_only_downwards(layer: str) -> None:
    """No module of a layer imports a package its layer must not know."""
    bad = [
        f"{path.relative_to(ROOT)}:{line} imports {name}"
        for path in _modules(layer)
        for line, name in _imports(path)
        if name.split(".")[0] in BANNED[layer]
    ]
    assert bad == []


def test_only_one_engine_module_imports_xenapi() -> None:
    """Every XAPI call goes through one narrow client: one module of engine/ imports XenAPI."""
    users = {
        str(path.relative_to(ROOT))
        for path in _modules("engine", "bot", "commands", "store")
        for _, name in _imports(path)
        if name.split(".")[0] == "XenAPI"
    }
    assert users <= {"engine/xapi.py"}


def test_product_imports_sim_only_to_run_it() -> None:
    """The product imports sim/ only in the CLI that starts the simulators and the demo."""
    users = {
        str(path.relative_to(ROOT))
        for path in _modules("bot", "commands", "engine", "store")
        for _, name in _imports(path)
        if name.split(".")[0] == "sim"
    }
    assert users <= SIM_IMPORTERS
