"""No docstring or comment in the code or the tests points at a tracker item ("issue 10 item
3", "review round 2"): the text must say what holds and why on its own, since a reader of the
code has the code, not the tracker, and tracker numbers do not survive a move.

Outside projects' issue numbers (`bolt-js #2867`) name a source and are fine.
"""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SCANNED = ("bot", "commands", "engine", "store", "sim", "tests", "bench")
TRACKER = re.compile(r"\b(issue|item|round|review)\s+#?\d+", re.IGNORECASE)


def test_the_pattern_finds_tracker_items_and_not_outside_sources() -> None:
    assert TRACKER.search("closes; issue 10 item 3)")
    assert TRACKER.search("found in review round 2")
    assert not TRACKER.search("Slack refused at ~11 k in bolt-js #2867")
    assert not TRACKER.search("the first item of the list")


def test_no_text_points_at_a_tracker_item() -> None:
    found = [
        f"{path.relative_to(ROOT)}:{number}: {line.strip()}"
        for top in SCANNED
        for path in sorted((ROOT / top).rglob("*.py"))
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
        if TRACKER.search(line) and path != Path(__file__).resolve()
    ]
    assert found == []
