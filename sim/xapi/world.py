"""The simulated estate: sites -> pools -> hosts, the storage arrays, and the faults.

This is the bottom of the world: the model the operations (`storage.py`, `lifecycle.py`,
...) act on, importing none of them. `estate.build_world(scenario, speed=...)` fills it from
a scenario; `persist.load` from a saved state.

What the world does by itself when a host fails or comes back (HA restarts the protected
VMs elsewhere; a rebooted host halts its guests and re-plugs its PBDs) belongs to the
operations above, so it reaches the world as hooks (`World.reactions`, a `Reactions`),
installed by whoever builds the world (`reactions.install`).

The protocol core asks a `Pool` for `.db`, `.coordinator_address`, `.host_addresses`,
`.is_up(address)`, `.users` (name -> (password, role)), `.licensed(feature)` and `.clock`.

Each pool's `RedoWriter` is XAPI's redo log for DR (reference §2.1): hooked on the pool
database, it writes every changed record, tagged with the database generation, to every
enabled metadata VDI's volume as the write happens; the storage array replicates it with
its lag.
"""

from __future__ import annotations

import contextlib
import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from sim.xapi import schema
from sim.xapi.arrays import Storage, Volume
from sim.xapi.clock import SimClock
from sim.xapi.db import Database, copy_record
from sim.xapi.errors import XapiError
from sim.xapi.releases import Release
from sim.xapi.scenario import Scenario

log = logging.getLogger(__name__)

# Classes XAPI keeps out of the redo log: non-persistent or per-connection state.
NOT_REPLICATED = {"task", "message", "session"}
REPLICATED_CLASSES = [c for c, s in schema.CLASSES.items() if s.in_db and c not in NOT_REPLICATED]


@dataclass
class Host:
    """One XenServer host: its address, memory, xenopsd worker slots and liveness."""

    name: str
    address: str
    pool_name: str
    memory_total: int
    cpus: int
    workers: int
    ref: str = ""
    metrics_ref: str = ""
    dom0_ref: str = ""
    up: bool = True
    slots: threading.BoundedSemaphore = field(init=False, repr=False)
    busy: int = field(default=0, init=False)
    peak: int = field(default=0, init=False)

    def __post_init__(self) -> None:
        self.slots = threading.BoundedSemaphore(self.workers)
        self._count = threading.Lock()

    @contextlib.contextmanager
    def worker(self):
        """Hold one of the host's xenopsd worker slots (queue until one is free)."""
        with self.slots:
            with self._count:
                self.busy += 1
                self.peak = max(self.peak, self.busy)
            try:
                yield
            finally:
                with self._count:
                    self.busy -= 1


