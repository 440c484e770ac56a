"""Run a whole simulated estate: `start_sim(...)` -> `SimHandle`.

`start_sim` builds the world from a scenario (or resumes it from `state_dir`), serves every
host of every pool on its own loopback address (one port for all, `server.py`), starts the
control API, and writes the endpoints file when asked. The handle's `.endpoints` is that
file's content (docs/contracts/sim-xapi.md); `.stop()` saves the state (with `state_dir`)
and stops everything. With `state_dir` the world is also saved every few seconds when it
changed, so a killed simulator loses little.

`auth_failure_delay` (XAPI waits 5 s before refusing a password) is a duration like any
other: 5 s divided by the speed factor unless given.
"""

from __future__ import annotations

import contextlib
import json
import logging
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sim.xapi import methods, persist, server
from sim.xapi.arrays import Volume
from sim.xapi.control import ControlServer
from sim.xapi.estate import build_world
from sim.xapi.scenario import Scenario, load_scenario
from sim.xapi.world import World

log = logging.getLogger(__name__)
# The world's XAPI methods register with the core's dispatcher when their package is imported.
WORLD_METHODS = methods
AUTOSAVE_SECONDS = 5.0


@dataclass
class SimHandle:
    """A running simulator (see the module docstring)."""

    world: World
    servers: Any
    endpoints: dict[str, Any] = field(default_factory=dict)
    control_url: str = ""
    state_dir: Path | None = None
    endpoints_path: Path | None = None
    _control: ControlServer | None = None
    _stop: threading.Event = field(default_factory=threading.Event)
    _saver: threading.Thread | None = None
    _save_lock: threading.Lock = field(default_factory=threading.Lock)

    def attached_pool(self, volume: Volume) -> str | None:
        """The pool that has `volume` attached through a plugged PBD, if any."""
        for pool in self.world.pools.values():
            db = pool.db
            for pbd in db.refs("PBD"):
                rec = db.get("PBD", pbd)
                if not rec["currently_attached"]:
                    continue
                if volume.scsi_id and rec["device_config"].get("SCSIid") == volume.scsi_id:
                    return pool.name
        return None

    def url(self, address: str) -> str:
        return self.servers.url_for(address)

    def save(self) -> Path | None:
        if self.state_dir is None:
            return None
        with self._save_lock:  # the autosave thread and stop() must not write at once
            return persist.save(self.world, self.state_dir)

    def _fingerprint(self) -> tuple:
        w = self.world
        return (
            tuple(p.db.generation for p in w.pools.values()),
            tuple((s.up, *(h.up for p in s.pools for h in p.hosts)) for s in w.sites.values()),
            tuple(
                (link.state, len(link.pending), link.test_copy is None)
                for link in w.storage.links.values()
            ),
        )

    def _autosave(self) -> None:
        last = self._fingerprint()
        while not self._stop.wait(AUTOSAVE_SECONDS):
            now = self._fingerprint()
            if now != last:
                try:
                    self.save()
                    last = now
                except Exception:
                    log.exception("autosave failed")

    def stop(self) -> None:
        """Save (with a state dir), then stop the listeners, the control API and the world."""
        if self._stop.is_set():
            return
        self._stop.set()
        with contextlib.suppress(Exception):
            self.save()
        if self._control is not None:
            self._control.stop()
        self.world.stop()
        self.servers.stop()
        if self._saver is not None:
            self._saver.join(timeout=5)

    def __enter__(self) -> SimHandle:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def _endpoints(world: World, servers: Any, control_url: str) -> dict[str, Any]:
    """The endpoints file: every pool of every site under `pools` (its site, coordinator,
    members, users and the sites its replicated SRs mirror to), and per site the names of its
    pools, its array and, for readers of the one-pool-per-site format, its first pool's
    coordinator, members and users."""
    sites: dict[str, Any] = {}
    pools: dict[str, Any] = {}
    by_name = {p.name: p for s in world.scenario.sites for p in s.pools}
    for site in world.sites.values():
        for pool in site.pools:
            spec = by_name.get(pool.name)
            pools[pool.name] = {
                "site": site.name,
                "coordinator": servers.url_for(pool.coordinator_address),
                "members": [servers.url_for(h.address) for h in pool.hosts[1:]],
                "users": {role: list(pair) for role, pair in (spec.users if spec else {}).items()},
                # Where the pool's SRs replicate: what a configuration pairs it with.
                "replicates_to": sorted(
                    {
                        sr.replicate_to
                        for sr in (spec.srs if spec else [])
                        if sr.kind == "replicated" and sr.replicate_to
                    }
                ),
            }
        if not site.pools:
            continue
        first = pools[site.pools[0].name]
        array = world.storage.arrays.get(site.name)
        sites[site.name] = {
            "pools": [p.name for p in site.pools],
            "coordinator": first["coordinator"],
            "members": first["members"],
            "users": first["users"],
            "storage": (
                {"target": array.target, "targetIQN": array.iqn, "port": array.port}
                if array
                else {}
            ),
        }
    out: dict[str, Any] = {"sites": sites, "pools": pools, "control": control_url}
    if servers.cert_pem:
        out["tls_certificate"] = servers.cert_pem
    return out


def start_sim(
    scenario: str | Path | Scenario = "demo",
    *,
    speed: float = 1.0,
    state_dir: str | Path | None = None,
    tls: bool = False,
    endpoints_path: str | Path | None = None,
    auth_failure_delay: float | None = None,
    control_port: int = 0,
) -> SimHandle:
    """Start a simulator (see the module docstring); stop it with `.stop()`."""
    state = Path(state_dir) if state_dir is not None else None
    if state is not None and persist.saved(state):
        world = persist.restore(state, speed=speed)
    else:
        sc = scenario if isinstance(scenario, Scenario) else load_scenario(scenario)
        world = build_world(sc, speed=speed)
    world.start()
    delay = 5.0 / speed if auth_failure_delay is None else auth_failure_delay
    servers = server.start_servers(world, tls=tls, auth_failure_delay=delay)
    world.sessions = servers.sessions
    handle = SimHandle(world=world, servers=servers, state_dir=state)
    try:
        handle._control = ControlServer(handle, port=control_port)
    except Exception:
        world.stop()
        servers.stop()
        raise
    handle.control_url = handle._control.url
    handle.endpoints = _endpoints(world, servers, handle.control_url)
    if endpoints_path is not None:
        path = Path(endpoints_path)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(handle.endpoints, indent=2), encoding="utf-8")
        handle.endpoints_path = path
    if state is not None:
        handle.save()
        handle._saver = threading.Thread(target=handle._autosave, name="sim-autosave", daemon=True)
        handle._saver.start()
    return handle
