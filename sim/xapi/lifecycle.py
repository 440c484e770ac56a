"""VM power operations (reference §3.3, §7.13): start, start_on, shutdowns, pause, destroy.

Placement as XAPI does it: a live host on which every disk's SR has an attached PBD, every
NIC's physical network has a PIF, and the VM's `memory_static_max + memory_overhead` fits
in what is free (memory of VMs being started counts, through
`scheduled_to_be_resident_on`). The affinity host is tried first. No room anywhere:
`HOST_NOT_ENOUGH_FREE_MEMORY [needed, free]`; no host passes the other checks:
`NO_HOSTS_AVAILABLE`; `VM.start_on` reports the named host's own failure.

Each host runs at most `xenopsd_workers` VM operations at once (a semaphore; the rest queue,
as xenopsd's worker pool does). A boot takes the latency model's `vm_start` (scaled by the
speed factor); then `VM.start` sleeps the VM's `start_delay` before returning, and the
shutdowns sleep `shutdown_delay`: that is where a vApp's delays come from (`VM.start_on`
sleeps the delay a second time, as xapi's message forwarding does). Injected faults
(`vm_start` errors, `task_stall`) are honoured here.
"""

from __future__ import annotations

import contextlib
import random
from typing import Any

from sim.xapi import ha
from sim.xapi.allowed import refresh_appliance_ops
from sim.xapi.api import Call
from sim.xapi.arrays import StorageFault
from sim.xapi.db import new_ref
from sim.xapi.errors import XapiError
from sim.xapi.memory import memory_in_use, refresh_host_memory
from sim.xapi.recovery import destroy_vm
from sim.xapi.schema import NULL_REF
from sim.xapi.sm import backend_failure, volume_of_sr
from sim.xapi.world import Host, Pool

HALTED_OPS = ["start", "start_on", "destroy", "export", "clone", "copy", "snapshot"]
RUNNING_OPS = ["clean_shutdown", "hard_shutdown", "shutdown", "pause", "snapshot"]
PAUSED_OPS = ["unpause", "hard_shutdown", "shutdown"]
_rng = random.Random()


def _check_vm(pool: Pool, vm: Any) -> dict[str, Any]:
    rec = pool.db.get("VM", pool.db.handle("VM", vm))
    if rec["is_a_template"] or rec["is_a_snapshot"]:
        raise XapiError("VM_IS_TEMPLATE", vm)
    if rec["is_control_domain"]:
        raise XapiError("OPERATION_NOT_ALLOWED", "This operation is not allowed on dom0")
    return rec


def _bad_power(vm: str, expected: str, actual: str) -> XapiError:
    return XapiError("VM_BAD_POWER_STATE", vm, expected, actual.lower())


def _storage_ok(pool: Pool, rec: dict[str, Any], host: Host) -> str | None:
    """The first SR the VM needs that is not attached on `host`, or None."""
    db = pool.db
    for vbd in rec["VBDs"]:
        b = db.live("VBD", vbd)
        if b is None or b["type"] == "CD" or b["VDI"] == NULL_REF:
            continue
        vdi = db.live("VDI", b["VDI"])
        if vdi is None:
            continue
        attached = any(
            db.get_field("PBD", p, "host") == host.ref
            and db.get_field("PBD", p, "currently_attached")
            for p in db.get_field("SR", vdi["SR"], "PBDs")
        )
        if not attached:
            return vdi["SR"]
    return None


def _assert_disks_reachable(pool: Pool, rec: dict[str, Any]) -> None:
    """A disk whose SR still shows attached while the LUN behind it is gone (a test copy
    pulled with force at the array) fails the start with the SM's I/O error: the PBD's
    `currently_attached` says nothing of the device under it (sm `LVHDSR` fails to activate
    the volume)."""
    db = pool.db
    for vbd in rec["VBDs"]:
        b = db.live("VBD", vbd)
        vdi = db.live("VDI", b["VDI"]) if b is not None and b["VDI"] != NULL_REF else None
        if vdi is None or b is None or b["type"] == "CD":
            continue
        if volume_of_sr(pool.world, pool, vdi["SR"]) is None:
            raise backend_failure(StorageFault(47, "the LUN behind the SR is gone"))


def _network_ok(pool: Pool, rec: dict[str, Any], host: Host) -> str | None:
    db = pool.db
    for vif in rec["VIFs"]:
        v = db.live("VIF", vif)
        if v is None:
            continue
        net = db.live("network", v["network"])
        if net is None or not net["PIFs"]:
            continue  # internal networks need no PIF
        if not any(db.get_field("PIF", p, "host") == host.ref for p in net["PIFs"]):
            return v["network"]
    return None


