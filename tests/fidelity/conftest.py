"""Fixtures for the engine against sim/xapi where XenServer's real behaviour is subtle
(docs/xapi-behaviours.md): the full simulator (`sim`, from the engine tests), a harness that
plans and runs through the real Runner (`runs`), and scenarios on a chosen xapi release."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.engine.conftest import sim  # noqa: F401 - the full-simulator fixture
from tests.engine.runs_support import Harness, make_harness


@pytest.fixture
def runs(sim: Callable[..., Any], tmp_path: Path) -> Iterator[Callable[..., Harness]]:  # noqa: F811
    """Factory: `runs(scenario)` starts a simulator and a run harness on it (closed after)."""
    made: list[Harness] = []

    def make(scenario: Any, **options: Any) -> Harness:
        folder = tmp_path / f"run-{len(made)}"
        folder.mkdir()
        harness = make_harness(sim(scenario, **options), folder)
        made.append(harness)
        return harness

    yield make
    for harness in made:
        harness.store.close()
