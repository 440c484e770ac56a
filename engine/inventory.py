"""A typed, in-memory snapshot of one pool, kept current from `event.from`.

`Inventory.load(client)` reads the pool with one `get_all_records` per class: a constant number of
round trips (14: an event token and 13 classes) whatever the size, over JSON-RPC, because parsing
is the cost that grows (reference §1.6: XML-RPC unmarshalling of 10,000 VMs takes seconds). First it
takes an event token, so `follow()` replays every change made during or after the snapshot;
replaying a change already seen is harmless because each event carries the whole record.
Records become models through one `Converter` per class, driven by the model's fields; the
cyclic garbage collector is paused while a snapshot is parsed and converted (`gc_paused`), which
halves a cold load of a big pool. `load_seconds` says where the last load's time went.

`follow()` runs `event.from` in a background thread and applies add / mod / del events, so a
status question is answered from memory; `versions(*tables)` tells a derived view which
tables changed, so it can recompute only what depends on them. `Inventory` is safe to read
while it follows: readers get consistent dicts because each batch of events is applied under a
lock, and the readiness and planner code copy the maps they walk.

Example:
    inv = Inventory.load(client).follow()
    running = [vm.name_label for vm in inv.real_vms() if vm.power_state == "Running"]
    inv.stop()
"""

from __future__ import annotations

import contextlib
import gc
import threading
import time
import xmlrpc.client
from collections.abc import Callable, Hashable, Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from typing import Any, TypeVar, cast

from pydantic import BaseModel

from engine.errors import XapiError
from engine.models import (
    NULL_REF,
    ApplianceInfo,
    DRTaskInfo,
    HostInfo,
    NetworkInfo,
    PBDInfo,
    PoolInfo,
    SRInfo,
    VBDInfo,
    VDIInfo,
    VIFInfo,
    VMInfo,
)
from engine.pool_api import PoolAPI
from engine.tables import VMTables

# ---------------------------------------------------------------------------------------------
# XAPI record -> model. Converters normalise XAPI's values first (digit strings, null refs,
# datetimes), so pydantic's validation is a cheap type check (measured a little faster than
# `model_construct`, which is pure Python, and than `Model(**values)`).
# ---------------------------------------------------------------------------------------------


def _int(value: Any) -> int:
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, int):
        return value
    try:
        return int(str(value))
    except ValueError:
        try:
            return int(float(str(value)))
        except ValueError:
            return 0


