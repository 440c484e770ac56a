"""SR and PBD behaviour (reference §4.2, §2.1 maintenance, §7.5): probe, introduce, forget,
scan, and PBD create / plug / unplug / destroy, against the volumes of `arrays.py`.

What a plug does, as XAPI does it: the SM driver attaches the volume named by the PBD's
`device_config` (a failed LUN, an unreachable array or a mirror that replication still
holds read-only gives `SR_BACKEND_FAILURE_<n>`); when the coordinator's PBD is plugged the
SR is scanned and its metadata VDIs handled: the pool's own get their redo log re-enabled
(this is how failback re-arms), foreign ones are read for their pool uuid and database
generation, which decide `metadata_latest` (highest generation per foreign pool wins).
Unplugging refuses while a running VM on that host uses a disk (`VDI_IN_USE`), disables the
redo log of own metadata VDIs, and drops foreign ones from the cache.
"""

from __future__ import annotations

import contextlib
from typing import Any
from xml.sax.saxutils import escape

from sim.xapi.api import Call, method
from sim.xapi.arrays import StorageFault, Volume
from sim.xapi.errors import XapiError
from sim.xapi.schema import NULL_REF
from sim.xapi.world import Pool

METADATA_CAPABLE = {"lvmoiscsi", "lvmohba"}


# SR operations XAPI allows with a PBD attached, and without one (`forget` / `destroy` need
# every PBD unplugged: SR_HAS_PBD).
SR_OPS_ATTACHED = [
    "vdi_create",
    "vdi_snapshot",
    "vdi_clone",
    "vdi_resize",
    "vdi_destroy",
    "scan",
    "update",
    "plug",
    "unplug",
    "pbd_create",
    "pbd_destroy",
]
SR_OPS_DETACHED = ["forget", "destroy", "plug", "update", "pbd_create", "pbd_destroy"]


def refresh_sr_ops(pool: Pool, sr: str) -> None:
    """Recompute an SR's `allowed_operations` from whether any PBD is attached."""
    db = pool.db
    with db.lock:
        if not db.exists("SR", sr):
            return
        attached = any(
            db.get_field("PBD", p, "currently_attached") for p in db.get_field("SR", sr, "PBDs")
        )
        ops = SR_OPS_ATTACHED if attached else SR_OPS_DETACHED
        if db.get_field("SR", sr, "allowed_operations") != ops:
            db.set("SR", sr, allowed_operations=list(ops))


def backend_failure(fault: StorageFault) -> XapiError:
    """`SR_BACKEND_FAILURE_<n> ["", reason, stderr]` as sm_exec reports SM faults."""
    return XapiError(f"SR_BACKEND_FAILURE_{fault.number}", "", fault.reason, fault.stderr)


def host_of_ref(pool: Pool, ref: str):
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


# --------------------------------------------------------------------------- probe


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


def probe(pool: Pool, host_address: str, device_config: dict, sr_type: str, sm_config: dict):
    """Probe for SRs; -> (xml, volumes found). Sleeps the probe latency."""
    pool.clock.work("sr_probe")
    vol = resolve(pool, sr_type, device_config, host_address)
    metadata = str(sm_config.get("metadata", "")).lower() == "true"
    return probe_xml([vol], metadata=metadata), [vol]


@method("SR.probe", ["host", "device_config", "type", "sm_config"], async_ok=True)
def sr_probe(call: Call, host: str, device_config: dict, type: str, sm_config: dict) -> str:
    h = host_of_ref(call.pool, call.db.handle("host", host))
    if not (h.up and call.pool.site.up):
        raise XapiError("HOST_OFFLINE", host)
    call.pool.world.stall(call)
    xml, _ = probe(call.pool, h.address, dict(device_config or {}), type, dict(sm_config or {}))
    return xml


# --------------------------------------------------------------------------- introduce/forget


