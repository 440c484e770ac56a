"""XAPI's DR API (reference §2): metadata replication, metadata VDIs, DR tasks, recovery.

- `SR.assert_supports_database_replication`, `SR.enable/disable_database_replication`:
  the metadata VDI ("Metadata for DR", 3,988,783,104 bytes, `sm_config {type: raw}`), an RW
  VBD on the coordinator's dom0, the 8-target limit checked before "already replicating",
  and the pool database written through to the volume from then on (world.RedoWriter).
- `VDI.open_database` -> a read-only session bound to a copy of the database on the VDI's
  volume; `VDI.read_database_pool_uuid` from the cache filled at SR plug.
- `DR_task.create` / `destroy`: probe, whitelist, skip SRs that exist, introduce and plug on
  the coordinator first, roll back a failing SR and re-raise (earlier SRs and the task
  stay), `introduced_by`; destroy unplugs (coordinator last) and forgets what is still
  introduced.
- `VM.recover`, `VM.assert_can_be_recovered`, `VM.get_SRs_required_for_recovery` (the import
  rules are in `recovery.py`), and licence `LICENCE_RESTRICTION ["DR"]`. (HA switches: `ha.py`.)
"""

from __future__ import annotations

import contextlib
from typing import Any

from sim.xapi import recovery, storage
from sim.xapi.api import Call, method
from sim.xapi.arrays import StorageFault
from sim.xapi.db import Database, copy_record
from sim.xapi.errors import XapiError
from sim.xapi.schema import NULL_REF
from sim.xapi.world import Pool

METADATA_VDI_SIZE = 951 * 4 * 1024 * 1024
MAX_REDO_LOGS = 8


def assert_licensed(pool: Pool, feature: str = "DR") -> None:
    if not pool.licensed(feature):
        raise XapiError("LICENCE_RESTRICTION", feature)


# --------------------------------------------------------------------------- replication


def assert_supports_replication(pool: Pool, sr: str) -> None:
    """Every host has a PBD for the SR, all plugged, and the driver has SR_METADATA."""
    db = pool.db
    pbds = [db.get("PBD", p) for p in db.get_field("SR", sr, "PBDs")]
    hosts = {p["host"] for p in pbds}
    if any(h.ref not in hosts for h in pool.hosts) or not all(
        p["currently_attached"] for p in pbds
    ):
        raise XapiError("SR_NO_PBDS", sr)
    if db.get_field("SR", sr, "type") not in storage.METADATA_CAPABLE:
        raise XapiError("SR_OPERATION_NOT_SUPPORTED", sr)


def _own_metadata_vdis(pool: Pool, sr: str) -> list[str]:
    db = pool.db
    return [
        v
        for v in db.get_field("SR", sr, "VDIs")
        if db.get_field("VDI", v, "type") == "metadata"
        and db.get_field("VDI", v, "metadata_of_pool") == pool.ref
    ]


def enable_replication(pool: Pool, sr: str, *, check: bool = True) -> str:
    """SR.enable_database_replication (reference §2.1); -> the metadata VDI."""
    from sim.xapi.estate import create_vdi, volume_of_sr

    db = pool.db
    if check:
        assert_licensed(pool)
        assert_supports_replication(pool, sr)
    existing = _own_metadata_vdis(pool, sr)
    if existing:
        vdi = existing[0]
    else:
        pool_uuid = db.get_field("pool", pool.ref, "uuid")
        vdi = create_vdi(
            pool.world,
            pool,
            sr,
            "Metadata for DR",
            METADATA_VDI_SIZE,
            vdi_type="metadata",
            extra={"name_description": "Used for disaster recovery", "metadata_latest": False},
            on_disk={"metadata_pool_ref": pool.ref, "metadata_pool_uuid": pool_uuid},
        )
        db.set("VDI", vdi, metadata_of_pool=pool.ref)
    vdi_uuid = db.get_field("VDI", vdi, "uuid")
    # xapi counts the active logs before it looks whether this VDI is one of them.
    if check and len(pool.redo.targets) >= MAX_REDO_LOGS:
        raise XapiError("NO_MORE_REDO_LOGS_ALLOWED")
    if vdi_uuid in pool.redo.targets:
        return vdi
    for vbd in db.get_field("VDI", vdi, "VBDs"):
        db.delete("VBD", vbd)
    vol = volume_of_sr(pool.world, pool, sr)
    if vol is None or not pool.world.storage.readable(vol):
        raise XapiError("CANNOT_ENABLE_REDO_LOG", "Could not attach the metadata VDI")
    db.create(
        "VBD",
        {
            "VM": pool.coordinator.dom0_ref,
            "VDI": vdi,
            "device": "xvdm",
            "userdevice": "autodetect",
            "mode": "RW",
            "type": "Disk",
            "currently_attached": True,
            "other_config": {"redo-log": "true"},
        },
    )
    pool.clock.work("enable_replication")
    if not pool.redo.full_write(vdi_uuid, vol):
        stop_redo_log(pool, vdi)
        raise XapiError("CANNOT_ENABLE_REDO_LOG", "Could not write the database to the VDI")
    db.set("VDI", vdi, metadata_latest=True)
    return vdi


