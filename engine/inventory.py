"""A typed, in-memory snapshot of one pool, kept current from `event.from`.

`Inventory.load(client)` reads the pool with one `get_all_records` per class: a constant number of
round trips (14: an event token and 13 classes) whatever the size, over JSON-RPC, because parsing
is the cost that grows (reference §1.6: XML-RPC unmarshalling of 10,000 VMs takes seconds). First it
takes an event token, so `follow()` replays every change made during or after the snapshot;
replaying a change already seen is harmless because each event carries the whole record.

`follow()` runs `event.from` in a background thread and applies add / mod / del events, so a
status question is answered from memory. `Inventory` is safe to read while it follows: readers
get consistent dicts because each batch of events is applied under a lock, and the readiness and
planner code copy the maps they walk.

Example:
    inv = Inventory.load(client).follow()
    running = [vm.name_label for vm in inv.real_vms() if vm.power_state == "Running"]
    inv.stop()
"""

from __future__ import annotations

import threading
import time
import xmlrpc.client
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from typing import Any

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
from engine.xapi import XapiClient

# ---------------------------------------------------------------------------------------------
# XAPI record -> model. Converters normalise XAPI's values first (digit strings, null refs,
# datetimes), so pydantic's validation is a cheap type check (~3 us per VM; measured faster than
# `model_construct`, which is pure Python).
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
    for fmt in ("%Y%m%dT%H:%M:%SZ", "%Y%m%dT%H:%M:%S", "%Y-%m-%dT%H:%M:%SZ"):
        try:
            return datetime.strptime(text, fmt).replace(tzinfo=UTC)
        except ValueError:
            continue
    try:
        parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def pool_info(ref: str, r: dict[str, Any]) -> PoolInfo:
    return PoolInfo(
        ref=ref,
        uuid=str(r.get("uuid", "")),
        name_label=str(r.get("name_label", "")),
        master=_ref(r.get("master")),
        ha_enabled=_bool(r.get("ha_enabled", False)),
        restrictions=_map(r.get("restrictions")),
        other_config=_map(r.get("other_config")),
        metadata_vdis=_refs(r.get("metadata_VDIs")),
    )


def host_info(ref: str, r: dict[str, Any], metrics: dict[str, dict[str, Any]]) -> HostInfo:
    m = metrics.get(str(r.get("metrics")), {})
    return HostInfo(
        ref=ref,
        uuid=str(r.get("uuid", "")),
        name_label=str(r.get("name_label", "")),
        address=str(r.get("address", "")),
        enabled=_bool(r.get("enabled", True)),
        live=_bool(m.get("live", True)) if m else True,
        memory_total=_int(m.get("memory_total", 0)),
        memory_free=_int(m.get("memory_free", 0)),
        license_params=_map(r.get("license_params")),
        edition=str(r.get("edition", "")),
        resident_vms=_refs(r.get("resident_VMs")),
    )


def vm_info(ref: str, r: dict[str, Any], metrics: dict[str, dict[str, Any]]) -> VMInfo:
    m = metrics.get(str(r.get("metrics")), {})
    return VMInfo(
        ref=ref,
        uuid=str(r.get("uuid", "")),
        name_label=str(r.get("name_label", "")),
        power_state=str(r.get("power_state", "Halted")),
        is_a_template=_bool(r.get("is_a_template", False)),
        is_a_snapshot=_bool(r.get("is_a_snapshot", False)),
        is_control_domain=_bool(r.get("is_control_domain", False)),
        appliance=_ref(r.get("appliance")),
        order=_int(r.get("order", 0)),
        start_delay=_int(r.get("start_delay", 0)),
        shutdown_delay=_int(r.get("shutdown_delay", 0)),
        memory_static_max=_int(r.get("memory_static_max", 0)),
        memory_dynamic_max=_int(r.get("memory_dynamic_max", 0)),
        memory_overhead=_int(r.get("memory_overhead", 0)),
        vcpus_max=_int(r.get("VCPUs_max", 0)),
        version=_int(r.get("version", 0)),
        resident_on=_ref(r.get("resident_on")),
        ha_restart_priority=str(r.get("ha_restart_priority", "")),
        vbds=_refs(r.get("VBDs")),
        vifs=_refs(r.get("VIFs")),
        suspend_vdi=_ref(r.get("suspend_VDI")),
        tags=[str(t) for t in r.get("tags") or []],
        other_config=_map(r.get("other_config")),
        install_time=_time(m.get("install_time")) if m else None,
    )


