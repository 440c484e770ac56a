"""Helpers for tests against a running simulator: the control API, logins, raw calls, failover.

Other suites start a simulator the same way: `start_sim(scenario, speed=FAST)` and stop it
at teardown (see `conftest.py`'s `sim_factory`).
"""

from __future__ import annotations

import contextlib
import json
import string
import urllib.error
import urllib.request
from dataclasses import dataclass
from typing import Any

import XenAPI

from sim.xapi.scenario import Scenario, load_scenario, parse_scenario
from sim.xapi.serve import SimHandle

# Speed factor for tests: a 20 s boot takes 2 ms, a 30 s start_delay 3 ms.
FAST = 10_000.0

# The site headers most test scenarios share. `with_sites` puts them where a scenario says
# `$primary_site` / `$dr_site`, so that a scenario shows only what its test is about.
PRIMARY_SITE = """[[sites]]
name = "primary"
address_prefix = "127.0.1"
array = { target = "10.10.1.50", iqn = "iqn.x:prod" }"""
DR_SITE = """[[sites]]
name = "dr"
address_prefix = "127.0.2"
array = { target = "10.20.1.50", iqn = "iqn.x:dr" }"""


def with_sites(scenario: str) -> str:
    """`scenario` (TOML) with `$primary_site` and `$dr_site` replaced by the shared headers."""
    return string.Template(scenario).substitute(primary_site=PRIMARY_SITE, dr_site=DR_SITE)


# The last xapi release whose PBD.plug scanned the SR (CA-379112 came in v23.22.0); the
# default scenario release is the newest. Tests of behaviour that changed run on both.
OLDER = "23.21.0"
NEWEST = "26.17.0"
RELEASES = [NEWEST, OLDER]


def at_release(scenario: str, version: str) -> Scenario:
    """A scenario (built-in name or TOML text) with every pool on xapi release `version`."""
    sc = (
        parse_scenario(scenario, source="test scenario")
        if "\n" in scenario
        else load_scenario(scenario)
    )
    sites = [
        site.model_copy(
            update={"pools": [p.model_copy(update={"xapi_version": version}) for p in site.pools]}
        )
        for site in sc.sites
    ]
    return sc.model_copy(update={"sites": sites})


def scan(session: XenAPI.Session, sr: str) -> None:
    """SR.scan: what a client must call after attaching an SR the pool did not know."""
    session.xenapi.SR.scan(sr)


# XAPI's RBAC_PERMISSION_DENIED text for a recovery into a session without the right role.
DENIED_TEXT = "The supplied session does not have the required permissions for VM recovery."


class ControlError(Exception):
    def __init__(self, status: int, body: dict[str, Any]) -> None:
        super().__init__(status, body)
        self.status = status
        self.body = body


class Ctl:
    """The simulator's control API over real HTTP."""

    def __init__(self, url: str) -> None:
        self.url = url

    def __call__(self, verb: str, path: str, body: dict[str, Any] | None = None) -> Any:
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(self.url + path, data=data, method=verb)
        try:
            with urllib.request.urlopen(req, timeout=30) as resp:
                return json.load(resp)
        except urllib.error.HTTPError as e:
            raise ControlError(e.code, json.load(e)) from None

    def lun(self, sr_name: str) -> dict[str, Any]:
        """The `/replication` row of the LUN behind the SR named `sr_name`."""
        return next(r for r in self("GET", "/replication") if r["name"] == sr_name)

    def disaster(self, site: str = "primary") -> list[dict[str, Any]]:
        """Fail a site and promote every LUN replicated from it; -> the rows after."""
        self("POST", f"/sites/{site}/fail")
        for row in self("GET", "/replication"):
            if row["source_site"] == site and row["state"] != "promoted":
                self("POST", f"/replication/{row['lun']}/promote")
        return [r for r in self("GET", "/replication") if r["source_site"] == site]

    def disaster_after_sync(self, site: str = "primary") -> list[dict[str, Any]]:
        """Let replication catch up on every LUN, then `disaster(site)`; -> the rows after."""
        for row in self("GET", "/replication"):
            self("POST", f"/replication/{row['lun']}/sync")
        return self.disaster(site)

    def wait_stalled(self, count: int) -> list[str]:
        """Block (in the simulator) until `count` calls are held by a task_stall fault."""
        stalled = self("GET", f"/stalled?count={count}&timeout=20")["stalled"]
        assert len(stalled) >= count, stalled
        return stalled


# Clients opened by `login` / `client`; `close_clients()` closes their connections.
OPEN: list[XenAPI.Session] = []


def client(url: str) -> XenAPI.Session:
    """A XenAPI client of one URL, closed by `close_clients()`."""
    session = XenAPI.Session(url)
    OPEN.append(session)
    return session


def login(sim: SimHandle, site: str, role: str = "pool-operator") -> XenAPI.Session:
    """A XenAPI session on a site's coordinator as the scenario's user of `role`."""
    ep = sim.endpoints["sites"][site]
    session = client(ep["coordinator"])
    session.xenapi.login_with_password(*ep["users"][role], "1.0", "drbot-tests")
    return session


def close_clients() -> None:
    while OPEN:
        session = OPEN.pop()
        with contextlib.suppress(Exception):  # a stopped server's client has nothing to close
            session("close")()


def raw(session: XenAPI.Session, method: str, *args: Any) -> dict[str, Any]:
    """A call with no session prepended (e.g. with a foreign database session)."""
    return getattr(session, method)(*args)


def value(result: dict[str, Any]) -> Any:
    assert result["Status"] == "Success", result.get("ErrorDescription")
    return result["Value"]


def failure(result: dict[str, Any]) -> list[str]:
    assert result["Status"] == "Failure", result
    return result["ErrorDescription"]


def introduce(session: XenAPI.Session, row: dict[str, Any], which: str = "mirror") -> str:
    """DR_task.create for one replicated LUN (`mirror` or `test_copy` device config), then
    `SR.scan` of what it introduced: today's xapi does not scan on plug, so without it the SR
    has no VDI records (docs/xapi-behaviours.md)."""
    dc = row[f"{which}_device_config"]
    task = session.xenapi.DR_task.create("lvmoiscsi", dc, [row["sr_uuid"]])
    for sr in session.xenapi.DR_task.get_introduced_SRs(task):
        session.xenapi.SR.scan(sr)
    return task


def latest_metadata_vdis(session: XenAPI.Session) -> list[str]:
    """Foreign metadata VDIs without an attached VBD: those with metadata_latest=true
    (XenCenter's rule) if any, else every one (after a scan on today's xapi no plug has
    compared their generations, so none is marked)."""
    found = {
        ref: rec
        for ref, rec in session.xenapi.VDI.get_all_records_where('field "type"="metadata"').items()
        if not rec["VBDs"]
    }
    latest = [ref for ref, rec in found.items() if rec["metadata_latest"]]
    return latest or list(found)


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
