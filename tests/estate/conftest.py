"""Fixtures for an estate of several pools and sites: `estate.toml` served by sim/xapi on
loopback (east-a and east-b at site east and west at site west into dr; north into dr2), a
configuration built from its endpoints file, and a service over it with a real SQLite store.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from commands.service import Service
from commands.wiring import Wiring
from engine.clock import Clock
from tests.commands.conftest import GROUPS, policy
from tests.engine.conftest import SimWorld, sim  # noqa: F401 (the simulator fixture, shared)

ESTATE = Path(__file__).with_name("estate.toml")


def estate_text(**replace: str) -> str:
    """The estate scenario's TOML, with each `old=new` text replaced (a variant of it)."""
    text = ESTATE.read_text(encoding="utf-8")
    for old, new in replace.items():
        assert old in text, old
        text = text.replace(old, new)
    return text


@pytest.fixture
def estate(sim) -> SimWorld:  # noqa: F811 (the shared fixture above)
    """The estate of tests/estate/estate.toml, running."""
    return sim(str(ESTATE))


@pytest.fixture
def estate_service(estate, tmp_path) -> Iterator[Callable[..., Service]]:
    """Factory: `estate_service(clock=..., config=...)` -> a Service over the estate."""
    made: list[Service] = []

    def make(*, clock: Clock | None = None, config: Any = None, **policy_kw: Any) -> Service:
        wiring = Wiring(config or estate.config, tmp_path / "drbot.db", clock=clock)
        svc = Service(wiring, policy(**policy_kw), members=lambda g: GROUPS.get(g, []))
        made.append(svc)
        return svc

    yield make
    for svc in made:
        svc.close()
