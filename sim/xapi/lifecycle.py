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
shutdowns sleep `shutdown_delay`: that is where a vApp's delays come from. Injected faults
(`vm_start` errors, `task_stall`) are honoured here.
"""

from __future__ import annotations

import contextlib
import random
from typing import Any

from sim.xapi.api import Call, method
from sim.xapi.db import new_ref
from sim.xapi.errors import XapiError
from sim.xapi.estate import GiB, memory_in_use, used_memory
from sim.xapi.schema import NULL_REF
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


def free_memory(pool: Pool, host: Host) -> int:
    return host.memory_total - used_memory(pool, host)


def refresh_host_memory(pool: Pool, host_ref: str) -> None:
    host = pool.host_by_ref(host_ref)
    if host is not None:
        with contextlib.suppress(XapiError):
            pool.db.set(
                "host_metrics", host.metrics_ref, memory_free=max(0, free_memory(pool, host))
            )


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
            db.live("PBD", p)["host"] == host.ref and db.live("PBD", p)["currently_attached"]
            for p in db.get_field("SR", vdi["SR"], "PBDs")
        )
        if not attached:
            return vdi["SR"]
    return None


def _network_ok(pool: Pool, rec: dict[str, Any], host: Host) -> str | None:
    db = pool.db
    for vif in rec["VIFs"]:
        v = db.live("VIF", vif)
        net = db.live("network", v["network"]) if v else None
        if net is None or not net["PIFs"]:
            continue  # internal networks need no PIF
        if not any(db.live("PIF", p)["host"] == host.ref for p in net["PIFs"]):
            return v["network"]
    return None


def choose_host(pool: Pool, vm: str, rec: dict[str, Any], only: Host | None = None) -> Host:
    """Where the VM can run (see the module docstring); reserves nothing.

    As xapi's `choose_host_for_vm`: hosts that pass every check, memory included, first (the
    affinity host before the others); if none has room, placement is retried ignoring memory
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
    for host in candidates:
        if host.memory_total - used[host.ref] >= needed:
            return host
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
    cancelled = (lambda: call.task.cancelled()) if call and call.task else (lambda: False)
    pool.world.stall_point(method_name, cancelled)
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
            db.set("VM", vm, scheduled_to_be_resident_on=host.ref)
        _stall(pool, call, "VM.start")
        error = pool.world.faults.vm_start_error(rec["uuid"], rec["name_label"])
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
    pool.clock.sleep(rec["start_delay"])


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


@method("VM.power_state_reset", ["vm"], async_ok=True)
def vm_power_state_reset(call: Call, vm: str) -> str:
    """Mark a VM of a dead host Halted (refused while its host is alive)."""
    rec = _check_vm(call.pool, vm)
    host = call.pool.host_by_ref(rec["resident_on"])
    if rec["power_state"] != "Halted" and host is not None and host.up and call.pool.site.up:
        raise XapiError("VM_BAD_POWER_STATE", vm, "halted", rec["power_state"].lower())
    _halted(call.pool, vm)
    _appliance_changed(call.pool, vm)
    return ""


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
    finally:
        _end(pool, vm)
        _appliance_changed(pool, vm)
    if mode != "auto":  # VM.shutdown uses the delay as its clean timeout, not as a pause
        pool.clock.sleep(rec["shutdown_delay"])


def destroy(pool: Pool, vm: str) -> None:
    """VM.destroy: Halted (or Suspended) only; VBDs, VIFs and metrics go, disks stay."""
    from sim.xapi.recovery import destroy_vm

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
        from sim.xapi.appliance import refresh_allowed_operations

        refresh_allowed_operations(pool, appliance)


def _appliance_changed(pool: Pool, vm: str) -> None:
    from sim.xapi.appliance import refresh_allowed_operations

    with contextlib.suppress(XapiError):
        appliance = pool.db.get_field("VM", vm, "appliance")
        if appliance != NULL_REF:
            refresh_allowed_operations(pool, appliance)


# --------------------------------------------------------------------------- wire methods


@method("VM.start", ["vm", "start_paused", "force"], async_ok=True)
def vm_start(call: Call, vm: str, start_paused: bool, force: bool) -> str:
    start(call.pool, vm, bool(start_paused), call=call)
    return ""


@method("VM.start_on", ["vm", "host", "start_paused", "force"], async_ok=True)
def vm_start_on(call: Call, vm: str, host: str, start_paused: bool, force: bool) -> str:
    target = call.pool.host_by_ref(host) if isinstance(host, str) else None
    if target is None:
        raise XapiError("HANDLE_INVALID", "host", host)
    start(call.pool, vm, bool(start_paused), on=target, call=call)
    return ""


