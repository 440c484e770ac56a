"""vApps (`VM_appliance`, reference §3 and §2.9).

- Allowed operations: none without members (`OPERATION_NOT_ALLOWED ["Appliance has no
  VMs."]`); `start` if any member is Halted; `clean_shutdown` if any is Running;
  `hard_shutdown` / `shutdown` if any is not Halted. One operation at a time
  (`OTHER_OPERATION_IN_PROGRESS ["VM_appliance", ref, op, task]`).
- `start(paused)`: members not yet in the target state, grouped by `order`, ascending;
  each group started in parallel, the next group after the slowest VM of this one (its
  `start_delay` is slept inside `VM.start`). Shutdowns run the groups descending. Member
  errors are swallowed; any acted-on member not in the target state at the end gives
  `OPERATION_PARTIALLY_FAILED ["VM_appliance.<op>", vm, ...]`.
- `start` needs the `VM_appliance_start` licence feature.
- Recovery: `assert_can_be_recovered`, `get_SRs_required_for_recovery`, and `recover`,
  which imports every member (recovery.py) and rebuilds the appliance with its old uuid (or
  refreshes the one that already has it, detaching its current members first).
"""

from __future__ import annotations

import contextlib
import threading
import uuid as uuidlib
from itertools import groupby
from typing import Any

from sim.xapi import lifecycle, recovery
from sim.xapi.api import Call, method
from sim.xapi.dr import target_of
from sim.xapi.errors import XapiError
from sim.xapi.schema import NULL_REF
from sim.xapi.world import Pool

_NOT_ALLOWED = {
    "start": "There are no halted VMs in this appliance.",
    "clean_shutdown": "There are no running VMs in this appliance.",
    "hard_shutdown": "There are no running, paused or suspended VMs in this appliance.",
    "shutdown": "There are no running, paused or suspended VMs in this appliance.",
}


def _check(call: Call, ref: Any) -> str:
    return call.db.handle("VM_appliance", ref)


def allowed_operations(pool: Pool, appliance: str) -> list[str]:
    db = pool.db
    states = [
        db.get_field("VM", vm, "power_state")
        for vm in db.get_field("VM_appliance", appliance, "VMs")
    ]
    ops = []
    if any(s == "Halted" for s in states):
        ops.append("start")
    if any(s == "Running" for s in states):
        ops.append("clean_shutdown")
    if any(s != "Halted" for s in states):
        ops += ["hard_shutdown", "shutdown"]
    return ops


def refresh_allowed_operations(pool: Pool, appliance: str) -> None:
    db = pool.db
    with db.lock:
        if not db.exists("VM_appliance", appliance):
            return
        ops = allowed_operations(pool, appliance)
        if db.get_field("VM_appliance", appliance, "allowed_operations") != ops:
            db.set("VM_appliance", appliance, allowed_operations=ops)


def _begin(pool: Pool, appliance: str, op: str, call: Call) -> str:
    db = pool.db
    task = call.task.ref if call.task is not None else f"OpaqueRef:{uuidlib.uuid4()}"
    with db.lock:
        members = db.get_field("VM_appliance", appliance, "VMs")
        if not members:
            raise XapiError("OPERATION_NOT_ALLOWED", "Appliance has no VMs.")
        current = db.get_field("VM_appliance", appliance, "current_operations")
        if current:
            other_task, other_op = next(iter(current.items()))
            raise XapiError(
                "OTHER_OPERATION_IN_PROGRESS", "VM_appliance", appliance, other_op, other_task
            )
        if op not in allowed_operations(pool, appliance):
            raise XapiError("OPERATION_NOT_ALLOWED", _NOT_ALLOWED[op])
        db.set("VM_appliance", appliance, current_operations={task: op})
    return task


def _end(pool: Pool, appliance: str) -> None:
    with contextlib.suppress(XapiError):
        pool.db.set("VM_appliance", appliance, current_operations={})
    refresh_allowed_operations(pool, appliance)


def _run_groups(pool: Pool, vms: list[str], descending: bool, action) -> None:
    """Run `action(vm)` on each order group in parallel, one group after another."""
    db = pool.db
    orders = sorted(((db.get_field("VM", vm, "order"), vm) for vm in vms), reverse=descending)
    for _, group in groupby(orders, key=lambda pair: pair[0]):
        threads = []
        for _, vm in group:

            def run(vm: str = vm) -> None:
                with contextlib.suppress(XapiError):
                    action(vm)

            t = threading.Thread(target=run, name=f"vapp-{vm[-8:]}", daemon=True)
            t.start()
            threads.append(t)
        for t in threads:
            t.join()


def start(pool: Pool, appliance: str, paused: bool, call: Call) -> None:
    if not pool.licensed("VM_appliance_start"):
        raise XapiError("LICENCE_RESTRICTION", "VM_appliance_start")
    _begin(pool, appliance, "start", call)
    target = "Paused" if paused else "Running"
    db = pool.db
    try:
        acted = [
            vm
            for vm in db.get_field("VM_appliance", appliance, "VMs")
            if db.get_field("VM", vm, "power_state") != target
        ]
        _run_groups(pool, acted, False, lambda vm: lifecycle.start(pool, vm, paused))
        failed = [vm for vm in acted if db.get_field("VM", vm, "power_state") != target]
    finally:
        _end(pool, appliance)
    if failed:
        raise XapiError("OPERATION_PARTIALLY_FAILED", "VM_appliance.start", *failed)


