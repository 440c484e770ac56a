"""The storage manager's side of the model: SM drivers, and SRs and VDIs on volumes.

What xapi asks of an SM driver, done against the volumes of `arrays.py`: which driver types
exist and what they can do (`SR_METADATA` only on `lvmoiscsi` / `lvmohba`), the volume a
PBD's `device_config` names (or the SM's failure, `SR_BACKEND_FAILURE_<n>`), the `<SRlist>`
a probe prints, and a VDI created on an SR (its record, and its entry on the volume).
"""

from __future__ import annotations

import uuid as uuidlib
from typing import Any
from xml.sax.saxutils import escape

from sim.xapi.arrays import StorageFault, VdiOnDisk, Volume
from sim.xapi.errors import XapiError
from sim.xapi.world import Host, Pool, World

SM_DRIVERS: list[dict[str, Any]] = [
    {
        "type": "lvmoiscsi",
        "name_label": "LVHD over iSCSI",
        "name_description": "SR plugin which represents disks as Logical Volumes within a "
        "Volume Group created on an iSCSI LUN",
        "capabilities": [
            "SR_PROBE",
            "SR_UPDATE",
            "SR_METADATA",
            "SR_TRIM",
            "VDI_CREATE",
            "VDI_DELETE",
            "VDI_ATTACH",
            "VDI_DETACH",
            "VDI_GENERATE_CONFIG",
            "VDI_CLONE",
            "VDI_SNAPSHOT",
            "VDI_RESIZE",
            "VDI_RESET_ON_BOOT/2",
            "VDI_UPDATE",
            "VDI_ACTIVATE",
            "VDI_DEACTIVATE",
        ],
        "configuration": {
            "SCSIid": "The scsi_id of the destination LUN",
            "target": "IP address or hostname of the iSCSI target",
            "targetIQN": "The IQN of the target LUN group to be attached",
            "port": "The network port number on which to query the target",
        },
        "driver_filename": "/opt/xensource/sm/LVMoISCSISR",
    },
    {
        "type": "lvmohba",
        "name_label": "LVHD over FC",
        "name_description": "SR plugin which represents disks as VHDs on Logical Volumes "
        "within a Volume Group created on an HBA LUN",
        "capabilities": [
            "SR_PROBE",
            "SR_UPDATE",
            "SR_METADATA",
            "SR_TRIM",
            "VDI_CREATE",
            "VDI_DELETE",
            "VDI_ATTACH",
            "VDI_DETACH",
            "VDI_GENERATE_CONFIG",
            "VDI_SNAPSHOT",
            "VDI_CLONE",
            "VDI_RESIZE",
            "VDI_RESET_ON_BOOT/2",
            "VDI_UPDATE",
            "VDI_ACTIVATE",
            "VDI_DEACTIVATE",
        ],
        "configuration": {"SCSIid": "The scsi_id of the destination LUN"},
        "driver_filename": "/opt/xensource/sm/LVMoHBASR",
    },
    {
        "type": "nfs",
        "name_label": "NFS VHD",
        "name_description": "SR plugin which stores disks as VHD files on a remote NFS filesystem",
        "capabilities": [
            "SR_PROBE",
            "SR_UPDATE",
            "SR_CACHING",
            "VDI_CREATE",
            "VDI_DELETE",
            "VDI_ATTACH",
            "VDI_DETACH",
            "VDI_UPDATE",
            "VDI_CLONE",
            "VDI_SNAPSHOT",
            "VDI_RESIZE",
            "VDI_GENERATE_CONFIG",
            "VDI_RESET_ON_BOOT/2",
        ],
        "configuration": {
            "server": "hostname or IP address",
            "serverpath": "path on remote server",
        },
        "driver_filename": "/opt/xensource/sm/NFSSR",
    },
    {
        "type": "lvm",
        "name_label": "Local LVHD",
        "name_description": "SR plugin which represents disks as VHD disks on Logical "
        "Volumes within a locally-attached Volume Group",
        "capabilities": [
            "SR_PROBE",
            "SR_UPDATE",
            "SR_TRIM",
            "VDI_CREATE",
            "VDI_DELETE",
            "VDI_ATTACH",
            "VDI_DETACH",
            "VDI_CLONE",
            "VDI_SNAPSHOT",
            "VDI_RESIZE",
            "VDI_GENERATE_CONFIG",
            "VDI_RESET_ON_BOOT/2",
        ],
        "configuration": {"device": "local device path (required) (e.g. /dev/sda3)"},
        "driver_filename": "/opt/xensource/sm/LVMSR",
    },
    {
        "type": "iso",
        "name_label": "ISO",
        "name_description": "Handles CD images stored as files in iso format",
        "capabilities": ["VDI_CREATE", "VDI_DELETE", "VDI_ATTACH", "VDI_DETACH"],
        "configuration": {"location": "path to mount (required) (e.g. server:/path)"},
        "driver_filename": "/opt/xensource/sm/ISOSR",
    },
]
METADATA_CAPABLE = {d["type"] for d in SM_DRIVERS if "SR_METADATA" in d["capabilities"]}


