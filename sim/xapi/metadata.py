"""A pool database on metadata VDIs (reference §2.1-§2.2): the redo log and foreign copies.

- Own metadata VDIs: `SR.enable_database_replication` makes the VDI ("Metadata for DR",
  3,988,783,104 bytes, `sm_config {type: raw}`) with an RW VBD on the coordinator's dom0,
  counts the 8-target limit before "already replicating", and writes the pool database
  through to the volume from then on (`world.RedoWriter`); disabling destroys the VDI.
- Foreign metadata VDIs, found when an SR is plugged on the coordinator: their pool uuid
  and database generation are cached, and `metadata_latest` marks, per foreign pool, the
  copies with the highest generation. `VDI.open_database` reads a copy of the database.
"""

from __future__ import annotations

import contextlib

from sim.xapi import schema
from sim.xapi.arrays import StorageFault, Volume
from sim.xapi.db import Database, copy_record
from sim.xapi.errors import XapiError
from sim.xapi.sm import METADATA_CAPABLE, create_vdi, volume_of_sr
from sim.xapi.world import Pool

METADATA_VDI_SIZE = 951 * 4 * 1024 * 1024
MAX_REDO_LOGS = 8


def assert_supports_replication(pool: Pool, sr: str) -> None:
    """Every host has a PBD for the SR, all plugged, and the driver has SR_METADATA."""
    db = pool.db
    pbds = [db.get("PBD", p) for p in db.get_field("SR", sr, "PBDs")]
    hosts = {p["host"] for p in pbds}
    if any(h.ref not in hosts for h in pool.hosts) or not all(
        p["currently_attached"] for p in pbds
    ):
        raise XapiError("SR_NO_PBDS", sr)
    if db.get_field("SR", sr, "type") not in METADATA_CAPABLE:
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
    db = pool.db
    if check:
        pool.assert_licensed("DR")
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
    db = pool.db
    vol = volume_of_sr(pool.world, pool, sr)
    for vdi in _own_metadata_vdis(pool, sr):
        vdi_uuid = db.get_field("VDI", vdi, "uuid")
        stop_redo_log(pool, vdi)
        db.delete("VDI", vdi)
        if vol is not None:
            pool.world.storage.write(vol, ("vdi_del", vdi_uuid))


def open_foreign_database(pool: Pool, vdi: str) -> Database:
    """A copy of the database on a metadata VDI (what `VDI.open_database` reads)."""
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
        # xapi's database restored from a redo log keeps each row's change stamp (the
        # `__mtime` of its XML), which `event.from` on the foreign session reports; this log
        # keeps only its generation, the stamp of its last change, given to every row.
        cls: {
            r: {**copy_record(row), "__ctime": log.generation, "__mtime": log.generation}
            for r, row in rows.items()
        }
        for cls, rows in log.tables.items()
    }
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


def handle_metadata_vdis(pool: Pool, sr_ref: str, vol: Volume) -> None:
    """After the coordinator's plug: re-arm own redo logs, cache foreign databases."""
    db = pool.db
    for vdi in db.get_field("SR", sr_ref, "VDIs"):
        rec = db.get("VDI", vdi)
        if rec["type"] != "metadata":
            continue
        if rec["metadata_of_pool"] == pool.ref:
            with contextlib.suppress(XapiError):
                enable_replication(pool, sr_ref, check=False)
            continue
        on_disk = vol.content.vdis.get(rec["uuid"])
        log = vol.content.redo_logs.get(rec["uuid"])
        if on_disk is not None and log is not None:
            pool.foreign_metadata[vdi] = (on_disk.metadata_pool_uuid, log.generation)
    recompute_metadata_latest(pool)


def recompute_metadata_latest(pool: Pool) -> None:
    """Foreign metadata VDIs: `metadata_latest` where the generation is the pool's highest."""
    db = pool.db
    best: dict[str, int] = {}
    for pool_uuid, gen in pool.foreign_metadata.values():
        best[pool_uuid] = max(best.get(pool_uuid, -1), gen)
    for vdi, (pool_uuid, gen) in list(pool.foreign_metadata.items()):
        if not db.exists("VDI", vdi):
            pool.foreign_metadata.pop(vdi, None)
            continue
        latest = gen == best[pool_uuid]
        if db.get_field("VDI", vdi, "metadata_latest") != latest:
            db.set("VDI", vdi, metadata_latest=latest)


def forget_metadata_of(pool: Pool, sr: str) -> None:
    """The SR's last PBD is going: stop own redo logs on it, drop its foreign copies."""
    db = pool.db
    for vdi in db.get_field("SR", sr, "VDIs"):
        rec = db.get("VDI", vdi)
        if rec["type"] != "metadata":
            continue
        if rec["metadata_of_pool"] == pool.ref:
            stop_redo_log(pool, vdi)
        else:
            pool.foreign_metadata.pop(vdi, None)
            db.set("VDI", vdi, metadata_latest=False)
    recompute_metadata_latest(pool)
