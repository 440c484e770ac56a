"""Fixtures that run a whole simulator (`start_sim`) at a high speed factor.

`sim_factory(scenario, **options)` starts one and stops it at teardown; `mini` and `demo`
are the built-in scenarios started that way. Other suites can copy this pattern.
`sim` is the smaller core simulator (`core_support.CoreSim`) of the protocol-level tests;
a module that needs another size overrides it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from sim.xapi.scenario import Scenario, parse_scenario
from sim.xapi.serve import SimHandle, start_sim
from tests.sim_xapi.core_support import CoreSim
from tests.sim_xapi.world_support import FAST, Ctl, close_clients


@pytest.fixture
def sim_factory() -> Iterator[Callable[..., SimHandle]]:
    """Start simulators (scenario name, TOML text or Scenario); all stopped at teardown."""
    started: list[SimHandle] = []

    def start(scenario: str | Scenario = "mini", **options: Any) -> SimHandle:
        if isinstance(scenario, str) and "\n" in scenario:
            scenario = parse_scenario(scenario, source="test scenario")
        options.setdefault("speed", FAST)
        handle = start_sim(scenario, **options)
        started.append(handle)
        return handle

    yield start
    close_clients()
    for handle in started:
        handle.stop()


@pytest.fixture
def mini(sim_factory: Callable[..., SimHandle]) -> SimHandle:
    return sim_factory("mini")


@pytest.fixture
def demo(sim_factory: Callable[..., SimHandle]) -> SimHandle:
    return sim_factory("demo")


@pytest.fixture
def ctl(mini: SimHandle) -> Ctl:
    return Ctl(mini.control_url)


@pytest.fixture
def sim() -> Iterator[CoreSim]:
    """A core simulator: one pool of two hosts and four VMs on loopback, stopped at teardown."""
    s = CoreSim()
    yield s
    s.stop()