def choose_host(pool: Pool, vm: str, rec: dict[str, Any], only: Host | None = None) -> Host:
    """Where the VM can run (see the module docstring); reserves nothing.

    As xapi's `choose_host_for_vm`: among hosts that pass every check, memory included, the
    affinity host, else a random one other than the coordinator when there is one (xapi's
    bias); if none has room, placement is retried ignoring memory
    and the boot fails on the host chosen with `HOST_NOT_ENOUGH_FREE_MEMORY [needed, free]`;
    if no host passes the other checks, `NO_HOSTS_AVAILABLE`. With `VM.start_on` the named
    host's own failure is reported (`VM_REQUIRES_SR`, `VM_REQUIRES_NETWORK`, memory).
    """
    needed = rec["memory_static_max"] + rec["memory_overhead"]
    if only is not None:
        if not (only.up and pool.site.up):
            raise XapiError("HOST_OFFLINE", only.ref)
        sr = _storage_ok(pool, rec, only)
        if sr is not None:
            raise XapiError("VM_REQUIRES_SR", vm, sr)
        net = _network_ok(pool, rec, only)
        if net is not None:
            raise XapiError("VM_REQUIRES_NETWORK", vm, net)
        candidates = [only]
    else:
        candidates = [
            h
            for h in pool.live_hosts()
            if _storage_ok(pool, rec, h) is None and _network_ok(pool, rec, h) is None
        ]
        candidates.sort(key=lambda h: h.ref != rec["affinity"])
    if not candidates:
        raise XapiError("NO_HOSTS_AVAILABLE")
    used = memory_in_use(pool)
    fitting = [h for h in candidates if h.memory_total - used[h.ref] >= needed]
    if fitting:
        # xapi_vm_placement.select_host: the affinity host if it can, else a random host,
        # biased away from the coordinator.
        if only is not None or fitting[0].ref == rec["affinity"]:
            return fitting[0]
        members = [h for h in fitting if h is not pool.coordinator]
        return _rng.choice(members or fitting)
    chosen = max(candidates, key=lambda h: h.memory_total - used[h.ref])
    raise XapiError(
        "HOST_NOT_ENOUGH_FREE_MEMORY", needed, max(0, chosen.memory_total - used[chosen.ref])
    )


def _begin(pool: Pool, vm: str, op: str, call: Call | None) -> str:
    """Mark an operation in `current_operations`, or `OTHER_OPERATION_IN_PROGRESS`."""
    task = call.task.ref if call is not None and call.task is not None else new_ref()
    db = pool.db
    with db.lock:
        ops = db.get_field("VM", vm, "current_operations")
        if ops:
            other_task, other_op = next(iter(ops.items()))
            raise XapiError("OTHER_OPERATION_IN_PROGRESS", "VM", vm, other_op, other_task)
        db.set("VM", vm, current_operations={task: op})
    return task


def _end(pool: Pool, vm: str) -> None:
    with contextlib.suppress(XapiError):
        pool.db.set("VM", vm, current_operations={})


def _stall(pool: Pool, call: Call | None, method_name: str) -> None:
    task = call.task if call is not None else None
    cancelled = task.cancelled if task is not None else (lambda: False)
    pool.world.stall_point(method_name, cancelled, site=pool.site.name)
    if call is not None and call.task is not None:
        call.task.check_cancelled()


def start(
    pool: Pool, vm: str, paused: bool = False, *, on: Host | None = None, call: Call | None = None
) -> None:
    """Start a Halted VM (see the module docstring)."""
    db = pool.db
    _check_vm(pool, vm)
    _begin(pool, vm, "start", call)
    host: Host | None = None
    try:
        with db.lock:
            rec = _check_vm(pool, vm)
            if rec["power_state"] != "Halted":
                raise _bad_power(vm, "halted", rec["power_state"])
            host = choose_host(pool, vm, rec, on)
            _assert_disks_reachable(pool, rec)
            ha.assert_start_keeps_plan(pool, vm, rec, host)
            db.set("VM", vm, scheduled_to_be_resident_on=host.ref)
        _stall(pool, call, "VM.start")
        error = pool.world.faults.vm_start_error(rec["uuid"], rec["name_label"], pool.site.name)
        with host.worker():
            pool.clock.work("vm_start")
        if error:
            raise XapiError(*error)
        if not (host.up and pool.site.up):
            raise XapiError("HOST_OFFLINE", host.ref)
        _running(pool, vm, rec, host, paused)
    finally:
        with contextlib.suppress(XapiError):
            if db.exists("VM", vm):
                db.set("VM", vm, scheduled_to_be_resident_on=NULL_REF)
        _end(pool, vm)
        if host is not None:
            refresh_host_memory(pool, host.ref)
        _appliance_changed(pool, vm)
    pool.clock.sleep(rec["start_delay"], "start_delay")


