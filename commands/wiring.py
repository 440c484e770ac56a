"""The composition root of the engine: store, XAPI clients, storage adapter, planner and runner,
built once from the configuration and shared by every request of a front end.

Clients connect lazily, on first use: a lost site must not stop `status` or a failover away
from it. The storage adapter is chosen here, not in the adapters' interface module: `manual`
keeps its confirmations in the store, so the bot and the CLI (another process) share them.
One `Runner` serves the process, so its event subscribers see every run this process drives.
"""

from __future__ import annotations

import threading
from datetime import timedelta
from pathlib import Path
from typing import Protocol, runtime_checkable

from commands import messages
from engine import planner, topology
from engine.clock import Clock, SystemClock
from engine.config import EngineConfig, PoolPair
from engine.errors import DRError
from engine.inventory import Inventory
from engine.models import Plan
from engine.protection import Site
from engine.runner import Runner
from engine.storage.base import ReplicatedLun, StorageAdapter
from engine.xapi import CallObserver, XapiClient
from store import Kind, Store, open_store

STORAGE_CONFIRMATIONS = "storage-confirmations"  # store.kv namespace of the manual adapter
POOL_SRS = "pool-srs"  # store.kv: pool -> its SR uuids as last read (engine/topology.own_luns)
DRILL_HISTORY = 10  # past runs the planner's RTO estimate draws on


@runtime_checkable
class ManualSteps(Protocol):
    """An adapter whose storage steps a person does by hand, then confirms (`manual`)."""

    def confirm(self, lun: str, action: str) -> None: ...


class Wiring:
    """What the service needs, built from the engine's configuration and the store's path."""

    def __init__(
        self, config: EngineConfig, store_path: str | Path, *, clock: Clock | None = None
    ) -> None:
        self.config = config
        self.clock: Clock = clock or SystemClock()
        self.store: Store = open_store(store_path, now=self.clock.now)
        self._clients: dict[str, XapiClient] = {}
        self._adapter: StorageAdapter | None = None
        self._runner: Runner | None = None
        self._seen: dict[str, Inventory] = {}  # each pool's last inventory read (see `site`)
        self._lock = threading.RLock()
        # Told of every XAPI round trip of the clients made from now on (the bot's metrics).
        self.xapi_observer: CallObserver | None = None

    def client(self, pool: str) -> XapiClient:
        """The connected client of `pool` (connected on first use, then kept)."""
        with self._lock:
            if pool not in self._clients:
                t = self.config.timeouts
                self._clients[pool] = XapiClient.connect(
                    self.config.pool(pool),
                    originator=self.config.originator,
                    clock=self.clock,
                    timeout=t.call_seconds,
                    connect_timeout=t.connect_seconds,
                    observer=self.xapi_observer,
                )
            return self._clients[pool]

    @property
    def adapter(self) -> StorageAdapter:
        """The storage replication adapter the configuration names."""
        with self._lock:
            if self._adapter is None:
                self._adapter = self._build_adapter()
            return self._adapter

    def _build_adapter(self) -> StorageAdapter:
        storage = self.config.storage
        if storage.adapter == "sim":
            from engine.storage.sim import SimStorageAdapter

            if storage.control_url is None:
                raise DRError(messages.SIM_STORAGE_URL)
            return SimStorageAdapter(storage.control_url)
        from engine.storage.manual import ManualStorageAdapter

        # Confirmations live in the store: the bot and the CLI share them.
        return ManualStorageAdapter(
            [ReplicatedLun.model_validate(lun.model_dump()) for lun in storage.luns],
            confirmed=self.store.kv(STORAGE_CONFIRMATIONS),
        )

    def pair(self, pool: str | None) -> PoolPair:
        """The one pair `pool` names (engine/config.py `pair_for`: ambiguity is refused)."""
        return self.config.pair_for(pool)

    def site(self, name: str) -> Site:
        """The pool as the planner and readiness see it; if drbot cannot use it, the Site
        remembers why (a refused login is not a lost site: the split-brain guard tells them
        apart)."""
        endpoint = self.config.pool(name)
        site = Site.open(name, lambda: self.client(name), site=endpoint.site)
        if site.inventory is None and not site.unusable:
            # Lost since drbot last read it: plan from that read (the planner's `source-pool`
            # records), not blind, if it is younger than the replication lag allowed: an older
            # one could miss VMs the mirror already holds, which only a blind plan recovers.
            with self._lock:
                seen = self._seen.get(name)
            taken = seen.loaded_at if seen is not None else None
            limit = timedelta(seconds=self.config.storage.max_lag_seconds)
            if seen is not None and taken is not None and self.clock.now() - taken <= limit:
                return Site(name, seen, None, site=endpoint.site, reachable=False, error=site.error)
        if site.inventory is not None:
            with self._lock:
                self._seen[name] = site.inventory
            # What its SRs are, remembered for the night its site cannot be read.
            srs = sorted(sr.uuid for sr in site.inventory.srs.values())
            known = self.store.kv(POOL_SRS)
            if known.get(name) != srs:
                known[name] = srs
        return site

    def plan(
        self,
        kind: Kind,
        target: str,
        pool: str | None,
        *,
        power_after: str | None = None,
        planned: bool = False,
        disable_ha: bool = False,
    ) -> Plan:
        """Plan a run of `kind`: from the protected pool into the DR pool, or back for a
        failback (the VMs run at the DR pool then)."""
        pair = self.pair(pool)
        source, dest = (
            (pair.dr, pair.protected) if kind == "failback" else (pair.protected, pair.dr)
        )
        options = planner.PlanOptions.model_validate(
            {
                "network_map": dict(pair.network_map),
                "max_lag_seconds": self.config.storage.max_lag_seconds,
                "planned": planned,
                "disable_ha": disable_ha,
                **({"power_after": power_after} if power_after is not None else {}),
            }
        )

        def history(k: str, _src: str, _dst: str) -> list[float]:
            # The protected pool's own runs: a DR pool takes several pools of other sizes.
            rows = self.store.drills.recent(pair.protected, limit=DRILL_HISTORY, kind=k)
            return [float(r["rto_seconds"]) for r in reversed(rows) if r["rto_seconds"]]

        return planner.plan(
            kind,
            target,
            source=self.site(source),
            dest=self.site(dest),
            options=options,
            storage=topology.own_luns(
                self.adapter.state(), pair.protected, self.config, self.store.kv(POOL_SRS)
            ),
            history=history,
            clock=self.clock,
        )

    @property
    def runner(self) -> Runner:
        """The process's one runner (its worker threads drive the runs)."""
        with self._lock:
            if self._runner is None:
                self._runner = Runner(
                    self.store,
                    self.client,
                    self.adapter,
                    self.clock,
                    self.config.concurrency,
                    task_timeout=self.config.timeouts.task_seconds,
                )
            return self._runner

    def release_thread(self) -> None:
        """Drop the calling thread's connections to the pools (each client keeps one set per
        thread): a front end's worker threads come and go, and their sockets must not stay."""
        with self._lock:
            clients = list(self._clients.values())
        for client in clients:
            client.release_thread()

    def close(self) -> None:
        """Close every client and the store."""
        with self._lock:
            for client in self._clients.values():
                client.close()
            self._clients.clear()
            self.store.close()