def appliance_info(ref: str, r: dict[str, Any]) -> ApplianceInfo:
    return ApplianceInfo(
        ref=ref,
        uuid=str(r.get("uuid", "")),
        name_label=str(r.get("name_label", "")),
        name_description=str(r.get("name_description", "")),
        vms=_refs(r.get("VMs")),
    )


def sr_info(ref: str, r: dict[str, Any]) -> SRInfo:
    return SRInfo(
        ref=ref,
        uuid=str(r.get("uuid", "")),
        name_label=str(r.get("name_label", "")),
        type=str(r.get("type", "")),
        content_type=str(r.get("content_type", "")),
        shared=_bool(r.get("shared", False)),
        pbds=_refs(r.get("PBDs")),
        vdis=_refs(r.get("VDIs")),
        introduced_by=_ref(r.get("introduced_by")),
        physical_size=_int(r.get("physical_size", 0)),
        physical_utilisation=_int(r.get("physical_utilisation", 0)),
        sm_config=_map(r.get("sm_config")),
        other_config=_map(r.get("other_config")),
    )


def pbd_info(ref: str, r: dict[str, Any]) -> PBDInfo:
    return PBDInfo(
        ref=ref,
        uuid=str(r.get("uuid", "")),
        host=_ref(r.get("host")),
        sr=_ref(r.get("SR")),
        device_config=_map(r.get("device_config")),
        currently_attached=_bool(r.get("currently_attached", False)),
    )


def vdi_info(ref: str, r: dict[str, Any]) -> VDIInfo:
    return VDIInfo(
        ref=ref,
        uuid=str(r.get("uuid", "")),
        name_label=str(r.get("name_label", "")),
        sr=_ref(r.get("SR")),
        type=str(r.get("type", "user")),
        location=str(r.get("location", "")),
        virtual_size=_int(r.get("virtual_size", 0)),
        metadata_of_pool=_ref(r.get("metadata_of_pool")),
        metadata_latest=_bool(r.get("metadata_latest", False)),
        vbds=_refs(r.get("VBDs")),
        missing=_bool(r.get("missing", False)),
        sm_config=_map(r.get("sm_config")),
    )


def vbd_info(ref: str, r: dict[str, Any]) -> VBDInfo:
    return VBDInfo(
        ref=ref,
        uuid=str(r.get("uuid", "")),
        vm=_ref(r.get("VM")),
        vdi=_ref(r.get("VDI")),
        type=str(r.get("type", "Disk")),
        mode=str(r.get("mode", "RW")),
        empty=_bool(r.get("empty", False)),
        currently_attached=_bool(r.get("currently_attached", False)),
    )


def vif_info(ref: str, r: dict[str, Any]) -> VIFInfo:
    return VIFInfo(
        ref=ref,
        uuid=str(r.get("uuid", "")),
        vm=_ref(r.get("VM")),
        network=_ref(r.get("network")),
        device=str(r.get("device", "")),
        mac=str(r.get("MAC", "")),
    )


def network_info(ref: str, r: dict[str, Any]) -> NetworkInfo:
    return NetworkInfo(
        ref=ref,
        uuid=str(r.get("uuid", "")),
        name_label=str(r.get("name_label", "")),
        bridge=str(r.get("bridge", "")),
        pifs=_refs(r.get("PIFs")),
    )


def dr_task_info(ref: str, r: dict[str, Any]) -> DRTaskInfo:
    return DRTaskInfo(
        ref=ref, uuid=str(r.get("uuid", "")), introduced_srs=_refs(r.get("introduced_SRs"))
    )


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
FETCH_WORKERS = 4
_BY_EVENT_CLASS = {c.lower(): c for c in (*CLASSES, *METRICS)}