def backend_failure(fault: StorageFault) -> XapiError:
    """`SR_BACKEND_FAILURE_<n> ["", reason, stderr]` as sm_exec reports SM faults."""
    return XapiError(f"SR_BACKEND_FAILURE_{fault.number}", "", fault.reason, fault.stderr)


def host_of_ref(pool: Pool, ref: str) -> Host:
    host = pool.host_by_ref(ref)
    if host is None:
        raise XapiError("HANDLE_INVALID", "host", ref)
    return host


def resolve(pool: Pool, sr_type: str, device_config: dict[str, str], address: str) -> Volume:
    """The volume a device_config names, attachable from `address`, or the SM's failure."""
    storage = pool.world.storage
    try:
        vol = storage.resolve(sr_type, device_config, address)
        storage.check_attachable(vol)
    except StorageFault as fault:
        raise backend_failure(fault) from None
    return vol


def probe_xml(vols: list[Volume], *, metadata: bool) -> str:
    """The `<SRlist>` an LVM probe prints (sm lvutil.srlist_toxml), pretty-printed."""
    rows = []
    for vol in vols:
        c = vol.content
        detected = any(v.type == "metadata" for v in c.vdis.values())
        parts = [
            f"\t\t<UUID>{escape(c.sr_uuid)}</UUID>",
            f"\t\t<Devlist>/dev/disk/by-id/scsi-{escape(vol.scsi_id or vol.id)}</Devlist>",
            f"\t\t<size>{c.size}</size>",
        ]
        if metadata:
            parts += [
                f"\t\t<name_label>{escape(c.sr_name)}</name_label>",
                f"\t\t<name_description>{escape(c.sr_description)}</name_description>",
                f"\t\t<pool_metadata_detected>{str(detected).lower()}</pool_metadata_detected>",
            ]
        rows.append("\t<SR>\n" + "\n".join(parts) + "\n\t</SR>\n")
    return '<?xml version="1.0" ?>\n<SRlist>\n' + "".join(rows) + "</SRlist>\n"


def volume_of_sr(world: World, pool: Pool, sr_ref: str) -> Volume | None:
    """The volume behind an SR: through its PBDs' device_config, the first that resolves."""
    db = pool.db
    sr_type = db.get_field("SR", sr_ref, "type")
    for pbd in db.get_field("SR", sr_ref, "PBDs"):
        rec = db.get("PBD", pbd)
        host = pool.host_by_ref(rec["host"])
        try:
            return world.storage.resolve(
                sr_type, rec["device_config"], host.address if host else ""
            )
        except StorageFault:
            continue
    return None


def create_vdi(
    world: World,
    pool: Pool,
    sr_ref: str,
    name: str,
    size: int,
    *,
    vdi_type: str = "user",
    extra: dict[str, Any] | None = None,
    on_disk: dict[str, str] | None = None,
) -> str:
    """A VDI record and its volume entry (what VDI.create on an LVM SR does)."""
    db = pool.db
    vdi_uuid = str(uuidlib.uuid4())
    sr_type = db.get_field("SR", sr_ref, "type")
    sm_config = {"vdi_type": "vhd"} if sr_type in {"lvmoiscsi", "lvmohba", "lvm", "nfs"} else {}
    if vdi_type == "metadata":
        sm_config = {"type": "raw"}
    fields = {
        "uuid": vdi_uuid,
        "name_label": name,
        "SR": sr_ref,
        "virtual_size": size,
        "physical_utilisation": size if sr_type.startswith("lvm") else size // 4,
        "type": vdi_type,
        "location": vdi_uuid,
        "sm_config": sm_config,
        "allowed_operations": ["clone", "destroy", "resize", "update", "snapshot", "copy"],
        **(extra or {}),
    }
    ref = db.create("VDI", fields)
    vol = volume_of_sr(world, pool, sr_ref)
    if vol is not None:
        world.storage.write(
            vol,
            (
                "vdi_add",
                VdiOnDisk(
                    vdi_uuid,
                    name,
                    fields.get("name_description", ""),
                    size,
                    vdi_type,
                    vdi_uuid,
                    dict(sm_config),
                    **(on_disk or {}),
                ),
            ),
        )
    return ref