class RedoWriter:
    """Continuous write-through of a pool database to its metadata VDIs (reference §2.1).

    Hooked on the database (`Database.on_write`): every persistent write is written at once,
    tagged with the database generation, to every enabled metadata VDI's volume, inside the
    write itself, as xapi's redo log does. A target whose volume refuses a write is broken
    (its own VDI shows `metadata_latest=false`); the next write after it accepts again
    rewrites the whole database there (xapi's reconnect), and it is healthy again.
    """

    def __init__(self, pool: Pool) -> None:
        self.pool = pool
        self.targets: dict[str, Volume] = {}  # metadata VDI uuid -> volume
        self.broken: set[str] = set()
        self.generation = 0
        self._lock = threading.RLock()
        self._hooked = False

    def _hook(self) -> None:
        """Listen to the database from the first target on (a hook costs every write a copy)."""
        if not self._hooked:
            self._hooked = True
            self.pool.db.on_write(self._on_write)

    def _on_write(self, op: str, cls: str, ref: str, record: dict[str, Any] | None) -> None:
        if cls in NOT_REPLICATED:
            return
        try:
            with self._lock:
                self.generation = self.pool.db.generation
                if not self.targets:
                    return
                change = [(cls, ref, record)]
                storage = self.pool.world.storage
                for vdi_uuid, vol in list(self.targets.items()):
                    if vdi_uuid in self.broken:
                        if vol.writable() and self.pool.world.site_up(vol.site):
                            self._health(vdi_uuid, self._write_all(vdi_uuid, vol))
                        continue
                    ok = storage.write(vol, ("db_delta", vdi_uuid, self.generation, change))
                    self._health(vdi_uuid, ok)
        except Exception:  # a redo-log problem must never fail the API write that caused it
            log.exception("redo log of pool %s", self.pool.name)

    def _health(self, vdi_uuid: str, ok: bool) -> None:
        """Own metadata VDIs show `metadata_latest=false` while their log cannot be written."""
        was_broken = vdi_uuid in self.broken
        if ok == (not was_broken):
            return
        if ok:
            self.broken.discard(vdi_uuid)
        else:
            self.broken.add(vdi_uuid)
        db = self.pool.db
        with contextlib.suppress(Exception):
            db.set("VDI", db.by_uuid("VDI", vdi_uuid), metadata_latest=ok)
        with contextlib.suppress(Exception):
            pool = db.get("pool", self.pool.ref)
            if pool["other_config"].get("metadata_lun_alerts") == "true":
                db.create(
                    "message",
                    {
                        "name": "METADATA_LUN_HEALTHY" if ok else "METADATA_LUN_BROKEN",
                        "priority": 4 if ok else 3,
                        "cls": "Pool",
                        "obj_uuid": pool["uuid"],
                        "timestamp": self.pool.clock.now(),
                        "body": f"metadata VDI {vdi_uuid}",
                    },
                )

    def _write_all(self, vdi_uuid: str, vol: Volume) -> bool:
        db = self.pool.db
        with db.lock:
            generation = db.generation
            tables = {
                cls: {ref: copy_record(rec) for ref, rec in db._tables[cls].items()}
                for cls in REPLICATED_CLASSES
            }
        return self.pool.world.storage.write(vol, ("db_full", vdi_uuid, generation, tables))

    def full_write(self, vdi_uuid: str, vol: Volume) -> bool:
        """Enable a target: write the whole database to it, then every write after.

        The whole database is copied once per pool: a further target gets the tables of a
        healthy target, which are current (records are shared, never mutated: arrays.RedoLog).
        """
        db = self.pool.db
        with db.lock, self._lock:
            self._hook()
            base = next(
                (
                    other.content.redo_logs[u]
                    for u, other in self.targets.items()
                    if u not in self.broken and u in other.content.redo_logs
                ),
                None,
            )
            if base is not None and base.generation == db.generation:
                ok = self.pool.world.storage.write(
                    vol, ("db_full", vdi_uuid, base.generation, base.tables)
                )
            else:
                ok = self._write_all(vdi_uuid, vol)
            if ok:
                self.targets[vdi_uuid] = vol
                self.broken.discard(vdi_uuid)
            return ok

    def disable(self, vdi_uuid: str) -> None:
        with self._lock:
            self.targets.pop(vdi_uuid, None)
            self.broken.discard(vdi_uuid)


class Pool:
    """One pool: its database, hosts, users, licences, and the state XAPI keeps in memory."""

    def __init__(
        self, world: World, site: Site, name: str, db: Database, release: Release | None = None
    ) -> None:
        self.world = world
        self.site = site
        self.name = name
        self.db = db
        self.release = release or Release()  # the xapi release the pool's hosts run
        self.hosts: list[Host] = []
        self.users: dict[str, tuple[str, str]] = {}
        self.redo = RedoWriter(self)
        # Foreign metadata VDIs read at SR plug (reference §2.1 "cache_metadata_vdis"):
        # VDI ref -> (foreign pool uuid, database generation).
        self.foreign_metadata: dict[str, tuple[str, int]] = {}

    @property
    def clock(self) -> SimClock:
        return self.world.clock

    @property
    def coordinator(self) -> Host:
        return self.hosts[0]

    @property
    def coordinator_address(self) -> str:
        return self.coordinator.address

    @property
    def host_addresses(self) -> list[str]:
        return [h.address for h in self.hosts]

    def host_by_address(self, address: str) -> Host | None:
        return next((h for h in self.hosts if h.address == address), None)

    def host_by_ref(self, ref: str) -> Host | None:
        return next((h for h in self.hosts if h.ref == ref), None)

    def is_up(self, address: str) -> bool:
        host = self.host_by_address(address)
        return host is not None and host.up and self.site.up

    def live_hosts(self) -> list[Host]:
        return [h for h in self.hosts if h.up and self.site.up]

    def licensed(self, feature: str) -> bool:
        """Whether the pool's licence allows `feature` (`DR`, `VM_appliance_start`)."""
        key = {"DR": "restrict_dr", "VM_appliance_start": "restrict_vm_appliance_start"}.get(
            feature, f"restrict_{feature.lower()}"
        )
        pool_ref = self.db.refs("pool")[0]
        return self.db.get_field("pool", pool_ref, "restrictions").get(key, "false") == "false"

    def assert_licensed(self, feature: str) -> None:
        """`LICENCE_RESTRICTION [feature]` unless the licence allows `feature`."""
        if not self.licensed(feature):
            raise XapiError("LICENCE_RESTRICTION", feature)

    @property
    def ref(self) -> str:
        return self.db.refs("pool")[0]