def introduce(
    pool: Pool,
    uuid: str,
    name_label: str,
    name_description: str,
    sr_type: str,
    content_type: str,
    shared: bool,
    sm_config: dict,
) -> str:
    db = pool.db
    with db.lock:
        if db.where("SR", uuid=uuid):
            raise XapiError("SR_UUID_EXISTS", uuid)
        return db.create(
            "SR",
            {
                "uuid": uuid,
                "name_label": name_label,
                "name_description": name_description,
                "type": sr_type,
                "content_type": content_type,
                "shared": bool(shared),
                "sm_config": dict(sm_config or {}),
                "physical_size": -1,
                "physical_utilisation": -1,
                "virtual_allocation": -1,
                "allowed_operations": list(SR_OPS_DETACHED),
            },
        )


@method(
    "SR.introduce",
    [
        "uuid",
        "name_label",
        "name_description",
        "type",
        "content_type",
        ("shared", False),
        ("sm_config", {}),
    ],
    async_ok=True,
)
def sr_introduce(
    call: Call,
    uuid: str,
    name_label: str,
    name_description: str,
    type: str,
    content_type: str,
    shared: bool,
    sm_config: dict,
) -> str:
    return introduce(
        call.pool, uuid, name_label, name_description, type, content_type, shared, sm_config
    )


def forget(pool: Pool, sr_ref: str) -> None:
    """SR.forget: needs every PBD unplugged (`SR_HAS_PBD`); drops PBDs and VDI records."""
    db = pool.db
    with db.lock:
        pbds = db.get_field("SR", sr_ref, "PBDs")
        if any(db.get_field("PBD", p, "currently_attached") for p in pbds):
            raise XapiError("SR_HAS_PBD", sr_ref)
        for vdi in db.get_field("SR", sr_ref, "VDIs"):
            pool.foreign_metadata.pop(vdi, None)
            db.delete("VDI", vdi)
        for pbd in pbds:
            db.delete("PBD", pbd)
        db.delete("SR", sr_ref)
    recompute_metadata_latest(pool)


@method("SR.forget", ["sr"], async_ok=True)
def sr_forget(call: Call, sr: str) -> str:
    forget(call.pool, call.db.handle("SR", sr))
    return ""


# --------------------------------------------------------------------------- scan


def scan(pool: Pool, sr_ref: str, vol: Volume) -> None:
    """Bring the SR's VDI records in line with the volume (SR.scan), then the metadata VDIs."""
    db = pool.db
    content = vol.content
    own_uuid = db.get_field("pool", pool.ref, "uuid")
    with db.lock:
        known = {db.get_field("VDI", v, "uuid"): v for v in db.get_field("SR", sr_ref, "VDIs")}
        for vdi_uuid, ref in known.items():
            if vdi_uuid not in content.vdis and not db.get_field("VDI", ref, "VBDs"):
                pool.foreign_metadata.pop(ref, None)
                db.delete("VDI", ref)
        for vdi_uuid, on_disk in content.vdis.items():
            if vdi_uuid in known:
                continue
            if _vdi_known(db, vdi_uuid):
                continue  # the same disk is visible through another SR copy: keep the first
            fields: dict[str, Any] = {
                "uuid": vdi_uuid,
                "name_label": on_disk.name_label,
                "name_description": on_disk.name_description,
                "SR": sr_ref,
                "virtual_size": on_disk.virtual_size,
                "physical_utilisation": on_disk.virtual_size,
                "type": on_disk.type,
                "location": on_disk.location or vdi_uuid,
                "sm_config": dict(on_disk.sm_config),
                "allowed_operations": ["clone", "destroy", "resize", "update", "snapshot"],
            }
            if on_disk.type == "metadata":
                own = on_disk.metadata_pool_uuid == own_uuid
                fields["metadata_of_pool"] = pool.ref if own else on_disk.metadata_pool_ref
                fields["metadata_latest"] = False
            db.create("VDI", fields)
        used = sum(v.virtual_size for v in content.vdis.values())
        db.set(
            "SR",
            sr_ref,
            physical_size=content.size,
            physical_utilisation=used,
            virtual_allocation=used,
        )


def _vdi_known(db, vdi_uuid: str) -> bool:
    try:
        db.by_uuid("VDI", vdi_uuid)
    except XapiError:
        return False
    return True