class Inventory:
    """What one pool holds, typed; see the module docstring for how it stays current.

    Attributes are dicts from ref to model: `pools`, `hosts`, `vms`, `appliances`, `srs`,
    `pbds`, `vdis`, `vbds`, `vifs`, `networks`, `dr_tasks`. `loaded_at` is when the snapshot
    was taken and `changed_at` when the last event was applied (both from the client's clock).
    """

    def __init__(self, client: XapiClient, name: str = "") -> None:
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
        self._raw_metrics: dict[str, dict[str, dict[str, Any]]] = {c: {} for c in METRICS}
        self._raw_hosts: dict[str, dict[str, Any]] = {}
        self._raw_vms: dict[str, dict[str, Any]] = {}
        self.token = ""
        self.loaded_at: datetime | None = None
        self.changed_at: datetime | None = None
        self.round_trips = 0
        self.generation = 0  # bumps on every applied batch; `wait_for` waits on it
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
    def load(cls, client: XapiClient, name: str = "") -> Inventory:
        """Snapshot the pool in a constant number of round trips (one per class, plus a token)."""
        inv = cls(client, name)
        inv.reload()
        return inv

    def reload(self) -> None:
        """Take a fresh snapshot (also what `follow` does when its token is no longer valid)."""
        before = self.client.calls
        token = self.client.current_token()
        raw = self._fetch_all()
        with self._lock:
            self._raw_metrics = {c: raw[c] for c in METRICS}
            self._raw_hosts = raw["host"]
            self._raw_vms = raw["VM"]
            for xcls, attr in CLASSES.items():
                setattr(
                    self, attr, {ref: self._convert(xcls, ref, r) for ref, r in raw[xcls].items()}
                )
            self.token = token
            self.loaded_at = self.changed_at = self.client.clock.now()
            self.round_trips = self.client.calls - before
            self.generation += 1
            self._changed.notify_all()

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
        if xcls == "VM":
            return vm_info(ref, r, self._raw_metrics["VM_metrics"])
        if xcls == "host":
            return host_info(ref, r, self._raw_metrics["host_metrics"])
        return _CONVERTERS[xcls](ref, r)

    # -- following ----------------------------------------------------------------------------

    def apply(self, events: list[dict[str, Any]]) -> int:
        """Apply a batch of `event.from` events; returns how many touched this inventory."""
        applied = 0
        with self._lock:
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
                table: dict[str, Any] = getattr(self, CLASSES[xcls])
                if op == "del" or snap is None:
                    table.pop(ref, None)
                    if xcls == "VM":
                        self._raw_vms.pop(ref, None)
                    elif xcls == "host":
                        self._raw_hosts.pop(ref, None)
                    continue
                try:
                    table[ref] = self._convert(xcls, ref, snap)
                except Exception as exc:  # one record drbot cannot read must not stop the rest
                    self.unreadable[ref] = f"{xcls}: {type(exc).__name__}: {exc}"
                    continue
                self.unreadable.pop(ref, None)
                if xcls == "VM":
                    self._raw_vms[ref] = snap
                elif xcls == "host":
                    self._raw_hosts[ref] = snap
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
        # Re-derive the owners that read this metrics object (host memory, VM install time).
        owners, table, convert = (
            (self._raw_hosts, self.hosts, "host")
            if xcls == "host_metrics"
            else (self._raw_vms, self.vms, "VM")
        )
        for owner_ref, raw in owners.items():
            if raw.get("metrics") == ref:
                table[owner_ref] = self._convert(convert, owner_ref, raw)
                break

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

    def memo(self, name: str, key: Any, compute: Callable[[], Any]) -> Any:
        """`compute()` once per (`generation`, `key`): derived views that only change when the
        inventory or `key` does are answered from memory while the pool is quiet."""
        with self._lock:
            stamp = (self.generation, key)
            hit = self._memo.get(name)
            if hit is not None and hit[0] == stamp:
                return hit[1]
        value = compute()
        with self._lock:
            self._memo[name] = (stamp, value)
        return value

    # -- lookups ------------------------------------------------------------------------------

    @property
    def pool(self) -> PoolInfo:
        """The pool object (exactly one per database)."""
        return next(iter(self.pools.values()))

    def real_vms(self) -> list[VMInfo]:
        """VMs that are not templates, snapshots or control domains."""
        return [vm for vm in list(self.vms.values()) if vm.is_real]

    def vm_by_uuid(self, uuid: str) -> VMInfo | None:
        for vm in list(self.vms.values()):
            if vm.uuid == uuid:
                return vm
        return None

    def vm_disks(self, vm: VMInfo) -> list[VDIInfo]:
        """The VDIs behind a VM's non-CD, non-empty VBDs (what recovery needs, reference §2.7)."""
        out = []
        for vbd_ref in vm.vbds:
            vbd = self.vbds.get(vbd_ref)
            if vbd is None or vbd.type == "CD" or vbd.empty or vbd.vdi is None:
                continue
            vdi = self.vdis.get(vbd.vdi)
            if vdi is not None:
                out.append(vdi)
        return out

    def vm_networks(self, vm: VMInfo) -> list[NetworkInfo]:
        out = []
        for vif_ref in vm.vifs:
            vif = self.vifs.get(vif_ref)
            if vif is not None and vif.network in self.networks:
                out.append(self.networks[vif.network])
        return out

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


_CONVERTERS: dict[str, Callable[[str, dict[str, Any]], Any]] = {
    "pool": pool_info,
    "VM_appliance": appliance_info,
    "SR": sr_info,
    "PBD": pbd_info,
    "VDI": vdi_info,
    "VBD": vbd_info,
    "VIF": vif_info,
    "network": network_info,
    "DR_task": dr_task_info,
}