@dataclass
class Site:
    name: str
    up: bool = True
    pools: list[Pool] = field(default_factory=list)


class Faults:
    """Injected faults (control API `POST /faults`), checked by the world's methods."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.vm_start: list[dict[str, Any]] = []
        self.stalls: list[dict[str, Any]] = []
        self.failed_luns: list[str] = []
        # Host failures that happen when a call reaches the stall point of `method` (a run
        # reaching a step), not at a time: {"host": name, "method": m, "after": n}.
        self.host_triggers: list[dict[str, Any]] = []
        self.released = threading.Event()
        # Methods of the calls held at a stall point right now (one entry per call).
        self.stalled: list[str] = []
        self.stalled_changed = threading.Condition(self.lock)

    def wait_stalled(self, count: int, timeout: float) -> list[str]:
        """Block until at least `count` calls are held at stall points (or `timeout` s)."""
        with self.stalled_changed:
            self.stalled_changed.wait_for(lambda: len(self.stalled) >= count, timeout)
            return list(self.stalled)

    def vm_start_error(
        self, vm_uuid: str, vm_name: str, site: str | None = None
    ) -> list[str] | None:
        """The error a start of this VM must fail with, if a fault names it (uses one); a
        fault with a `site` applies only to starts at that site."""
        with self.lock:
            for fault in self.vm_start:
                if fault["vm"] in {vm_uuid, vm_name} and fault.get("site") in (None, site):
                    if fault.get("times") is not None:
                        fault["times"] -= 1
                        if fault["times"] <= 0:
                            self.vm_start.remove(fault)
                    return list(fault["error"])
        return None

    def stall_for(self, method: str, site: str | None = None) -> bool:
        """Whether a `task_stall` holds calls of `method` (one with a `site`: only there)."""
        with self.lock:
            return any(
                s.get("method") in {None, "", "*", method} and s.get("site") in (None, site)
                for s in self.stalls
            )

    def hosts_due(self, method: str) -> list[str]:
        """The hosts to fail now that a call reached `method`'s stall point (uses a count)."""
        due = []
        with self.lock:
            for trigger in list(self.host_triggers):
                if trigger["method"] != method:
                    continue
                trigger["after"] -= 1
                if trigger["after"] <= 0:
                    self.host_triggers.remove(trigger)
                    due.append(trigger["host"])
        return due

    def to_json(self) -> dict[str, Any]:
        with self.lock:
            return {
                "vm_start": [dict(f) for f in self.vm_start],
                "task_stall": [dict(s) for s in self.stalls],
                "lun": list(self.failed_luns),
                "host_down": [dict(t) for t in self.host_triggers],
                "stalled": list(self.stalled),
            }


HostReaction = Callable[[Pool, Host], None]


@dataclass
class Reactions:
    """What happens in a pool, beyond the host itself, when a host fails or comes back.

    `host_failed(pool, host)` runs after a host went down while its site stays up (with HA
    on, the protected VMs restart elsewhere); `host_rebooted(pool, host)` after a host or
    its whole site came back (its guests are Halted, its PBDs re-plug). Empty by default: a
    bare world only marks hosts up or down.
    """

    host_failed: list[HostReaction] = field(default_factory=list)
    host_rebooted: list[HostReaction] = field(default_factory=list)