def shutdown(pool: Pool, appliance: str, mode: str, call: Call) -> None:
    op = {"clean": "clean_shutdown", "hard": "hard_shutdown", "auto": "shutdown"}[mode]
    _begin(pool, appliance, op, call)
    db = pool.db
    try:
        acted = [
            vm
            for vm in db.get_field("VM_appliance", appliance, "VMs")
            if db.get_field("VM", vm, "power_state") != "Halted"
        ]
        _run_groups(pool, acted, True, lambda vm: lifecycle.shutdown(pool, vm, mode))
        failed = [vm for vm in acted if db.get_field("VM", vm, "power_state") != "Halted"]
    finally:
        _end(pool, appliance)
    if failed:
        raise XapiError("OPERATION_PARTIALLY_FAILED", f"VM_appliance.{op}", *failed)


@method("VM_appliance.create", ["args"], async_ok=True)
def appliance_create(call: Call, args: dict) -> str:
    if not isinstance(args, dict):
        raise XapiError("FIELD_TYPE_ERROR", "args")
    return call.db.create(
        "VM_appliance",
        {
            "name_label": str(args.get("name_label", "")),
            "name_description": str(args.get("name_description", "")),
            "allowed_operations": [],
        },
    )


@method("VM_appliance.destroy", ["self"], async_ok=True)
def appliance_destroy(call: Call, self: str) -> str:
    call.db.delete("VM_appliance", _check(call, self))
    return ""


@method("VM_appliance.start", ["self", "paused"], async_ok=True)
def appliance_start(call: Call, self: str, paused: bool) -> str:
    _check(call, self)
    call.pool.world.stall(call)
    start(call.pool, _check(call, self), bool(paused), call)
    return ""


@method("VM_appliance.clean_shutdown", ["self"], async_ok=True)
def appliance_clean_shutdown(call: Call, self: str) -> str:
    shutdown(call.pool, _check(call, self), "clean", call)
    return ""


@method("VM_appliance.hard_shutdown", ["self"], async_ok=True)
def appliance_hard_shutdown(call: Call, self: str) -> str:
    shutdown(call.pool, _check(call, self), "hard", call)
    return ""


@method("VM_appliance.shutdown", ["self"], async_ok=True)
def appliance_shutdown(call: Call, self: str) -> str:
    shutdown(call.pool, _check(call, self), "auto", call)
    return ""


@method("VM.set_appliance", ["self", "value"], async_ok=True, role="pool-operator")
def vm_set_appliance(call: Call, self: str, value: str) -> str:
    """Move a VM into (or out of) a vApp; both vApps' allowed operations follow."""
    db = call.db
    db.handle("VM", self)
    rec = db.get("VM", self)
    if rec["is_control_domain"] or rec["is_a_template"] or rec["is_a_snapshot"]:
        raise XapiError(
            "OPERATION_NOT_ALLOWED",
            "Control domains, templates and snapshots cannot be assigned to appliances.",
        )
    if value != NULL_REF:
        db.handle("VM_appliance", value)
    with db.lock:
        old = db.get_field("VM", self, "appliance")
        db.set("VM", self, appliance=value)
    for app in {old, value} - {NULL_REF}:
        refresh_allowed_operations(call.pool, app)
    return ""


# --------------------------------------------------------------------------- recovery


def _target_pool(call: Call, session_to: Any) -> Pool:
    target = call.sessions.find(session_to)
    if target is None:
        raise XapiError("SESSION_INVALID", session_to)
    return target.pool


@method("VM_appliance.assert_can_be_recovered", ["self", "session_to"], async_ok=True, read=True)
def appliance_assert(call: Call, self: str, session_to: str) -> str:
    members = call.db.get_field("VM_appliance", _check(call, self), "VMs")
    recovery.assert_can_be_recovered(call.db, members, _target_pool(call, session_to))
    return ""


@method(
    "VM_appliance.get_SRs_required_for_recovery", ["self", "session_to"], async_ok=True, read=True
)
def appliance_srs_required(call: Call, self: str, session_to: str) -> list[str]:
    members = call.db.get_field("VM_appliance", _check(call, self), "VMs")
    return recovery.missing_srs(call.db, members, _target_pool(call, session_to))


@method("VM_appliance.recover", ["self", "session_to", ("force", False)], async_ok=True)
def appliance_recover(call: Call, self: str, session_to: str, force: bool) -> str:
    """Recover every member, then rebuild the appliance with its old uuid."""
    _check(call, self)
    target = target_of(call, session_to, "VM_appliance.recover")
    call.pool.world.stall(call)
    foreign = call.db
    src = foreign.get("VM_appliance", self)
    recovery.assert_can_be_recovered(foreign, src["VMs"], target.pool)
    recovered = recovery.recover_vms(foreign, src["VMs"], target.pool, force=bool(force))
    db = target.pool.db
    with db.lock:
        existing = db.where("VM_appliance", uuid=src["uuid"])
        if existing:
            appliance = existing[0]
            for vm in db.get_field("VM_appliance", appliance, "VMs"):
                db.set("VM", vm, appliance=NULL_REF)
            db.set(
                "VM_appliance",
                appliance,
                name_label=src["name_label"],
                name_description=src["name_description"],
            )
        else:
            appliance = db.create(
                "VM_appliance",
                {
                    "uuid": src["uuid"],
                    "name_label": src["name_label"],
                    "name_description": src["name_description"],
                },
            )
        for vm in recovered:
            if vm is not None and not db.get_field("VM", vm, "is_a_template"):
                db.set("VM", vm, appliance=appliance)
    refresh_allowed_operations(target.pool, appliance)
    return ""