def _running(pool: Pool, vm: str, rec: dict[str, Any], host: Host, paused: bool) -> None:
    db = pool.db
    now = pool.clock.now()
    with db.lock:
        db.set(
            "VM",
            vm,
            power_state="Paused" if paused else "Running",
            resident_on=host.ref,
            domid=_rng.randrange(1, 4000),
            allowed_operations=PAUSED_OPS if paused else RUNNING_OPS,
        )
        if rec["ha_restart_priority"] == "restart":
            db.set("VM", vm, ha_always_run=True)  # xapi_vm.ml, start: HA now protects it
        if rec["metrics"] != NULL_REF and db.exists("VM_metrics", rec["metrics"]):
            db.set(
                "VM_metrics",
                rec["metrics"],
                start_time=now,
                memory_actual=rec["memory_target"],
                VCPUs_number=rec["VCPUs_at_startup"],
                current_domain_type=rec["domain_type"],
                last_updated=now,
            )
        for vbd in rec["VBDs"]:
            with contextlib.suppress(XapiError):
                db.set("VBD", vbd, currently_attached=True)
        for vif in rec["VIFs"]:
            with contextlib.suppress(XapiError):
                db.set("VIF", vif, currently_attached=True)
        if not paused and rec["guest_metrics"] == NULL_REF:
            gm = db.create(
                "VM_guest_metrics",
                {
                    "os_version": {"name": "Linux"},
                    "PV_drivers_detected": True,
                    "last_updated": now,
                    "live": True,
                },
            )
            db.set("VM", vm, guest_metrics=gm)


def _halted(pool: Pool, vm: str) -> None:
    db = pool.db
    with db.lock:
        rec = db.get("VM", vm)
        db.set(
            "VM",
            vm,
            power_state="Halted",
            resident_on=NULL_REF,
            domid=-1,
            allowed_operations=HALTED_OPS,
            guest_metrics=NULL_REF,
        )
        if rec["guest_metrics"] != NULL_REF:
            with contextlib.suppress(XapiError):
                db.delete("VM_guest_metrics", rec["guest_metrics"])
        if rec["metrics"] != NULL_REF and db.exists("VM_metrics", rec["metrics"]):
            db.set("VM_metrics", rec["metrics"], memory_actual=0, VCPUs_number=0)
        for vbd in rec["VBDs"]:
            with contextlib.suppress(XapiError):
                db.set("VBD", vbd, currently_attached=False)
        for vif in rec["VIFs"]:
            with contextlib.suppress(XapiError):
                db.set("VIF", vif, currently_attached=False)
    if rec["resident_on"] != NULL_REF:
        refresh_host_memory(pool, rec["resident_on"])


def halt_resident(pool: Pool, host: Host) -> list[str]:
    """Mark every guest the host was running Halted (it crashed and booted again)."""
    db = pool.db
    with db.lock:
        vms = [
            ref
            for ref, rec in db._tables["VM"].items()
            if rec["resident_on"] == host.ref and not rec["is_control_domain"]
        ]
    for vm in vms:
        _halted(pool, vm)
        _appliance_changed(pool, vm)
    return vms


def ha_restart(pool: Pool, host: Host) -> list[str]:
    """Restart elsewhere the HA-protected guests of a failed host; -> those restarted.

    `restart` VMs must come back, `best-effort` ones if there is room; the others stay as
    the dead host left them (Running on paper until `VM.power_state_reset`).
    """
    db = pool.db
    with db.lock:
        victims = [
            ref
            for ref, rec in db._tables["VM"].items()
            if rec["resident_on"] == host.ref
            and not rec["is_control_domain"]
            and rec["ha_restart_priority"] in {"restart", "best-effort"}
        ]
    restarted = []
    for vm in victims:
        _halted(pool, vm)
        try:
            start(pool, vm)
            restarted.append(vm)
        except XapiError:
            pass  # no room or no storage elsewhere: it stays down, as with real HA
    return restarted