def handle_metadata_vdis(pool: Pool, sr_ref: str, vol: Volume) -> None:
    """After the coordinator's plug: re-arm own redo logs, cache foreign databases."""
    from sim.xapi import dr

    db = pool.db
    for vdi in db.get_field("SR", sr_ref, "VDIs"):
        rec = db.get("VDI", vdi)
        if rec["type"] != "metadata":
            continue
        if rec["metadata_of_pool"] == pool.ref:
            with contextlib.suppress(XapiError):
                dr.enable_replication(pool, sr_ref, check=False)
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


@method("SR.scan", ["sr"], async_ok=True)
def sr_scan(call: Call, sr: str) -> str:
    pool = call.pool
    call.db.handle("SR", sr)
    attached = [
        p
        for p in call.db.get_field("SR", sr, "PBDs")
        if call.db.get_field("PBD", p, "currently_attached")
    ]
    if not attached:
        raise XapiError("SR_NO_PBDS", sr)
    pool.clock.work("sr_scan")
    rec = call.db.get("PBD", attached[0])
    host = host_of_ref(pool, rec["host"])
    vol = resolve(pool, call.db.get_field("SR", sr, "type"), rec["device_config"], host.address)
    scan(pool, sr, vol)
    return ""


# --------------------------------------------------------------------------- PBDs


@method("PBD.create", ["args"], async_ok=True)
def pbd_create(call: Call, args: dict) -> str:
    """PBD.create({host, SR, device_config, other_config})."""
    if not isinstance(args, dict):
        raise XapiError("FIELD_TYPE_ERROR", "args")
    host = call.db.handle("host", args.get("host", NULL_REF))
    sr = call.db.handle("SR", args.get("SR", NULL_REF))
    db = call.db
    with db.lock:
        for pbd in db.where("PBD", SR=sr, host=host):
            raise XapiError("PBD_EXISTS", sr, host, pbd)
        return db.create(
            "PBD",
            {
                "host": host,
                "SR": sr,
                "device_config": {
                    str(k): str(v) for k, v in (args.get("device_config") or {}).items()
                },
                "other_config": dict(args.get("other_config") or {}),
                "currently_attached": False,
            },
        )


def plug(pool: Pool, pbd: str) -> None:
    """Attach a PBD (see the module docstring); no-op when attached already."""
    db = pool.db
    rec = db.get("PBD", pbd)
    if rec["currently_attached"]:
        return
    host = host_of_ref(pool, rec["host"])
    if not (host.up and pool.site.up):
        raise XapiError("HOST_OFFLINE", host.ref)
    sr = db.get("SR", rec["SR"])
    pool.clock.work("pbd_plug")
    vol = resolve(pool, sr["type"], rec["device_config"], host.address)
    if vol.content.sr_uuid != sr["uuid"]:
        raise backend_failure(
            StorageFault(47, f"the volume holds SR {vol.content.sr_uuid}, not {sr['uuid']}")
        )
    db.set("PBD", pbd, currently_attached=True)
    refresh_sr_ops(pool, rec["SR"])
    if host is pool.coordinator or not _any_attached(pool, rec["SR"], but=pbd):
        scan(pool, rec["SR"], vol)
        handle_metadata_vdis(pool, rec["SR"], vol)


def _any_attached(pool: Pool, sr: str, but: str) -> bool:
    db = pool.db
    return any(
        db.get_field("PBD", p, "currently_attached")
        for p in db.get_field("SR", sr, "PBDs")
        if p != but
    )


@method("PBD.plug", ["self"], async_ok=True)
def pbd_plug(call: Call, self: str) -> str:
    call.db.handle("PBD", self)
    call.pool.world.stall(call)
    plug(call.pool, call.db.handle("PBD", self))
    return ""


