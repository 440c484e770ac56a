"""Fixtures of the twin tests: twins of the fixture dumps served on loopback."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from sim.xapi.serve import SimHandle, start_sim
from sim.xapi.twin import Twin, build_twin, load_assumptions, load_dump

FAST = 1000.0


def make_twin(name: str, dr: str | None = None, **flags: Any) -> Twin:
    """The twin of fixture dump `name` (with DR dump `dr`, else a generated DR pool)."""
    from tests.twin.support import DATA

    path = DATA / name
    return build_twin(
        load_dump(path),
        load_dump(DATA / dr) if dr else None,
        assumptions=load_assumptions(path, **flags),
    )


@pytest.fixture
def serve_twin() -> Iterator[Callable[..., SimHandle]]:
    """Serve a twin (a Twin, or a fixture name); every one stopped at teardown."""
    started: list[SimHandle] = []

    def start(twin: Twin | str, **options: Any) -> SimHandle:
        if isinstance(twin, str):
            twin = make_twin(twin)
        options.setdefault("speed", FAST)
        handle = start_sim(twin.scenario, **options)
        started.append(handle)
        return handle

    yield start
    for handle in started:
        handle.stop()


@pytest.fixture
def dump_copy(tmp_path: Path) -> Callable[[str], Path]:
    """A writable copy of a fixture dump in tmp_path, to edit or damage."""
    from tests.twin.support import DATA

    def copy(name: str) -> Path:
        out = tmp_path / name
        out.write_bytes((DATA / name).read_bytes())
        return out

    return copy