class World:
    """Everything the simulator serves (see the module docstring)."""

    def __init__(self, scenario: Scenario, clock: SimClock) -> None:
        self.scenario = scenario
        self.clock = clock
        self.sites: dict[str, Site] = {}
        self.pools: dict[str, Pool] = {}
        self.storage = Storage(clock.wall, self.site_up)
        self.faults = Faults()
        self.reactions = Reactions()
        self.sessions: Any = None  # the core's session store, set by serve.py
        self.lock = threading.RLock()

    def start(self) -> None:
        """Nothing runs in the background: the world acts inside the calls made to it."""

    def stop(self) -> None:
        """Wake every simulated sleep and stalled call so that the servers can stop."""
        self.clock.interrupt()
        self.faults.released.set()

    # ------------------------------------------------------------------ lookups

    def site_up(self, site: str) -> bool:
        s = self.sites.get(site)
        return s is not None and s.up

    def host(self, address: str) -> tuple[Pool, Host]:
        for pool in self.pools.values():
            host = pool.host_by_address(address)
            if host is not None:
                return pool, host
        raise KeyError(f"no host has address {address!r}; see GET /state for the hosts")

    def all_hosts(self) -> list[tuple[Pool, Host]]:
        return [(p, h) for p in self.pools.values() for h in p.hosts]

    # ------------------------------------------------------------------ faults

    def set_site(self, name: str, up: bool) -> None:
        """Fail or restore a whole site: its hosts refuse connections, its array stops."""
        if name not in self.sites:
            raise KeyError(f"no site {name!r}; sites: {', '.join(self.sites)}")
        self.storage.pump()
        site = self.sites[name]
        rebooted = [h for p in site.pools for h in p.hosts if h.up and not site.up and up]
        site.up = up
        for pool in site.pools:
            self._mark_live(pool)
            self._reboot(pool, [h for h in rebooted if h in pool.hosts])

    def set_host(self, address: str, up: bool) -> None:
        pool, host = self.host(address)
        came_back = up and not host.up and pool.site.up
        went_down = not up and host.up and pool.site.up
        host.up = up
        self._mark_live(pool)
        if came_back:
            self._reboot(pool, [host])
        if went_down:
            for react in self.reactions.host_failed:
                react(pool, host)

    def _reboot(self, pool: Pool, hosts: list[Host]) -> None:
        """Hosts back from a failure have booted afresh (see `Reactions.host_rebooted`)."""
        for host in hosts:
            for react in self.reactions.host_rebooted:
                react(pool, host)

    def _mark_live(self, pool: Pool) -> None:
        """Keep `host_metrics.live` in step with reachability (as the coordinator sees it)."""
        for host in pool.hosts:
            live = host.up and pool.site.up
            with contextlib.suppress(Exception):
                if pool.db.get_field("host_metrics", host.metrics_ref, "live") != live:
                    pool.db.set("host_metrics", host.metrics_ref, live=live)

    def fail_lun(self, link_id: str, side: str = "mirror", failed: bool = True) -> Volume:
        """Make one end of a replicated LUN fail (SR_BACKEND_FAILURE_47) or heal."""
        link = self.storage.link(link_id)
        vol = {"source": link.source, "mirror": link.mirror, "test-copy": link.test_copy}.get(side)
        if vol is None:
            raise KeyError(f"side must be source, mirror or test-copy (with one presented): {side}")
        vol.failed = failed
        with self.faults.lock:
            key = f"{link_id}:{side}"
            if failed and key not in self.faults.failed_luns:
                self.faults.failed_luns.append(key)
            if not failed and key in self.faults.failed_luns:
                self.faults.failed_luns.remove(key)
        return vol

    def clear_faults(self) -> None:
        """Drop every injected fault (failed LUNs heal; stalled calls carry on)."""
        for key in list(self.faults.failed_luns):
            link_id, side = key.split(":", 1)
            with contextlib.suppress(KeyError):
                self.fail_lun(link_id, side, failed=False)
        with self.faults.lock:
            self.faults.vm_start.clear()
            self.faults.stalls.clear()
            self.faults.host_triggers.clear()
            self.faults.released.set()
            self.faults.released = threading.Event()

    def stall(self, call: Any) -> None:
        """A stall point for a wire method (`call.method`); a cancelled task raises there."""
        task = getattr(call, "task", None)
        pool = getattr(call, "pool", None)
        site = pool.site.name if pool is not None else None
        self.stall_point(
            call.method, task.cancelled if task is not None else lambda: False, site=site
        )
        if task is not None:
            task.check_cancelled()

    def stall_point(self, method: str, cancelled=lambda: False, site: str | None = None) -> None:
        """Fail the hosts a trigger names for `method`, then block here while a `task_stall`
        fault names `method` at this `site` (or until cancelled/stop)."""
        for name in self.faults.hosts_due(method):
            address = next(h.address for _, h in self.all_hosts() if h.name == name)
            self.set_host(address, False)
        if not self.faults.stall_for(method, site):
            return
        faults = self.faults
        with faults.stalled_changed:
            faults.stalled.append(method)
            faults.stalled_changed.notify_all()
        try:
            while faults.stall_for(method, site) and not self.clock.stopping and not cancelled():
                faults.released.wait(0.05)
        finally:
            with faults.stalled_changed:
                faults.stalled.remove(method)
                faults.stalled_changed.notify_all()
