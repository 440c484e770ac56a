"""Every `type: ignore` in the code mypy checks names the error it silences and says why on
the same line: `# type: ignore[code]  # reason`. A bare one hides every error on its line,
present and future, and one without a reason cannot be judged when the code around it changes.
"""

from __future__ import annotations

import io
import re
import tokenize
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CHECKED = ("bot", "commands", "engine", "store", "sim")

IGNORE = re.compile(r"type:\s*ignore")
EXPLAINED = re.compile(r"#\s*type:\s*ignore\[[a-z-]+(,\s*[a-z-]+)*\]\s+#\s*\S")


def type_ignores(source: str) -> list[tuple[int, str]]:
    """(line, comment) of each comment that holds a `type: ignore`."""
    return [
        (tok.start[0], tok.string)
        for tok in tokenize.generate_tokens(io.StringIO(source).readline)
        if tok.type == tokenize.COMMENT and IGNORE.search(tok.string)
    ]


def test_the_pattern_accepts_a_code_and_a_reason_and_nothing_less() -> None:
    assert EXPLAINED.search("# type: ignore[assignment]  # given by the fixture")
    assert EXPLAINED.search("# type: ignore[arg-type, union-attr]  # why")
    assert not EXPLAINED.search("# type: ignore")
    assert not EXPLAINED.search("# type: ignore[arg-type]")
    assert not EXPLAINED.search("# type: ignore  # a reason but no code")


def test_every_type_ignore_has_a_code_and_a_reason() -> None:
    bare = [
        f"{path.relative_to(ROOT)}:{line}: {comment}"
        for package in CHECKED
        for path in sorted((ROOT / package).rglob("*.py"))
        for line, comment in type_ignores(path.read_text(encoding="utf-8"))
        if not EXPLAINED.search(comment)
    ]
    assert bare == []
