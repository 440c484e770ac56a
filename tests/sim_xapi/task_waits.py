"""Bounded event waits on tasks, for the tests that check sim/xapi's rules one by one.

Those tests (`test_dr_rules.py`, `test_world_rules.py`) hold sim/xapi to
`../shared/reference/xapi-dr.md` rule by rule; the stage (a lost primary site, an introduced
SR, an open foreign database) is set by `world_support` (`Ctl.disaster_after_sync`,
`open_failover`), as a DR engine would.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import XenAPI

NULL = "OpaqueRef:NULL"


def wait_until(
    session: XenAPI.Session, classes: list[str], done: Callable[[], bool], bound: float = 10.0
) -> bool:
    """Follow event.from on `classes` until `done()` holds or `bound` seconds pass."""
    deadline = time.monotonic() + bound
    token = ""
    while not done():
        left = deadline - time.monotonic()
        if left <= 0:
            return False
        token = getattr(session.xenapi.event, "from")(classes, token, min(left, 2.0))["token"]
    return True


def task_outcome(session: XenAPI.Session, task: str, bound: float = 10.0) -> dict[str, Any]:
    """The task's record once it is no longer pending (bounded event wait)."""
    assert wait_until(
        session, [f"task/{task}"], lambda: session.xenapi.task.get_status(task) != "pending", bound
    ), "task still pending"
    return session.xenapi.task.get_record(task)
