"""The engine as the CLI commands use it, built from the configuration file: store, XAPI
clients (connected lazily: a lost site must not stop `drbot status`), storage adapter,
planner and runner; and the guard that turns errors a person can cause into exit code 2."""

from __future__ import annotations

import contextlib
import getpass
from collections.abc import Iterator
from typing import Any

from bot.ops import messages
from bot.ops.output import fail
from bot.settings import Settings, load_settings
from engine.clock import SystemClock
from engine.errors import DRError
from store import RunNotFound, Store, StoreError, open_store

STORAGE_CONFIRMATIONS = "storage-confirmations"  # store.kv namespace of the manual adapter


class Ops:
    """What the commands need, built from the settings: store, clients, adapter, planner."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.config = settings.engine
        self.clock = SystemClock()
        self.store: Store = open_store(settings.store_path, now=self.clock.now)
        self._clients: dict[str, Any] = {}
        self._adapter: Any = None

    def client(self, pool: str) -> Any:
        from engine.xapi import XapiClient

        if pool not in self._clients:
            t = self.config.timeouts
            self._clients[pool] = XapiClient.connect(
                self.config.pool(pool),
                originator=self.config.originator,
                clock=self.clock,
                timeout=t.call_seconds,
                connect_timeout=t.connect_seconds,
            )
        return self._clients[pool]

    @property
    def adapter(self) -> Any:
        from engine.storage import adapter_from_config

        if self._adapter is None:
            storage = self.config.storage
            if storage.adapter == "manual":
                from engine.storage.base import ReplicatedLun
                from engine.storage.manual import ManualStorageAdapter

                # Confirmations live in the store: the bot and this CLI share them.
                self._adapter = ManualStorageAdapter(
                    [ReplicatedLun.model_validate(lun.model_dump()) for lun in storage.luns],
                    confirmed=self.store.kv(STORAGE_CONFIRMATIONS),
                )
            else:
                self._adapter = adapter_from_config(storage)
        return self._adapter

    def pair(self, protected: str | None) -> Any:
        if not self.config.pairs:
            raise DRError(messages.NO_PAIR.format(what=""))
        if protected is None:
            return self.config.pairs[0]
        for pair in self.config.pairs:
            if protected in (pair.protected, pair.dr):
                return pair
        raise DRError(messages.NO_PAIR.format(what=f" for pool {protected!r}"))

    def site(self, name: str) -> Any:
        """The pool as the planner and readiness see it; if drbot cannot use it, the Site
        remembers why (a refused login is not a lost site: the split-brain guard tells them
        apart)."""
        from engine.protection import Site

        endpoint = self.config.pool(name)
        return Site.open(name, lambda: self.client(name), site=endpoint.site)

    def plan(self, kind: str, target: str, protected: str | None, **options: Any) -> Any:
        from engine import planner

        pair = self.pair(protected)
        source, dest = (
            (pair.dr, pair.protected) if kind == "failback" else (pair.protected, pair.dr)
        )
        opts = planner.PlanOptions(
            network_map=dict(pair.network_map),
            max_lag_seconds=self.config.storage.max_lag_seconds,
            **{k: v for k, v in options.items() if v is not None},
        )

        def history(k: str, _src: str, dst: str) -> list[float]:
            rows = self.store.drills.recent(dst, limit=10, kind=k)
            return [r["rto_seconds"] for r in reversed(rows) if r["rto_seconds"]]

        return planner.plan(
            kind,
            target,
            source=self.site(source),
            dest=self.site(dest),
            options=opts,
            storage=self.adapter,
            history=history,
            clock=self.clock,
        )

    def runner(self) -> Any:
        from engine.runner import Runner

        return Runner(
            self.store,
            self.client,
            self.adapter,
            self.clock,
            self.config.concurrency,
            task_timeout=self.config.timeouts.task_seconds,
        )

    def close(self) -> None:
        for client in self._clients.values():
            client.close()
        self.store.close()


def open_ops(config: str | None) -> Ops:
    """The wiring for the configuration file `config`; a bad configuration exits 2."""
    try:
        return Ops(load_settings(config))
    except (DRError, StoreError) as exc:
        raise fail(str(exc)) from None


@contextlib.contextmanager
def operating(config: str | None) -> Iterator[Ops]:
    """The wiring for one command: opened from `config`, closed at the end, and the errors a
    person can cause turned into a clear message and exit code 2 (typer.Exit passes through)."""
    ops = open_ops(config)
    try:
        yield ops
    except (DRError, StoreError, RunNotFound) as exc:
        raise fail(str(exc)) from None
    finally:
        ops.close()


def actor() -> str:
    """Who acts, as recorded in the audit trail."""
    return f"cli:{getpass.getuser()}"
