"""Helpers for run tests: plan against a running simulator, run through the real Runner, and
read what the simulator saw (its call log and state)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from engine.clock import SystemClock
from engine.events import RunEvent
from engine.inventory import Inventory
from engine.models import Plan
from engine.planner import PlanOptions, Site, plan
from engine.runner import Runner
from engine.xapi import XapiClient
from store import Store, open_store

RECOVER_CALLS = (
    "Async.VM.recover",
    "Async.VM_appliance.recover",
    "VM.recover",
    "VM_appliance.recover",
)


@dataclass
class Harness:
    """A simulator, a store in a temporary directory and a Runner wired to both."""

    world: Any  # tests.engine.conftest.SimWorld
    store: Store
    runner: Runner
    events: list[RunEvent] = field(default_factory=list)
    _clients: dict[str, Any] = field(default_factory=dict)
    _connect: Callable[[str], Any] | None = None
    _inventories: dict[str, Any] = field(default_factory=dict)

    @property
    def pair(self) -> Any:
        return self.world.config.pairs[0]

    def client(self, pool: str) -> Any:
        if self._connect is not None:
            return self._connect(pool)
        if pool not in self._clients:
            self._clients[pool] = self.world.client(pool)
        return self._clients[pool]

    def site(self, name: str) -> Site:
        client = self.client(name)
        self._inventories[name] = Inventory.load(client, name)
        return Site(name, self._inventories[name], client, site=self.world.config.pool(name).site)

    def plan(self, kind: str, target: str = "all", **options: Any) -> Plan:
        source, dest = self.pair.protected, self.pair.dr
        if kind == "failback":
            source, dest = dest, source
        if options.pop("source_up", True):
            src = self.site(source)
        else:
            # What the bot knows of a lost site: the inventory it followed before the loss.
            seen = self._inventories.get(source)
            src = Site(
                source, seen, None, site=self.world.config.pool(source).site, reachable=False
            )
        return plan(
            kind,
            target,
            source=src,
            dest=self.site(dest),
            options=PlanOptions(**options),
            storage=self.world.storage(),
        )

    def run(self, plan_: Plan, timeout: float = 60.0) -> dict[str, Any]:
        run_id = self.runner.start(plan_, requested_by="U-test", reason="test")
        return self.runner.wait(run_id, timeout)

    def vms(self, pool: str) -> dict[str, dict[str, Any]]:
        """uuid -> record of the real VMs of a pool, read fresh."""
        recs = self.client(pool).get_all_records("VM")
        return {
            r["uuid"]: r
            for r in recs.values()
            if not (r["is_a_template"] or r["is_a_snapshot"] or r["is_control_domain"])
        }

    def uuids(self, pool: str, cls: str) -> set[str]:
        return {r["uuid"] for r in self.client(pool).get_all_records(cls).values()}

    def recover_counts(self, since: int = 0) -> Counter:
        """How many times each foreign object was asked to be recovered (from the call log)."""
        return Counter(
            c["args"][0]
            for c in self.world.calls(since)
            if c["method"] in RECOVER_CALLS and c["outcome"] == "Success"
        )


def make_harness(
    world: Any, tmp_path: Path, *, urls: dict[str, list[str]] | None = None, **runner_kw: Any
) -> Harness:
    """`urls` sends a pool's calls elsewhere (e.g. through a proxy) instead of to the simulator."""
    clock = SystemClock()
    store = open_store(tmp_path / "drbot.db", now=clock.now)
    clients: dict[str, Any] = {}

    def client(pool: str) -> Any:
        if pool not in clients:
            if urls and pool in urls:
                endpoint = world.config.pool(pool).model_copy(update={"urls": urls[pool]})
                clients[pool] = XapiClient.connect(endpoint)
                world.clients.append(clients[pool])
            else:
                clients[pool] = world.client(pool)
        return clients[pool]

    runner = Runner(store, client, world.storage(), clock, **runner_kw)
    h = Harness(world, store, runner, _clients=clients, _connect=client)
    runner.subscribe(h.events.append)
    return h