def stop_redo_log(pool: Pool, vdi: str) -> None:
    """Stop writing to an own metadata VDI and detach its dom0 VBD."""
    db = pool.db
    pool.redo.disable(db.get_field("VDI", vdi, "uuid"))
    for vbd in db.get_field("VDI", vdi, "VBDs"):
        with contextlib.suppress(XapiError):
            db.delete("VBD", vbd)
    db.set("VDI", vdi, metadata_latest=False)


def disable_replication(pool: Pool, sr: str) -> None:
    """SR.disable_database_replication: stop the log, destroy VBDs **and the VDI**."""
    from sim.xapi.estate import volume_of_sr

    db = pool.db
    vol = volume_of_sr(pool.world, pool, sr)
    for vdi in _own_metadata_vdis(pool, sr):
        vdi_uuid = db.get_field("VDI", vdi, "uuid")
        stop_redo_log(pool, vdi)
        db.delete("VDI", vdi)
        if vol is not None:
            pool.world.storage.write(vol, ("vdi_del", vdi_uuid))


@method("SR.assert_supports_database_replication", ["sr"], async_ok=True)
def sr_assert_supports(call: Call, sr: str) -> str:
    assert_supports_replication(call.pool, call.db.handle("SR", sr))
    return ""


@method("SR.enable_database_replication", ["sr"], async_ok=True)
def sr_enable(call: Call, sr: str) -> str:
    enable_replication(call.pool, call.db.handle("SR", sr))
    return ""


@method("SR.disable_database_replication", ["sr"], async_ok=True)
def sr_disable(call: Call, sr: str) -> str:
    disable_replication(call.pool, call.db.handle("SR", sr))
    return ""


# --------------------------------------------------------------------------- metadata VDIs


def open_foreign_database(pool: Pool, vdi: str) -> Database:
    """A copy of the database on a metadata VDI (what `VDI.open_database` reads)."""
    from sim.xapi.estate import volume_of_sr

    db = pool.db
    rec = db.get("VDI", vdi)
    if rec["type"] != "metadata":
        raise XapiError("VDI_INCOMPATIBLE_TYPE", vdi, rec["type"].capitalize())
    coordinator_attached = any(
        db.get_field("PBD", p, "currently_attached")
        and db.get_field("PBD", p, "host") == pool.coordinator.ref
        for p in db.get_field("SR", rec["SR"], "PBDs")
    )
    vol = volume_of_sr(pool.world, pool, rec["SR"]) if coordinator_attached else None
    if vol is None:
        # The VDI is block-attached to the coordinator, which needs the SR plugged there.
        raise XapiError(
            "COULD_NOT_IMPORT_DATABASE",
            f"The SR of VDI {rec['uuid']} is not attached to the pool coordinator",
        )
    try:
        pool.world.storage.check_attachable(vol)
    except StorageFault as fault:
        raise XapiError("COULD_NOT_IMPORT_DATABASE", fault.reason) from None
    log = vol.content.redo_logs.get(rec["uuid"])
    if log is None or not log.tables:
        raise XapiError("COULD_NOT_IMPORT_DATABASE", "No valid database found on the VDI")
    tables = {
        cls: {r: copy_record(row) for r, row in rows.items()} for cls, rows in log.tables.items()
    }
    from sim.xapi import schema

    unknown = set(tables) - set(schema.CLASSES)
    if unknown or _newer(tables, db, pool):
        raise XapiError("COULD_NOT_IMPORT_DATABASE", "Database does not match local schema.")
    foreign = Database.from_json(
        {"name": f"metadata VDI {rec['uuid']}", "generation": log.generation, "tables": tables}
    )
    return foreign


def _version(text: str) -> tuple[int, ...]:
    return tuple(int(p) for p in text.split(".") if p.isdigit())


def _newer(tables: dict, db: Database, pool: Pool) -> bool:
    """Was the foreign database written by a newer XenServer than this pool runs?"""
    local = db.get_field("host", pool.coordinator.ref, "software_version").get(
        "product_version", ""
    )
    written = [
        h.get("software_version", {}).get("product_version", "")
        for h in tables.get("host", {}).values()
    ]
    return any(_version(w) > _version(local) for w in written if w)


@method("VDI.open_database", ["self"], async_ok=True, role="pool-operator")
def vdi_open_database(call: Call, self: str) -> str:
    """A read-only session bound to the database on the VDI (reference §2.2)."""
    call.db.handle("VDI", self)
    call.pool.world.stall(call)
    call.clock.work("open_database")
    foreign = open_foreign_database(call.pool, self)
    session = call.sessions.create(
        call.pool, "disaster-recovery", "read-only", db=foreign, originator="xapi-dr"
    )
    return session.ref


