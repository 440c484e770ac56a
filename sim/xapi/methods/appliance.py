"""Wire methods of vApps (`VM_appliance`): create, destroy, start, the shutdowns,
`VM.set_appliance`, and their recovery (the behaviour is in `sim/xapi/appliance.py`)."""

from __future__ import annotations

from typing import Any

from sim.xapi import appliance, recovery
from sim.xapi.api import Call, method
from sim.xapi.errors import XapiError
from sim.xapi.methods.dr import session_of, target_of


def _check(call: Call, ref: Any) -> str:
    return call.db.handle("VM_appliance", ref)


@method("VM_appliance.create", ["args"], async_ok=True)
def appliance_create(call: Call, args: dict) -> str:
    if not isinstance(args, dict):
        raise XapiError("FIELD_TYPE_ERROR", "args")
    return appliance.create(
        call.pool, str(args.get("name_label", "")), str(args.get("name_description", ""))
    )


@method("VM_appliance.destroy", ["self"], async_ok=True)
def appliance_destroy(call: Call, self: str) -> str:
    call.db.delete("VM_appliance", _check(call, self))
    return ""


@method("VM_appliance.start", ["self", "paused"], async_ok=True)
def appliance_start(call: Call, self: str, paused: bool) -> str:
    _check(call, self)
    call.pool.world.stall(call)
    appliance.start(call.pool, _check(call, self), bool(paused), call)
    return ""


@method("VM_appliance.clean_shutdown", ["self"], async_ok=True)
def appliance_clean_shutdown(call: Call, self: str) -> str:
    appliance.shutdown(call.pool, _check(call, self), "clean", call)
    return ""


@method("VM_appliance.hard_shutdown", ["self"], async_ok=True)
def appliance_hard_shutdown(call: Call, self: str) -> str:
    appliance.shutdown(call.pool, _check(call, self), "hard", call)
    return ""


@method("VM_appliance.shutdown", ["self"], async_ok=True)
def appliance_shutdown(call: Call, self: str) -> str:
    appliance.shutdown(call.pool, _check(call, self), "auto", call)
    return ""


@method("VM.set_appliance", ["self", "value"], async_ok=True, role="pool-operator")
def vm_set_appliance(call: Call, self: str, value: str) -> str:
    appliance.set_appliance(call.pool, call.db.handle("VM", self), value)
    return ""


@method("VM_appliance.assert_can_be_recovered", ["self", "session_to"], async_ok=True, read=True)
def appliance_assert(call: Call, self: str, session_to: str) -> str:
    members = call.db.get_field("VM_appliance", _check(call, self), "VMs")
    recovery.assert_can_be_recovered(call.db, members, session_of(call, session_to).pool)
    return ""


@method(
    "VM_appliance.get_SRs_required_for_recovery", ["self", "session_to"], async_ok=True, read=True
)
def appliance_srs_required(call: Call, self: str, session_to: str) -> list[str]:
    members = call.db.get_field("VM_appliance", _check(call, self), "VMs")
    return recovery.missing_srs(call.db, members, session_of(call, session_to).pool)


# `force` has no default (datamodel.ml, VM_appliance `recover`).
@method("VM_appliance.recover", ["self", "session_to", "force"], async_ok=True)
def appliance_recover(call: Call, self: str, session_to: str, force: bool) -> str:
    """Recover every member, then rebuild the appliance with its old uuid."""
    _check(call, self)
    target = target_of(call, session_to, "VM_appliance.recover")
    appliance.recover(
        call.db,
        self,
        target.pool,
        force=bool(force),
        after_precheck=lambda: call.pool.world.stall(call),
    )
    return ""