@method("VM.clean_shutdown", ["vm"], async_ok=True)
def vm_clean_shutdown(call: Call, vm: str) -> str:
    shutdown(call.pool, vm, "clean", call)
    return ""


@method("VM.hard_shutdown", ["vm"], async_ok=True)
def vm_hard_shutdown(call: Call, vm: str) -> str:
    shutdown(call.pool, vm, "hard", call)
    return ""


@method("VM.shutdown", ["vm"], async_ok=True)
def vm_shutdown(call: Call, vm: str) -> str:
    shutdown(call.pool, vm, "auto", call)
    return ""


def _flip_pause(call: Call, vm: str, source: str, target: str, ops: list[str]) -> str:
    """Move a VM from power state `source` to `target` at once (pause and unpause take no time)."""
    rec = _check_vm(call.pool, vm)
    if rec["power_state"] != source:
        raise _bad_power(vm, source.lower(), rec["power_state"])
    call.db.set("VM", vm, power_state=target, allowed_operations=ops)
    return ""


@method("VM.pause", ["vm"], async_ok=True)
def vm_pause(call: Call, vm: str) -> str:
    return _flip_pause(call, vm, "Running", "Paused", PAUSED_OPS)


@method("VM.unpause", ["vm"], async_ok=True)
def vm_unpause(call: Call, vm: str) -> str:
    return _flip_pause(call, vm, "Paused", "Running", RUNNING_OPS)


@method("VM.destroy", ["self"], async_ok=True)
def vm_destroy(call: Call, self: str) -> str:
    call.db.handle("VM", self)
    if call.db.get_field("VM", self, "is_control_domain"):
        raise XapiError("OPERATION_NOT_ALLOWED", "This operation is not allowed on dom0")
    destroy(call.pool, self)
    return ""


def _set_int(call: Call, vm: str, field: str, value: Any) -> str:
    call.db.handle("VM", vm)
    try:
        number = int(value)
    except (TypeError, ValueError):
        raise XapiError("FIELD_TYPE_ERROR", field) from None
    if number < 0:
        raise XapiError("INVALID_VALUE", field, value)
    call.db.set("VM", vm, **{field: number})
    return ""


@method("VM.set_order", ["self", "value"], async_ok=True)
def vm_set_order(call: Call, self: str, value: Any) -> str:
    return _set_int(call, self, "order", value)


@method("VM.set_start_delay", ["self", "value"], async_ok=True)
def vm_set_start_delay(call: Call, self: str, value: Any) -> str:
    return _set_int(call, self, "start_delay", value)


@method("VM.set_shutdown_delay", ["self", "value"], async_ok=True)
def vm_set_shutdown_delay(call: Call, self: str, value: Any) -> str:
    return _set_int(call, self, "shutdown_delay", value)


def _device(call: Call, cls: str, ref: Any) -> dict[str, Any]:
    return call.db.get(cls, call.db.handle(cls, ref))


def _vm_running(call: Call, vm: str) -> bool:
    rec = call.db.live("VM", vm)
    return rec is not None and rec["power_state"] != "Halted"


@method("VBD.unplug", ["self"], async_ok=True)
def vbd_unplug(call: Call, self: str) -> str:
    rec = _device(call, "VBD", self)
    if not rec["currently_attached"] or not _vm_running(call, rec["VM"]):
        raise XapiError("DEVICE_ALREADY_DETACHED", self)
    call.db.set("VBD", self, currently_attached=False)
    return ""


@method("VIF.unplug", ["self"], async_ok=True)
def vif_unplug(call: Call, self: str) -> str:
    rec = _device(call, "VIF", self)
    if not rec["currently_attached"] or not _vm_running(call, rec["VM"]):
        raise XapiError("DEVICE_ALREADY_DETACHED", self)
    call.db.set("VIF", self, currently_attached=False)
    return ""


@method("VBD.destroy", ["self"], async_ok=True)
def vbd_destroy(call: Call, self: str) -> str:
    rec = _device(call, "VBD", self)
    if rec["currently_attached"] and _vm_running(call, rec["VM"]):
        raise XapiError("OPERATION_NOT_ALLOWED", "VBD is currently attached")
    call.db.delete("VBD", self)
    return ""


@method("VIF.destroy", ["self"], async_ok=True)
def vif_destroy(call: Call, self: str) -> str:
    rec = _device(call, "VIF", self)
    if rec["currently_attached"] and _vm_running(call, rec["VM"]):
        raise XapiError("OPERATION_NOT_ALLOWED", "VIF is currently attached")
    call.db.delete("VIF", self)
    return ""


__all__ = ["GiB", "choose_host", "destroy", "shutdown", "start"]
