"""vApps (`VM_appliance`, reference §3 and §2.9); wire methods in `methods/appliance.py`.

- Allowed operations (`allowed.py`): none without members (`OPERATION_NOT_ALLOWED
  ["Appliance has no VMs."]`). One operation at a time (`OTHER_OPERATION_IN_PROGRESS
  ["VM_appliance", ref, op, task]`).
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
from collections.abc import Callable
from itertools import groupby

from sim.xapi import lifecycle, recovery
from sim.xapi.allowed import appliance_operations, refresh_appliance_ops
from sim.xapi.api import Call
from sim.xapi.db import Database
from sim.xapi.errors import XapiError
from sim.xapi.schema import NULL_REF
from sim.xapi.world import Pool

_NOT_ALLOWED = {
    "start": "There are no halted VMs in this appliance.",
    "clean_shutdown": "There are no running VMs in this appliance.",
    "hard_shutdown": "There are no running, paused or suspended VMs in this appliance.",
    "shutdown": "There are no running, paused or suspended VMs in this appliance.",
}


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
        if op not in appliance_operations(pool, appliance):
            raise XapiError("OPERATION_NOT_ALLOWED", _NOT_ALLOWED[op])
        db.set("VM_appliance", appliance, current_operations={task: op})
    return task


def _end(pool: Pool, appliance: str) -> None:
    with contextlib.suppress(XapiError):
        pool.db.set("VM_appliance", appliance, current_operations={})
    refresh_appliance_ops(pool, appliance)


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


def create(pool: Pool, name_label: str, name_description: str) -> str:
    """VM_appliance.create: an empty vApp."""
    return pool.db.create(
        "VM_appliance",
        {"name_label": name_label, "name_description": name_description, "allowed_operations": []},
    )


def set_appliance(pool: Pool, vm: str, appliance: str) -> None:
    """Move a VM into (or out of) a vApp; both vApps' allowed operations follow."""
    db = pool.db
    rec = db.get("VM", vm)
    if rec["is_control_domain"] or rec["is_a_template"] or rec["is_a_snapshot"]:
        raise XapiError(
            "OPERATION_NOT_ALLOWED",
            "Control domains, templates and snapshots cannot be assigned to appliances.",
        )
    if appliance != NULL_REF:
        db.handle("VM_appliance", appliance)
    with db.lock:
        old = db.get_field("VM", vm, "appliance")
        db.set("VM", vm, appliance=appliance)
    for app in {old, appliance} - {NULL_REF}:
        refresh_appliance_ops(pool, app)


def recover(
    foreign: Database,
    appliance: str,
    pool: Pool,
    *,
    force: bool,
    after_precheck: Callable[[], None] = lambda: None,
) -> str:
    """VM_appliance.recover: every member (`recovery.py`), then the vApp with its old uuid.

    A vApp that already has that uuid in `pool` is refreshed: its current members leave it
    first. -> the vApp's ref in `pool`.
    """
    src = foreign.get("VM_appliance", appliance)
    recovery.assert_can_be_recovered(foreign, src["VMs"], pool)
    recovered = recovery.recover_vms(
        foreign, src["VMs"], pool, force=force, after_precheck=after_precheck
    )
    db = pool.db
    with db.lock:
        existing = db.where("VM_appliance", uuid=src["uuid"])
        if existing:
            ref = existing[0]
            for vm in db.get_field("VM_appliance", ref, "VMs"):
                db.set("VM", vm, appliance=NULL_REF)
            db.set(
                "VM_appliance",
                ref,
                name_label=src["name_label"],
                name_description=src["name_description"],
            )
        else:
            ref = db.create(
                "VM_appliance",
                {
                    "uuid": src["uuid"],
                    "name_label": src["name_label"],
                    "name_description": src["name_description"],
                },
            )
        for vm in recovered:
            if vm is not None and not db.get_field("VM", vm, "is_a_template"):
                db.set("VM", vm, appliance=ref)
    refresh_appliance_ops(pool, ref)
    return ref