def vdis_in_use(pool: Pool, sr: str, host_ref: str) -> list[str]:
    """Non-metadata VDIs of the SR attached to a VM resident on `host_ref`."""
    db = pool.db
    out = []
    with db.lock:
        for vdi in db.get_field("SR", sr, "VDIs"):
            if db.get_field("VDI", vdi, "type") == "metadata":
                continue
            for vbd in db.get_field("VDI", vdi, "VBDs"):
                vbd_rec = db.live("VBD", vbd)
                if vbd_rec is None or not vbd_rec["currently_attached"]:
                    continue
                vm = db.live("VM", vbd_rec["VM"])
                if vm is not None and vm["resident_on"] == host_ref and not vm["is_control_domain"]:
                    out.append(vdi)
                    break
    return out


def unplug(pool: Pool, pbd: str) -> None:
    """Detach a PBD (see the module docstring); no-op when detached already."""
    from sim.xapi import dr

    db = pool.db
    rec = db.get("PBD", pbd)
    if not rec["currently_attached"]:
        return
    in_use = vdis_in_use(pool, rec["SR"], rec["host"])
    if in_use:
        raise XapiError("VDI_IN_USE", *in_use)
    pool.clock.work("pbd_unplug")
    if not _any_attached(pool, rec["SR"], but=pbd):
        for vdi in db.get_field("SR", rec["SR"], "VDIs"):
            vdi_rec = db.get("VDI", vdi)
            if vdi_rec["type"] != "metadata":
                continue
            if vdi_rec["metadata_of_pool"] == pool.ref:
                dr.stop_redo_log(pool, vdi)
            else:
                pool.foreign_metadata.pop(vdi, None)
                db.set("VDI", vdi, metadata_latest=False)
        recompute_metadata_latest(pool)
    db.set("PBD", pbd, currently_attached=False)
    refresh_sr_ops(pool, rec["SR"])


@method("PBD.unplug", ["self"], async_ok=True)
def pbd_unplug(call: Call, self: str) -> str:
    unplug(call.pool, call.db.handle("PBD", self))
    return ""


@method("PBD.destroy", ["self"], async_ok=True)
def pbd_destroy(call: Call, self: str) -> str:
    call.db.handle("PBD", self)
    if call.db.get_field("PBD", self, "currently_attached"):
        raise XapiError("OPERATION_NOT_ALLOWED", "PBD is currently attached")
    call.db.delete("PBD", self)
    return ""


def unplug_all(pool: Pool, sr: str) -> None:
    """Unplug every PBD of an SR, the coordinator's last (CA-187174)."""
    db = pool.db
    pbds = db.get_field("SR", sr, "PBDs")
    coordinator = pool.coordinator.ref
    pbds.sort(key=lambda p: db.get_field("PBD", p, "host") == coordinator)
    for p in pbds:
        unplug(pool, p)


def replug_after_boot(pool: Pool, host) -> None:
    """A host that booted again re-attaches its PBDs; those whose volume refuses stay detached.

    This is how a site that comes back while its LUNs are replication targets (after a
    failover and `reverse`) finds its SRs detached until the mirror is broken again.
    """
    db = pool.db
    pbds = [
        p for p in db.where("PBD", host=host.ref) if db.get_field("PBD", p, "currently_attached")
    ]
    for pbd in pbds:
        rec = db.get("PBD", pbd)
        sr = db.get("SR", rec["SR"])
        try:
            vol = resolve(pool, sr["type"], rec["device_config"], host.address)
            if vol.content.sr_uuid != sr["uuid"]:
                raise backend_failure(StorageFault(47, "SR uuid mismatch"))
        except XapiError:
            db.set("PBD", pbd, currently_attached=False)
            refresh_sr_ops(pool, rec["SR"])
            for vdi in sr["VDIs"]:
                if (
                    db.get_field("VDI", vdi, "type") == "metadata"
                    and db.get_field("VDI", vdi, "metadata_of_pool") == pool.ref
                    and not _any_attached(pool, rec["SR"], but=pbd)
                ):
                    from sim.xapi import dr

                    dr.stop_redo_log(pool, vdi)
            continue
        if host is pool.coordinator:
            scan(pool, rec["SR"], vol)
            handle_metadata_vdis(pool, rec["SR"], vol)
