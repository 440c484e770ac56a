"""Wire methods of VM power and devices: start, start_on, the shutdowns, pause, destroy,
power_state_reset, the vApp timing fields, VBD / VIF unplug and destroy (the behaviour is
in `sim/xapi/lifecycle.py`)."""

from __future__ import annotations

from typing import Any

from sim.xapi import lifecycle
from sim.xapi.api import Call, method
from sim.xapi.errors import XapiError


@method("VM.start", ["vm", "start_paused", "force"], async_ok=True)
def vm_start(call: Call, vm: str, start_paused: bool, force: bool) -> str:
    lifecycle.start(call.pool, vm, bool(start_paused), call=call)
    return ""


@method("VM.start_on", ["vm", "host", "start_paused", "force"], async_ok=True)
def vm_start_on(call: Call, vm: str, host: str, start_paused: bool, force: bool) -> str:
    target = call.pool.host_by_ref(host) if isinstance(host, str) else None
    if target is None:
        raise XapiError("HANDLE_INVALID", "host", host)
    lifecycle.start(call.pool, vm, bool(start_paused), on=target, call=call)
    # message_forwarding.ml's VM.start_on sleeps the VM's start_delay once more after
    # xapi_vm.ml's start (which VM.start_on calls) slept it: twice in all.
    call.pool.clock.sleep(call.db.get_field("VM", vm, "start_delay"), "start_delay")
    return ""


@method("VM.clean_shutdown", ["vm"], async_ok=True)
def vm_clean_shutdown(call: Call, vm: str) -> str:
    lifecycle.shutdown(call.pool, vm, "clean", call)
    return ""


@method("VM.hard_shutdown", ["vm"], async_ok=True)
def vm_hard_shutdown(call: Call, vm: str) -> str:
    lifecycle.shutdown(call.pool, vm, "hard", call)
    return ""


@method("VM.shutdown", ["vm"], async_ok=True)
def vm_shutdown(call: Call, vm: str) -> str:
    lifecycle.shutdown(call.pool, vm, "auto", call)
    return ""


@method("VM.power_state_reset", ["vm"], async_ok=True)
def vm_power_state_reset(call: Call, vm: str) -> str:
    lifecycle.power_state_reset(call.pool, vm)
    return ""


@method("VM.pause", ["vm"], async_ok=True)
def vm_pause(call: Call, vm: str) -> str:
    lifecycle.set_paused(call.pool, vm, True)
    return ""


@method("VM.unpause", ["vm"], async_ok=True)
def vm_unpause(call: Call, vm: str) -> str:
    lifecycle.set_paused(call.pool, vm, False)
    return ""


@method("VM.destroy", ["self"], async_ok=True)
def vm_destroy(call: Call, self: str) -> str:
    call.db.handle("VM", self)
    if call.db.get_field("VM", self, "is_control_domain"):
        raise XapiError("OPERATION_NOT_ALLOWED", "This operation is not allowed on dom0")
    lifecycle.destroy(call.pool, self)
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


@method("VBD.unplug", ["self"], async_ok=True)
def vbd_unplug(call: Call, self: str) -> str:
    lifecycle.unplug_device(call.pool, "VBD", call.db.handle("VBD", self))
    return ""


@method("VIF.unplug", ["self"], async_ok=True)
def vif_unplug(call: Call, self: str) -> str:
    lifecycle.unplug_device(call.pool, "VIF", call.db.handle("VIF", self))
    return ""


@method("VBD.destroy", ["self"], async_ok=True)
def vbd_destroy(call: Call, self: str) -> str:
    lifecycle.destroy_device(call.pool, "VBD", call.db.handle("VBD", self))
    return ""


@method("VIF.destroy", ["self"], async_ok=True)
def vif_destroy(call: Call, self: str) -> str:
    lifecycle.destroy_device(call.pool, "VIF", call.db.handle("VIF", self))
    return ""