@method("VDI.read_database_pool_uuid", ["self"], read=True)
def vdi_read_database_pool_uuid(call: Call, self: str) -> str:
    call.db.handle("VDI", self)
    cached = call.pool.foreign_metadata.get(self)
    return cached[0] if cached else ""


# --------------------------------------------------------------------------- DR tasks


def create_dr_task(
    pool: Pool, sr_type: str, device_config: dict[str, str], whitelist: list[str]
) -> str:
    """DR_task.create (see the module docstring); -> the DR_task ref."""
    assert_licensed(pool)
    if sr_type not in storage.METADATA_CAPABLE:
        raise XapiError(
            "OPERATION_NOT_ALLOWED", f"Disaster recovery not supported on SRs of type {sr_type}"
        )
    coordinator = pool.coordinator
    _, vols = storage.probe(pool, coordinator.address, device_config, sr_type, {"metadata": "true"})
    wanted = set(whitelist or [])
    db = pool.db
    task = db.create("DR_task", {})
    for vol in vols:
        c = vol.content
        if c.sr_uuid not in wanted or db.where("SR", uuid=c.sr_uuid):
            continue
        sr = storage.introduce(pool, c.sr_uuid, c.sr_name, c.sr_description, sr_type, "", True, {})
        try:
            hosts = [coordinator] + [h for h in pool.hosts if h is not coordinator]
            for host in hosts:
                pbd = db.create(
                    "PBD",
                    {"host": host.ref, "SR": sr, "device_config": dict(device_config)},
                )
                storage.plug(pool, pbd)
        except XapiError:
            with contextlib.suppress(XapiError):
                storage.unplug_all(pool, sr)
            with contextlib.suppress(XapiError):
                storage.forget(pool, sr)
            raise
        db.set("SR", sr, introduced_by=task)
    return task


def destroy_dr_task(pool: Pool, task: str) -> None:
    db = pool.db
    for sr in db.get_field("DR_task", task, "introduced_SRs"):
        storage.unplug_all(pool, sr)
        storage.forget(pool, sr)
    db.delete("DR_task", task)


@method("DR_task.create", ["type", "device_config", "whitelist"], async_ok=True)
def dr_task_create(call: Call, type: str, device_config: dict, whitelist: list) -> str:
    if not isinstance(device_config, dict) or not isinstance(whitelist, list):
        raise XapiError(
            "FIELD_TYPE_ERROR",
            "device_config" if not isinstance(device_config, dict) else "whitelist",
        )
    dc = {str(k): str(v) for k, v in device_config.items()}
    call.pool.world.stall(call)
    return create_dr_task(call.pool, type, dc, [str(u) for u in whitelist])


@method("DR_task.destroy", ["self"], async_ok=True)
def dr_task_destroy(call: Call, self: str) -> str:
    call.db.handle("DR_task", self)
    call.pool.world.stall(call)
    destroy_dr_task(call.pool, call.db.handle("DR_task", self))
    return ""


# --------------------------------------------------------------------------- recovery


def target_of(call: Call, session_to: Any, operation: str):
    """The session recovery writes into: live, same pool, licensed, pool-operator or more."""
    from sim.xapi.api import role_allows

    target = call.sessions.find(session_to)
    if target is None:
        raise XapiError("SESSION_INVALID", session_to)
    assert_licensed(target.pool)
    if not role_allows(target.role, "pool-operator"):
        raise XapiError(
            "RBAC_PERMISSION_DENIED",
            operation,
            "The supplied session does not have the required permissions for VM recovery.",
        )
    return target


@method("VM.recover", ["self", "session_to", ("force", False)], async_ok=True)
def vm_recover(call: Call, self: str, session_to: str, force: bool) -> str:
    """Recover a VM from the foreign database of `call` into `session_to`'s pool."""
    call.db.handle("VM", self)
    appliance = call.db.get_field("VM", self, "appliance")
    if appliance != NULL_REF:
        raise XapiError("VM_IS_PART_OF_AN_APPLIANCE", self, appliance)
    target = target_of(call, session_to, "VM.recover")
    call.pool.world.stall(call)
    recovery.assert_can_be_recovered(call.db, [self], target.pool)
    recovery.recover_vms(call.db, [self], target.pool, force=bool(force))
    return ""


@method("VM.assert_can_be_recovered", ["self", "session_to"], async_ok=True, read=True)
def vm_assert_can_be_recovered(call: Call, self: str, session_to: str) -> str:
    call.db.handle("VM", self)
    target = call.sessions.find(session_to)
    if target is None:
        raise XapiError("SESSION_INVALID", session_to)
    recovery.assert_can_be_recovered(call.db, [self], target.pool)
    return ""


@method("VM.get_SRs_required_for_recovery", ["self", "session_to"], async_ok=True, read=True)
def vm_srs_required(call: Call, self: str, session_to: str) -> list[str]:
    call.db.handle("VM", self)
    target = call.sessions.find(session_to)
    if target is None:
        raise XapiError("SESSION_INVALID", session_to)
    return recovery.missing_srs(call.db, [self], target.pool)