def _bool(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    return str(value).lower() == "true"


def _ref(value: Any) -> str | None:
    if not value or value == NULL_REF:
        return None
    return str(value)


def _refs(value: Any) -> list[str]:
    return [str(v) for v in value or [] if v and v != NULL_REF]


def _map(value: Any) -> dict[str, str]:
    return {str(k): str(v) for k, v in (value or {}).items()}


def _time(value: Any) -> datetime | None:
    """XAPI datetimes: xmlrpc DateTime, or the string `YYYYMMDDTHH:MM:SSZ` (also with dashes)."""
    if value is None or value == "":
        return None
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    if isinstance(value, xmlrpc.client.DateTime):
        value = value.value
    text = str(value)
    try:
        # C-fast, and since Python 3.11 it reads XAPI's `YYYYMMDDTHH:MM:SSZ` and a trailing Z.
        parsed = datetime.fromisoformat(text)
    except ValueError:
        for fmt in ("%Y%m%dT%H:%M:%SZ", "%Y%m%dT%H:%M:%S", "%Y-%m-%dT%H:%M:%SZ"):
            try:
                return datetime.strptime(text, fmt).replace(tzinfo=UTC)
            except ValueError:
                continue
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


T = TypeVar("T")

# XAPI's name for a model field, where it is not the field's own name.
XAPI_KEYS = {
    "vbds": "VBDs",
    "vifs": "VIFs",
    "vdis": "VDIs",
    "pbds": "PBDs",
    "pifs": "PIFs",
    "vms": "VMs",
    "vm": "VM",
    "vdi": "VDI",
    "sr": "SR",
    "mac": "MAC",
    "vcpus_max": "VCPUs_max",
    "suspend_vdi": "suspend_VDI",
    "metadata_vdis": "metadata_VDIs",
    "introduced_srs": "introduced_SRs",
    "resident_vms": "resident_VMs",
}
# Fields read from the owner's metrics object (host_metrics, VM_metrics) instead of its record.
METRIC_FIELDS: dict[type[BaseModel], tuple[str, ...]] = {
    HostInfo: ("live", "memory_total", "memory_free"),
    VMInfo: ("install_time",),
}
# Normalisers by field annotation; a list of strings is a list of refs unless listed here.
_PLAIN_LISTS = frozenset({"tags"})
_NORMALISERS: dict[Any, Callable[[Any], Any]] = {
    str: str,
    int: _int,
    bool: _bool,
    str | None: _ref,
    list[str]: _refs,
    dict[str, str]: _map,
    datetime | None: _time,
}


class Converter:
    """XAPI record -> `model`, driven by the model's own fields: each is read from the record
    under its XAPI name (`XAPI_KEYS`), or from the metrics record for `METRIC_FIELDS`,
    normalised by its annotation, and the model's default fills what the record lacks.

    The values are normalised to the annotated types here, so the model's validator only
    checks them; it is called directly, which skips `BaseModel.__init__`'s keyword handling.
    """

    def __init__(self, model: type[BaseModel]) -> None:
        self.model = model
        self._validate = model.__pydantic_validator__.validate_python
        metric = set(METRIC_FIELDS.get(model, ()))
        self._own: list[tuple[str, str, Callable[[Any], Any], Any]] = []
        self._metric: list[tuple[str, Callable[[Any], Any], Any]] = []
        for name, info in model.model_fields.items():
            if name == "ref":
                continue
            if info.annotation == list[str] and name in _PLAIN_LISTS:
                norm: Callable[[Any], Any] = _strs
            else:
                norm = _NORMALISERS[info.annotation]
            # A required field (`uuid`) that a record lacks reads as "", as XAPI's own empty.
            default = "" if info.is_required() else info.get_default(call_default_factory=True)
            if name in metric:
                self._metric.append((name, norm, default))
            else:
                self._own.append((name, XAPI_KEYS.get(name, name), norm, default))

    def __call__(
        self, ref: str, r: dict[str, Any], metrics: dict[str, dict[str, Any]] | None = None
    ) -> Any:
        values: dict[str, Any] = {"ref": ref}
        for name, key, norm, default in self._own:
            value = r.get(key, _MISSING)
            values[name] = default if value is _MISSING else norm(value)
        if self._metric:
            values.update(self.from_metrics((metrics or {}).get(str(r.get("metrics")))))
        return self._validate(values)

    def from_metrics(self, m: dict[str, Any] | None) -> dict[str, Any]:
        """The fields this model takes from its metrics record `m` (defaults when it has none)."""
        if not m:
            return {name: default for name, _, default in self._metric}
        return {
            name: default if name not in m else norm(m[name])
            for name, norm, default in self._metric
        }


_MISSING = object()


def _strs(value: Any) -> list[str]:
    return [str(v) for v in value or []]


pool_info = Converter(PoolInfo)
host_info = Converter(HostInfo)
vm_info = Converter(VMInfo)
appliance_info = Converter(ApplianceInfo)
sr_info = Converter(SRInfo)
pbd_info = Converter(PBDInfo)
vdi_info = Converter(VDIInfo)
vbd_info = Converter(VBDInfo)
vif_info = Converter(VIFInfo)
network_info = Converter(NetworkInfo)
dr_task_info = Converter(DRTaskInfo)


_gc_lock = threading.Lock()
_gc_pausers = 0
_gc_was_enabled = False


@contextlib.contextmanager
def gc_paused() -> Iterator[None]:
    """Pause the cyclic garbage collector while a snapshot is parsed and converted.

    Parsing a 10,000-VM answer allocates millions of containers, and each allocation burst
    triggers collections that walk all of them again: measured, more than half the cold load.
    The JSON records and models hold no reference cycles (reference counting frees them), so
    nothing is lost by pausing. Nested and concurrent pauses (two pools loaded at once) count:
    the collector comes back when the last one ends, as it was before the first.
    """
    global _gc_pausers, _gc_was_enabled
    with _gc_lock:
        if _gc_pausers == 0:
            _gc_was_enabled = gc.isenabled()
            gc.disable()
        _gc_pausers += 1
    try:
        yield
    finally:
        with _gc_lock:
            _gc_pausers -= 1
            if _gc_pausers == 0 and _gc_was_enabled:
                gc.enable()


# XAPI class -> attribute of Inventory. Metrics classes are read to fill hosts and VMs.
CLASSES: dict[str, str] = {
    "pool": "pools",
    "host": "hosts",
    "VM": "vms",
    "VM_appliance": "appliances",
    "SR": "srs",
    "PBD": "pbds",
    "VDI": "vdis",
    "VBD": "vbds",
    "VIF": "vifs",
    "network": "networks",
    "DR_task": "dr_tasks",
}
METRICS = ("host_metrics", "VM_metrics")
_METRIC_OWNERS = {"host": "host_metrics", "VM": "VM_metrics"}
FETCH_WORKERS = 4
_BY_EVENT_CLASS = {c.lower(): c for c in (*CLASSES, *METRICS)}


class Inventory(VMTables):
    """What one pool holds, typed; see the module docstring for how it stays current.

    Attributes are dicts from ref to model: `pools`, `hosts`, `vms`, `appliances`, `srs`,
    `pbds`, `vdis`, `vbds`, `vifs`, `networks`, `dr_tasks`. `loaded_at` is when the snapshot
    was taken and `changed_at` when the last event was applied (both from the client's clock).
    The VM-side lookups (a VM's disks, their SRs, its networks) are `engine.tables.VMTables`'s,
    shared with the `Records` read from a metadata VDI.
    """

    def __init__(self, client: PoolAPI, name: str = "") -> None:
        self.client = client
        self.name = name or client.endpoint.name
        self.pools: dict[str, PoolInfo] = {}
        self.hosts: dict[str, HostInfo] = {}
        self.vms: dict[str, VMInfo] = {}
        self.appliances: dict[str, ApplianceInfo] = {}
        self.srs: dict[str, SRInfo] = {}
        self.pbds: dict[str, PBDInfo] = {}
        self.vdis: dict[str, VDIInfo] = {}
        self.vbds: dict[str, VBDInfo] = {}
        self.vifs: dict[str, VIFInfo] = {}
        self.networks: dict[str, NetworkInfo] = {}
        self.dr_tasks: dict[str, DRTaskInfo] = {}
        # Metrics records as XAPI sent them, and which host or VM each one belongs to: an event on
        # a metrics object re-derives its owner's metric fields without keeping owners' records.
        self._raw_metrics: dict[str, dict[str, dict[str, Any]]] = {c: {} for c in METRICS}
        self._metrics_owner: dict[str, str] = {}
        self._owner_metrics: dict[str, str] = {}
        self.token = ""
        self._token_url: str | None = None  # the coordinator the token was taken from
        self.loaded_at: datetime | None = None
        self.changed_at: datetime | None = None
        self.round_trips = 0
        # Where the last snapshot's time went, in seconds: `fetch` (round trips and JSON
        # parsing) and `convert` (records to models).
        self.load_seconds: dict[str, float] = {}
        self.generation = 0  # bumps on every applied batch; `wait_for` waits on it
        # Per table (attribute name): bumps when an event or a reload changes that table, so a
        # derived view can tell which of its inputs moved (`versions`).
        self._versions: dict[str, int] = dict.fromkeys(CLASSES.values(), 0)
        self.last_error: XapiError | None = None
        # Records an event brought that could not be converted (ref -> why); they are skipped.
        self.unreadable: dict[str, str] = {}
        self._lock = threading.RLock()
        self._changed = threading.Condition(self._lock)
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()
        self._memo: dict[str, tuple[Any, Any]] = {}

    # -- loading ------------------------------------------------------------------------------

    @classmethod
    def load(cls, client: PoolAPI, name: str = "") -> Inventory:
        """Snapshot the pool in a constant number of round trips (one per class, plus a token)."""
        inv = cls(client, name)
        inv.reload()
        return inv

    def reload(self) -> None:
        """Take a fresh snapshot (also what `follow` does when its token is no longer valid)."""
        before = self.client.calls
        with gc_paused():
            started = time.perf_counter()
            token = self.client.current_token()
            raw = self._fetch_all()
            fetched = time.perf_counter()
            metrics = {c: raw.pop(c) for c in METRICS}
            owners = {
                ref: str(r.get("metrics"))
                for xcls in _METRIC_OWNERS
                for ref, r in raw[xcls].items()
            }
            tables = {
                attr: convert_all(xcls, raw.pop(xcls), metrics.get(_METRIC_OWNERS.get(xcls, "")))
                for xcls, attr in CLASSES.items()
            }
            converted = time.perf_counter()
        with self._lock:
            self._raw_metrics = metrics
            self._owner_metrics = owners
            self._metrics_owner = {m: ref for ref, m in owners.items()}
            self._replace_tables(tables)
            for attr in tables:
                self._versions[attr] += 1
            self.token = token
            self._token_url = self.client.url
            self.loaded_at = self.changed_at = self.client.clock.now()
            self.round_trips = self.client.calls - before
            self.load_seconds = {"fetch": fetched - started, "convert": converted - fetched}
            self.generation += 1
            self._changed.notify_all()

    def _tables(self) -> dict[str, dict[str, Any]]:
        """The current tables by XAPI class (`reload` replaces the dicts, events edit them)."""
        return {
            "pool": self.pools,
            "host": self.hosts,
            "VM": self.vms,
            "VM_appliance": self.appliances,
            "SR": self.srs,
            "PBD": self.pbds,
            "VDI": self.vdis,
            "VBD": self.vbds,
            "VIF": self.vifs,
            "network": self.networks,
            "DR_task": self.dr_tasks,
        }

    def _replace_tables(self, tables: dict[str, dict[str, Any]]) -> None:
        """Put a fresh snapshot's tables (by attribute name, `CLASSES`) in place, each whole,
        so a reader holding the old dict keeps a consistent one."""
        self.pools = tables["pools"]
        self.hosts = tables["hosts"]
        self.vms = tables["vms"]
        self.appliances = tables["appliances"]
        self.srs = tables["srs"]
        self.pbds = tables["pbds"]
        self.vdis = tables["vdis"]
        self.vbds = tables["vbds"]
        self.vifs = tables["vifs"]
        self.networks = tables["networks"]
        self.dr_tasks = tables["dr_tasks"]

    def _fetch_all(self) -> dict[str, dict[str, dict[str, Any]]]:
        """One `get_all_records` per class, a few at a time: the server builds one answer while
        this process parses another (each worker thread closes its connection when done)."""
        classes = (*CLASSES, *METRICS)

        def fetch(xcls: str) -> dict[str, dict[str, Any]]:
            try:
                return self.client.get_all_records(xcls)
            finally:
                self.client.release_thread()

        with ThreadPoolExecutor(max_workers=FETCH_WORKERS, thread_name_prefix="inventory") as ex:
            return dict(zip(classes, ex.map(fetch, classes), strict=True))

    def _convert(self, xcls: str, ref: str, r: dict[str, Any]) -> Any:
        if xcls in _METRIC_OWNERS:
            metrics_ref = str(r.get("metrics"))
            self._forget_metrics_owner(ref)
            self._owner_metrics[ref] = metrics_ref
            self._metrics_owner[metrics_ref] = ref
            return CONVERTERS[xcls](ref, r, self._raw_metrics[_METRIC_OWNERS[xcls]])
        return CONVERTERS[xcls](ref, r)

    def _forget_metrics_owner(self, ref: str) -> None:
        old = self._owner_metrics.pop(ref, None)
        if old is not None and self._metrics_owner.get(old) == ref:
            del self._metrics_owner[old]

    # -- following ----------------------------------------------------------------------------

    def apply(self, events: list[dict[str, Any]]) -> int:
        """Apply a batch of `event.from` events; returns how many touched this inventory."""
        applied = 0
        with self._lock:
            tables = self._tables()
            for ev in events:
                xcls = _BY_EVENT_CLASS.get(str(ev.get("class", "")).lower())
                if xcls is None:
                    continue
                ref = str(ev.get("ref"))
                op = ev.get("operation")
                snap = ev.get("snapshot")
                applied += 1
                if xcls in METRICS:
                    self._apply_metrics(xcls, ref, op, snap)
                    continue
                table = tables[xcls]
                self._versions[CLASSES[xcls]] += 1
                if op == "del" or snap is None:
                    table.pop(ref, None)
                    self._forget_metrics_owner(ref)
                    continue
                try:
                    table[ref] = self._convert(xcls, ref, snap)
                except Exception as exc:  # one record drbot cannot read must not stop the rest
                    self.unreadable[ref] = f"{xcls}: {type(exc).__name__}: {exc}"
                    continue
                self.unreadable.pop(ref, None)
            if applied:
                self.changed_at = self.client.clock.now()
                self.generation += 1
                self._changed.notify_all()
        return applied

    def _apply_metrics(self, xcls: str, ref: str, op: Any, snap: Any) -> None:
        metrics = self._raw_metrics[xcls]
        if op == "del" or snap is None:
            metrics.pop(ref, None)
        else:
            metrics[ref] = snap
        # Re-derive the metric fields of the owner (host memory, VM install time).
        owner_ref = self._metrics_owner.get(ref)
        owner_cls = "host" if xcls == "host_metrics" else "VM"
        table = self._tables()[owner_cls]
        owner = table.get(owner_ref or "")
        if owner_ref is not None and owner is not None:
            self._versions[CLASSES[owner_cls]] += 1
            table[owner_ref] = owner.model_copy(
                update=CONVERTERS[owner_cls].from_metrics(metrics.get(ref))
            )

    def follow(self, *, poll_seconds: float = 30.0) -> Inventory:
        """Keep the inventory current from `event.from` in a daemon thread until `stop()`.

        A failed `event.from` is retried after a short pause; an invalid token (the server
        forgot it) triggers a fresh snapshot. The last failure is kept in `last_error`.
        """
        if self._thread is not None and self._thread.is_alive():
            return self
        self._stop.clear()
        classes = [c.lower() for c in (*CLASSES, *METRICS)]

        def run() -> None:
            try:
                follow_loop()
            finally:
                self.client.release_thread()

        def follow_loop() -> None:
            backoff = 0.5
            while not self._stop.is_set():
                try:
                    events, token = self.client.events(classes, self.token, poll_seconds)
                except XapiError as exc:
                    with self._changed:
                        self.last_error = exc
                        self._changed.notify_all()  # `wait_for` may be watching health
                    if exc.code == "EVENT_FROM_TOKEN_PARSE_FAILURE":
                        try:
                            self.reload()
                            continue
                        except XapiError as again:
                            self.last_error = again
                    # Real time on purpose: this waits for a remote pool, not for the model.
                    self._stop.wait(backoff)
                    backoff = min(backoff * 2, 30.0)
                    continue
                backoff = 0.5
                self.last_error = None
                if self._stop.is_set():
                    break
                if self.client.url != self._token_url:
                    # Another coordinator answered (HOST_IS_SLAVE, a new one elected): its
                    # tokens need not mean what the old one's did. Snapshot afresh.
                    try:
                        self.reload()
                    except XapiError as exc:
                        self.last_error = exc
                    continue
                self.apply(events)
                with self._lock:
                    self.token = token

        self._thread = threading.Thread(target=run, name=f"inventory-{self.name}", daemon=True)
        self._thread.start()
        return self

    def stop(self, timeout: float = 5.0) -> None:
        """Stop following; returns once the thread has ended (or after `timeout`)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None

    @property
    def following(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def wait_for(self, predicate: Callable[[Inventory], bool], timeout: float) -> bool:
        """Block until `predicate(self)` holds (checked after each applied batch) or `timeout`."""
        deadline = time.monotonic() + timeout
        with self._changed:
            while not predicate(self):
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                self._changed.wait(remaining)
            return True

    def versions(self, *tables: str) -> tuple[int, ...]:
        """The change counters of the named tables (`"vbds"`, `"srs"`, ...): equal tuples mean
        none of them changed in between."""
        with self._lock:
            return tuple(self._versions[t] for t in tables)

    def keyed_cache(self, name: str, key: Any) -> dict[Any, Any]:
        """A dict kept for as long as `key` stays the same (a new, empty one when it changes),
        for views updated piece by piece, e.g. per VM, across inventory generations."""
        with self._lock:
            hit = self._memo.get(name)
            if hit is None or hit[0] != ("keyed", key):
                hit = (("keyed", key), {})
                self._memo[name] = hit
            return hit[1]

    def memo(self, name: str, key: Hashable, compute: Callable[[], T]) -> T:
        """`compute()` once per (`generation`, `key`): derived views that only change when the
        inventory or `key` does are answered from memory while the pool is quiet."""
        with self._lock:
            stamp = (self.generation, key)
            hit = self._memo.get(name)
            if hit is not None and hit[0] == stamp:
                return cast(T, hit[1])  # each `name` is used with one `compute`, so one type
        value = compute()
        with self._lock:
            self._memo[name] = (stamp, value)
        return value

    # -- lookups ------------------------------------------------------------------------------

    @property
    def pool(self) -> PoolInfo:
        """The pool object (exactly one per database)."""
        return next(iter(self.pools.values()))

    def sr_attached(self, sr: SRInfo) -> bool:
        """At least one plugged PBD (what `VM.assert_can_be_recovered` asks, §2.7)."""
        return any(self.pbds[p].currently_attached for p in sr.pbds if p in self.pbds)

    def sr_by_uuid(self, uuid: str) -> SRInfo | None:
        for sr in list(self.srs.values()):
            if sr.uuid == uuid:
                return sr
        return None

    def network_by_name(self, name: str) -> NetworkInfo | None:
        for net in list(self.networks.values()):
            if net.name_label == name:
                return net
        return None

    def network_by_bridge(self, bridge: str) -> NetworkInfo | None:
        for net in list(self.networks.values()):
            if bridge and net.bridge == bridge:
                return net
        return None

    def free_memory(self) -> int:
        """Free memory of the live, enabled hosts, in bytes."""
        return sum(h.memory_free for h in self.hosts.values() if h.live and h.enabled)


CONVERTERS: dict[str, Converter] = {
    "pool": pool_info,
    "host": host_info,
    "VM": vm_info,
    "VM_appliance": appliance_info,
    "SR": sr_info,
    "PBD": pbd_info,
    "VDI": vdi_info,
    "VBD": vbd_info,
    "VIF": vif_info,
    "network": network_info,
    "DR_task": dr_task_info,
}


def convert_all(
    xcls: str, records: dict[str, dict[str, Any]], metrics: dict[str, dict[str, Any]] | None = None
) -> dict[str, Any]:
    """`get_all_records` of `xcls` as a dict from ref to model (`metrics`: the metrics class's
    records, for hosts and VMs; without them metric fields keep their defaults)."""
    convert = CONVERTERS[xcls]
    return {ref: convert(ref, r, metrics) for ref, r in records.items()}
