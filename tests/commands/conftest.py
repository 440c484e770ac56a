"""Fixtures for the service: the full simulator on loopback, a real SQLite file, people.

`service(...)` builds a `Service` over the demo (or another) scenario with a policy giving
roles to a few people; `people` are the actors the tests use (olivia operator, alex and priya
approvers through the group S0APPROVERS, victor viewer, nobody without a role).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from commands.actor import Actor
from commands.config import PolicyConfig
from commands.service import Service
from commands.wiring import Wiring
from engine.clock import Clock
from engine.config import LunSettings, StorageSettings
from tests.engine.conftest import SimWorld, sim  # noqa: F401 (the simulator fixture, shared)

CHANNEL = "C0DR"
GROUPS = {"S0APPROVERS": ["U0ALEX", "U0PRIYA", "U0OLIVIA2"]}


def person(user_id: str, name: str = "", channel: str | None = CHANNEL) -> Actor:
    return Actor(id=user_id, name=name, via="slack", channel=channel)


OLIVIA = person("U0OLIVIA", "olivia")  # operator
ALEX = person("U0ALEX", "alex")  # approver (group)
PRIYA = person("U0PRIYA", "priya")  # approver (group)
SAM = person("U0SAM", "sam")  # approver (direct)
VICTOR = person("U0VICTOR", "")  # viewer, no display name
NOBODY = person("U0NOBODY", "nobody")  # no role
ADA = person("U0ADA", "ada")  # admin
CLI = Actor(id="root", via="cli")
SCHEDULE = Actor(id="weekly-drill", via="schedule")


def policy(**overrides: Any) -> PolicyConfig:
    data: dict[str, Any] = {
        "roles": {
            "viewer": ["U0VICTOR"],
            "operator": ["U0OLIVIA"],
            "approver": ["S0APPROVERS", "U0SAM"],
            "admin": ["U0ADA"],
        },
        "channels": [CHANNEL],
    }
    data.update(overrides)
    return PolicyConfig.model_validate(data)


@pytest.fixture
def world(sim) -> SimWorld:  # noqa: F811 (the shared fixture above)
    return sim("demo")


@pytest.fixture
def service(world, tmp_path) -> Iterator[Callable[..., Service]]:
    """Factory: `service(policy=..., clock=..., store=path)`; all closed at teardown."""
    made: list[Service] = []

    def make(
        config: PolicyConfig | None = None,
        *,
        clock: Clock | None = None,
        store: Path | None = None,
        members: Callable[[str], list[str]] | None = None,
    ) -> Service:
        wiring = Wiring(world.config, store or tmp_path / "drbot.db", clock=clock)
        svc = Service(wiring, config or policy(), members=members or (lambda g: GROUPS.get(g, [])))
        made.append(svc)
        return svc

    yield make
    for svc in made:
        svc.close()


def manual_storage(array) -> StorageSettings:
    """The `manual` storage adapter's settings for every LUN of a simulated array, as its
    admin would configure them (drbot then pauses at each storage step for a person)."""
    luns = [
        LunSettings(
            lun=lun.lun,
            sr_uuid=lun.sr_uuid,
            name=lun.name,
            source_site=lun.source_site,
            target_site=lun.target_site,
            mirror_device_config=lun.mirror_device_config,
        )
        for lun in array.state()
    ]
    return StorageSettings(adapter="manual", luns=luns)
