"""Wire methods of XAPI's DR API (reference §2): metadata replication on SRs, metadata VDIs,
DR tasks, and the recovery of VMs (the behaviour is in `metadata.py`, `dr_tasks.py` and
`recovery.py`; vApps are in `methods/appliance.py`)."""

from __future__ import annotations

from typing import Any

from sim.xapi import dr_tasks, metadata, recovery
from sim.xapi.api import Call, method, role_allows
from sim.xapi.errors import XapiError
from sim.xapi.schema import NULL_REF
from sim.xapi.sessions import Session


@method("SR.assert_supports_database_replication", ["sr"], async_ok=True)
def sr_assert_supports(call: Call, sr: str) -> str:
    metadata.assert_supports_replication(call.pool, call.db.handle("SR", sr))
    return ""


@method("SR.enable_database_replication", ["sr"], async_ok=True)
def sr_enable(call: Call, sr: str) -> str:
    metadata.enable_replication(call.pool, call.db.handle("SR", sr))
    return ""


@method("SR.disable_database_replication", ["sr"], async_ok=True)
def sr_disable(call: Call, sr: str) -> str:
    metadata.disable_replication(call.pool, call.db.handle("SR", sr))
    return ""


@method("VDI.open_database", ["self"], async_ok=True, role="pool-operator")
def vdi_open_database(call: Call, self: str) -> str:
    """A read-only session bound to the database on the VDI (reference §2.2)."""
    call.db.handle("VDI", self)
    call.pool.world.stall(call)
    call.clock.work("open_database")
    foreign = metadata.open_foreign_database(call.pool, self)
    session = call.sessions.create(
        call.pool, "disaster-recovery", "read-only", db=foreign, originator="xapi-dr"
    )
    return session.ref


@method("VDI.read_database_pool_uuid", ["self"], read=True)
def vdi_read_database_pool_uuid(call: Call, self: str) -> str:
    call.db.handle("VDI", self)
    cached = call.pool.foreign_metadata.get(self)
    return cached[0] if cached else ""


@method("DR_task.create", ["type", "device_config", "whitelist"], async_ok=True)
def dr_task_create(call: Call, type: str, device_config: dict, whitelist: list) -> str:
    if not isinstance(device_config, dict) or not isinstance(whitelist, list):
        raise XapiError(
            "FIELD_TYPE_ERROR",
            "device_config" if not isinstance(device_config, dict) else "whitelist",
        )
    dc = {str(k): str(v) for k, v in device_config.items()}
    call.pool.world.stall(call)
    return dr_tasks.create_dr_task(call.pool, type, dc, [str(u) for u in whitelist])


@method("DR_task.destroy", ["self"], async_ok=True)
def dr_task_destroy(call: Call, self: str) -> str:
    call.db.handle("DR_task", self)
    call.pool.world.stall(call)
    dr_tasks.destroy_dr_task(call.pool, call.db.handle("DR_task", self))
    return ""


def target_of(call: Call, session_to: Any, operation: str) -> Session:
    """The session recovery writes into: live, same pool, licensed, pool-operator or more."""
    target = call.sessions.find(session_to)
    if target is None:
        raise XapiError("SESSION_INVALID", session_to)
    target.pool.assert_licensed("DR")
    if not role_allows(target.role, "pool-operator"):
        raise XapiError(
            "RBAC_PERMISSION_DENIED",
            operation,
            "The supplied session does not have the required permissions for VM recovery.",
        )
    return target


def session_of(call: Call, session_to: Any) -> Session:
    """The session a recovery check looks at (`SESSION_INVALID` when it is gone)."""
    target = call.sessions.find(session_to)
    if target is None:
        raise XapiError("SESSION_INVALID", session_to)
    return target


# `force` has no default in the datamodel (datamodel_vm.ml, `recover`): two arguments are a
# parameter count mismatch, as in xapi.
@method("VM.recover", ["self", "session_to", "force"], async_ok=True)
def vm_recover(call: Call, self: str, session_to: str, force: bool) -> str:
    """Recover a VM from the foreign database of `call` into `session_to`'s pool."""
    call.db.handle("VM", self)
    appliance = call.db.get_field("VM", self, "appliance")
    if appliance != NULL_REF:
        raise XapiError("VM_IS_PART_OF_AN_APPLIANCE", self, appliance)
    target = target_of(call, session_to, "VM.recover")
    recovery.assert_can_be_recovered(call.db, [self], target.pool)
    recovery.recover_vms(
        call.db,
        [self],
        target.pool,
        force=bool(force),
        task=call.task.ref if call.task is not None else NULL_REF,
        after_precheck=lambda: call.pool.world.stall(call),
    )
    return ""


@method("VM.assert_can_be_recovered", ["self", "session_to"], async_ok=True, read=True)
def vm_assert_can_be_recovered(call: Call, self: str, session_to: str) -> str:
    call.db.handle("VM", self)
    recovery.assert_can_be_recovered(call.db, [self], session_of(call, session_to).pool)
    return ""


@method("VM.get_SRs_required_for_recovery", ["self", "session_to"], async_ok=True, read=True)
def vm_srs_required(call: Call, self: str, session_to: str) -> list[str]:
    call.db.handle("VM", self)
    return recovery.missing_srs(call.db, [self], session_of(call, session_to).pool)
