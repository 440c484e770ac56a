"""Helpers shared by the audit tests (`test_audit_*.py`): a failover on the mini estate, waits.

The audit checks sim/xapi rule by rule against `../shared/reference/xapi-dr.md`; these
helpers only set the stage (a lost primary site, an introduced SR, an open foreign
database) through the real XenAPI client and the control API, as a DR engine would.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import XenAPI

from sim.xapi.serve import SimHandle
from tests.sim_xapi.world_support import Ctl, introduce, latest_metadata_vdis, login, raw, value

NULL = "OpaqueRef:NULL"


@dataclass
class Opened:
    """A DR pool session, its DR tasks, an open foreign database and its objects by name."""

    dr: XenAPI.Session
    db: str
    tasks: list[str]
    vms: dict[str, str]
    apps: dict[str, str]

    def call(self, method: str, *args: Any) -> dict[str, Any]:
        """A raw call with the foreign database session first."""
        return raw(self.dr, method, self.db, *args)

    def recover(self, name: str, force: bool = False, session_to: str | None = None) -> dict:
        return self.call("VM.recover", self.vms[name], session_to or self.dr._session, force)

    def recover_app(self, name: str, force: bool = False, session_to: str | None = None) -> dict:
        to = session_to or self.dr._session
        return self.call("VM_appliance.recover", self.apps[name], to, force)


def lose_primary(ctl: Ctl) -> None:
    """Let replication catch up, then fail the primary site and promote its LUNs."""
    for row in ctl("GET", "/replication"):
        ctl("POST", f"/replication/{row['lun']}/sync")
    ctl.disaster("primary")


def open_failover(sim: SimHandle, ctl: Ctl, srs: list[str], role: str = "pool-operator") -> Opened:
    """DR_task.create for each named SR on the DR pool, then open the latest metadata."""
    dr = login(sim, "dr", role)
    tasks = [introduce(dr, ctl.lun(name)) for name in srs]
    db = dr.xenapi.VDI.open_database(latest_metadata_vdis(dr)[0])
    vms = value(raw(dr, "VM.get_all_records", db))
    apps = value(raw(dr, "VM_appliance.get_all_records", db))
    return Opened(
        dr,
        db,
        tasks,
        {v["name_label"]: r for r, v in vms.items()},
        {a["name_label"]: r for r, a in apps.items()},
    )


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
