"""Fixtures for engine tests: real XAPI servers on loopback, and configurations that reach them.

- `core_sim`: a factory for small pools served by sim/xapi's protocol core alone (no world):
  enough for the client, the inventory and hand-built planner situations. Each call builds
  pool databases with `tests/sim_xapi/core_support.build_pool` on a random 127.x.y.* block.
- `sim`: a factory for the full simulator from a scenario name (`sim.xapi.serve.start_sim`),
  returning the handle with an `EngineConfig` built from its endpoints, clients that are closed
  at teardown, and helpers for the control API (faults, the call log).

Everything is stopped at teardown; ports are chosen by the OS.
"""

from __future__ import annotations

import json
import ssl
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest

from bot.simconfig import from_sim_endpoints
from engine.config import EngineConfig, PoolEndpoint
from engine.storage.sim import SimStorageAdapter
from engine.xapi import XapiClient
from sim.xapi.server import Servers, serve_pools
from tests.sim_xapi.core_support import CorePool, build_pool, loopback_block

# Simulated seconds per real second for scenario runs: a 20 s VM start takes 20 ms.
DEFAULT_SPEED = 1000.0


@dataclass
class CoreSite:
    """One pool served by the core: its database, the refs `build_pool` noted, its addresses."""

    name: str
    pool: CorePool
    refs: dict[str, Any]
    addresses: list[str]
    servers: Servers

    @property
    def db(self) -> Any:
        return self.pool.db

    def url(self, i: int = 0) -> str:
        return self.servers.url_for(self.addresses[i])

    def endpoint(
        self, *, user: str = "root", urls: list[str] | None = None, **kw: Any
    ) -> PoolEndpoint:
        password = self.pool.users[user][0]
        return PoolEndpoint(
            name=self.name,
            site=self.name,
            urls=urls or [self.url(i) for i in range(len(self.addresses))],
            username=user,
            password=password,
            allow_plaintext=True,  # the core serves plain HTTP unless tls=True
            **kw,
        )

    def fingerprint(self) -> str:
        import hashlib

        assert self.servers.cert_pem is not None
        return hashlib.sha256(ssl.PEM_cert_to_DER_cert(self.servers.cert_pem)).hexdigest()


@dataclass
class CoreSims:
    servers: Servers
    sites: dict[str, CoreSite]
    clients: list[XapiClient] = field(default_factory=list)

    def __getitem__(self, name: str) -> CoreSite:
        return self.sites[name]

    def client(self, name: str, **kw: Any) -> XapiClient:
        endpoint_kw = {
            k: kw.pop(k) for k in ("user", "urls", "ca_file", "fingerprint", "insecure") if k in kw
        }
        c = XapiClient.connect(self.sites[name].endpoint(**endpoint_kw), **kw)
        self.clients.append(c)
        return c


@pytest.fixture
def core_sim() -> Iterator[Callable[..., CoreSims]]:
    """Factory: `core_sim(a=4, b=2, hosts=3, tls=False)` serves pools `a` and `b` (VM counts)."""
    started: list[CoreSims] = []

    def make(*, hosts: int = 3, tls: bool = False, seed: int = 1, **pools: int) -> CoreSims:
        pools = pools or {"site-a": 4}
        sites = {}
        addresses = loopback_block(hosts * len(pools))
        for i, (name, vms) in enumerate(pools.items()):
            addrs = addresses[i * hosts : (i + 1) * hosts]
            db, refs = build_pool(addrs, vms=vms, name=name, seed=seed + i)
            sites[name] = (CorePool(db, addrs), refs, addrs)
        servers = serve_pools([s[0] for s in sites.values()], tls=tls, auth_failure_delay=0.0)
        sims = CoreSims(
            servers,
            {
                name: CoreSite(name, pool, refs, addrs, servers)
                for name, (pool, refs, addrs) in sites.items()
            },
        )
        started.append(sims)
        return sims

    yield make
    for sims in started:
        for c in sims.clients:
            c.close()
        sims.servers.stop()


@dataclass
class SimWorld:
    """A running full simulator and an engine configuration for it."""

    handle: Any
    config: EngineConfig
    clients: list[XapiClient] = field(default_factory=list)

    @property
    def control_url(self) -> str:
        return self.handle.control_url

    def client(self, pool: str, **kw: Any) -> XapiClient:
        c = XapiClient.connect(self.config.pool(pool), **kw)
        self.clients.append(c)
        return c

    def storage(self) -> SimStorageAdapter:
        return SimStorageAdapter(self.control_url)

    def control(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        """One request to the simulator's control API (faults, site failures, the call log)."""
        data = json.dumps(body).encode() if body is not None else (b"" if method != "GET" else None)
        req = urllib.request.Request(
            self.control_url + path,
            data=data,
            method=method,
            headers={"Content-Type": "application/json"},
        )
        with urllib.request.urlopen(req, timeout=30) as resp:
            raw = resp.read()
        return json.loads(raw) if raw else None

    def calls(self, since: int = 0) -> list[dict[str, Any]]:
        answer = self.control("GET", f"/calls?since={since}")
        return answer["calls"] if isinstance(answer, dict) else answer


@pytest.fixture
def sim() -> Iterator[Callable[..., SimWorld]]:
    """Factory: `sim("demo", speed=1000)` starts the full simulator and configures the engine."""
    from sim.xapi.serve import start_sim

    worlds: list[SimWorld] = []

    def start(scenario: str = "demo", *, speed: float = DEFAULT_SPEED, **kw: Any) -> SimWorld:
        handle = start_sim(scenario, speed=speed, **kw)
        world = SimWorld(handle, from_sim_endpoints(handle.endpoints))
        worlds.append(world)
        return world

    yield start
    for world in worlds:
        for c in world.clients:
            c.close()
        world.handle.stop()


@pytest.fixture
def attached(sim):
    """The demo with a test copy of Gold iSCSI 01 attached at DR; yields (world, dr, vdi ref)."""
    world = sim("demo")
    adapter = world.storage()
    gold = next(lun for lun in adapter.state() if lun.name == "Gold iSCSI 01")
    copy = adapter.present_test_copy(gold.lun)
    dr = world.client("dr")
    task = dr.run("DR_task.create", "lvmoiscsi", copy.test_copy_device_config, [gold.sr_uuid])
    for sr in dr.call("DR_task.get_introduced_SRs", task):
        dr.call("SR.scan", sr)  # today's xapi does not scan on plug (docs/xapi-behaviours.md)
    vdis = dr.get_all_records("VDI")
    vdi = next(ref for ref, r in vdis.items() if r["type"] == "metadata")
    yield world, dr, vdi
    dr.call("DR_task.destroy", task)