def shutdown(pool: Pool, vm: str, mode: str, call: Call | None = None) -> None:
    """`clean`, `hard` or `auto` (VM.shutdown: clean when running, else hard)."""
    _check_vm(pool, vm)
    _begin(pool, vm, f"{mode}_shutdown" if mode != "auto" else "shutdown", call)
    try:
        rec = _check_vm(pool, vm)
        state = rec["power_state"]
        if mode == "clean" and state != "Running":
            raise _bad_power(vm, "running", state)
        if mode in {"hard", "auto"} and state == "Halted":
            raise _bad_power(vm, "running, paused, suspended", state)
        _stall(pool, call, f"VM.{mode}_shutdown" if mode != "auto" else "VM.shutdown")
        host = pool.host_by_ref(rec["resident_on"])
        clean = mode == "clean" or (mode == "auto" and state == "Running")
        latency = "vm_clean_shutdown" if clean else "vm_hard_shutdown"
        if host is not None:
            with host.worker():
                pool.clock.work(latency)
        else:
            pool.clock.work(latency)
        _halted(pool, vm)
        db = pool.db
        with contextlib.suppress(XapiError):
            db.set("VM", vm, ha_always_run=False)  # shut down on purpose: HA leaves it off
    finally:
        _end(pool, vm)
        _appliance_changed(pool, vm)
    if mode != "auto":  # VM.shutdown uses the delay as its clean timeout, not as a pause
        pool.clock.sleep(rec["shutdown_delay"])


def destroy(pool: Pool, vm: str) -> None:
    """VM.destroy: Halted (or Suspended) only; VBDs, VIFs and metrics go, disks stay."""
    rec = (
        _check_vm(pool, vm)
        if not pool.db.get_field("VM", vm, "is_a_snapshot")
        else pool.db.get("VM", vm)
    )
    if rec["power_state"] not in {"Halted", "Suspended"}:
        raise _bad_power(vm, "halted", rec["power_state"])
    appliance = rec["appliance"]
    pool.clock.work("vm_destroy")
    destroy_vm(pool, vm)
    if appliance != NULL_REF:
        refresh_appliance_ops(pool, appliance)


def _appliance_changed(pool: Pool, vm: str) -> None:
    with contextlib.suppress(XapiError):
        appliance = pool.db.get_field("VM", vm, "appliance")
        if appliance != NULL_REF:
            refresh_appliance_ops(pool, appliance)


def power_state_reset(pool: Pool, vm: str) -> None:
    """VM.power_state_reset: mark a VM of a dead host Halted (refused while its host lives)."""
    rec = _check_vm(pool, vm)
    host = pool.host_by_ref(rec["resident_on"])
    if rec["power_state"] != "Halted" and host is not None and host.up and pool.site.up:
        raise XapiError("VM_BAD_POWER_STATE", vm, "halted", rec["power_state"].lower())
    _halted(pool, vm)
    _appliance_changed(pool, vm)


def set_paused(pool: Pool, vm: str, paused: bool) -> None:
    """VM.pause / VM.unpause: Running <-> Paused at once (they take no time)."""
    source, target, ops = (
        ("Running", "Paused", PAUSED_OPS) if paused else ("Paused", "Running", RUNNING_OPS)
    )
    rec = _check_vm(pool, vm)
    if rec["power_state"] != source:
        raise _bad_power(vm, source.lower(), rec["power_state"])
    pool.db.set("VM", vm, power_state=target, allowed_operations=ops)


def _vm_running(pool: Pool, vm: str) -> bool:
    rec = pool.db.live("VM", vm)
    return rec is not None and rec["power_state"] != "Halted"


def unplug_device(pool: Pool, cls: str, ref: str) -> None:
    """VBD.unplug / VIF.unplug: only from a VM that runs (`DEVICE_ALREADY_DETACHED`)."""
    rec = pool.db.get(cls, ref)
    if not rec["currently_attached"] or not _vm_running(pool, rec["VM"]):
        raise XapiError("DEVICE_ALREADY_DETACHED", ref)
    pool.db.set(cls, ref, currently_attached=False)


def destroy_device(pool: Pool, cls: str, ref: str) -> None:
    """VBD.destroy / VIF.destroy: not while plugged into a running VM."""
    rec = pool.db.get(cls, ref)
    if rec["currently_attached"] and _vm_running(pool, rec["VM"]):
        raise XapiError("OPERATION_NOT_ALLOWED", f"{cls} is currently attached")
    pool.db.delete(cls, ref)
