"""Fixtures for the store: a real SQLite file in a temporary directory and a movable clock."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from store import Store, open_store


class Tick:
    """A wall clock for the store that moves only when a test says so."""

    def __init__(self) -> None:
        self.value = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.value

    def advance(self, seconds: float) -> None:
        self.value += timedelta(seconds=seconds)


@pytest.fixture
def tick() -> Tick:
    return Tick()


@pytest.fixture
def store(tmp_path, tick) -> Store:
    s = open_store(tmp_path / "drbot.db", now=tick)
    yield s
    s.close()
