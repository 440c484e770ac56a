"""SR and PBD operations (reference §4.2, §2.1 maintenance, §7.5): probe, introduce, forget,
scan, and PBD create / plug / unplug / destroy, against the volumes of `arrays.py`. (Their
wire methods are in `methods/storage.py`.)

What a plug does, as XAPI does it: the SM driver attaches the volume named by the PBD's
`device_config` (a failed LUN, an unreachable array or a mirror that replication still
holds read-only gives `SR_BACKEND_FAILURE_<n>`); when the coordinator's PBD is plugged the
metadata VDIs the pool has records of are handled: the pool's own get their redo log
re-enabled (this is how failback re-arms), foreign ones are read for their pool uuid and
database generation, which decide `metadata_latest` (highest generation per foreign pool
wins). Whether that plug scans the SR first depends on the pool's xapi release
(`releases.Release.plug_scans`): today's does not, so an SR the pool did not know has no VDI
records, and no metadata VDI is handled, until `SR.scan`.
Unplugging refuses while a running VM on that host uses a disk (`VDI_IN_USE`), disables the
redo log of own metadata VDIs, and drops foreign ones from the cache.
"""

from __future__ import annotations

from typing import Any

from sim.xapi.allowed import SR_OPS_DETACHED, refresh_sr_ops
from sim.xapi.arrays import StorageFault, Volume
from sim.xapi.errors import XapiError
from sim.xapi.metadata import (
    forget_metadata_of,
    handle_metadata_vdis,
    recompute_metadata_latest,
    stop_redo_log,
)
from sim.xapi.sm import backend_failure, host_of_ref, probe_xml, resolve
from sim.xapi.world import Host, Pool


def probe(
    pool: Pool, host_address: str, device_config: dict, sr_type: str, sm_config: dict
) -> tuple[str, list[Volume]]:
    """Probe for SRs; -> (xml, volumes found). Sleeps the probe latency."""
    pool.clock.work("sr_probe")
    vol = resolve(pool, sr_type, device_config, host_address)
    metadata = str(sm_config.get("metadata", "")).lower() == "true"
    return probe_xml([vol], metadata=metadata), [vol]


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
        update(pool, sr_ref, vol)


def update(pool: Pool, sr_ref: str, vol: Volume) -> None:
    """SR.update: the SR's sizes from the volume (its VDI records are left as they are)."""
    used = sum(v.virtual_size for v in vol.content.vdis.values())
    pool.db.set(
        "SR",
        sr_ref,
        physical_size=vol.content.size,
        physical_utilisation=used,
        virtual_allocation=used,
    )


def scan_attached(pool: Pool, sr: str) -> None:
    """SR.scan: read the volume through the SR's first attached PBD (`SR_NO_PBDS` if none)."""
    db = pool.db
    attached = [
        p for p in db.get_field("SR", sr, "PBDs") if db.get_field("PBD", p, "currently_attached")
    ]
    if not attached:
        raise XapiError("SR_NO_PBDS", sr)
    pool.clock.work("sr_scan")
    rec = db.get("PBD", attached[0])
    host = host_of_ref(pool, rec["host"])
    scan(
        pool, sr, resolve(pool, db.get_field("SR", sr, "type"), rec["device_config"], host.address)
    )


def _vdi_known(db, vdi_uuid: str) -> bool:
    try:
        db.by_uuid("VDI", vdi_uuid)
    except XapiError:
        return False
    return True


# --------------------------------------------------------------------------- PBDs


def create_pbd(
    pool: Pool, host: str, sr: str, device_config: dict[str, str], other_config: dict[str, str]
) -> str:
    """PBD.create: one PBD per host and SR (`PBD_EXISTS`), created unplugged."""
    db = pool.db
    with db.lock:
        for pbd in db.where("PBD", SR=sr, host=host):
            raise XapiError("PBD_EXISTS", sr, host, pbd)
        return db.create(
            "PBD",
            {
                "host": host,
                "SR": sr,
                "device_config": dict(device_config),
                "other_config": dict(other_config),
                "currently_attached": False,
            },
        )


def destroy_pbd(pool: Pool, pbd: str) -> None:
    """PBD.destroy: only an unplugged PBD."""
    if pool.db.get_field("PBD", pbd, "currently_attached"):
        raise XapiError("OPERATION_NOT_ALLOWED", "PBD is currently attached")
    pool.db.delete("PBD", pbd)


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
        # The first plug, on the coordinator: scan first only on releases before CA-379112;
        # since then the metadata VDIs already known are handled and the SR's size updated.
        if pool.release.plug_scans:
            scan(pool, rec["SR"], vol)
        elif sr["shared"]:
            update(pool, rec["SR"], vol)
        if sr["shared"]:
            handle_metadata_vdis(pool, rec["SR"], vol)


def _any_attached(pool: Pool, sr: str, but: str) -> bool:
    db = pool.db
    return any(
        db.get_field("PBD", p, "currently_attached")
        for p in db.get_field("SR", sr, "PBDs")
        if p != but
    )


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
    db = pool.db
    rec = db.get("PBD", pbd)
    if not rec["currently_attached"]:
        return
    in_use = vdis_in_use(pool, rec["SR"], rec["host"])
    if in_use:
        raise XapiError("VDI_IN_USE", *in_use)
    pool.clock.work("pbd_unplug")
    if not _any_attached(pool, rec["SR"], but=pbd):
        forget_metadata_of(pool, rec["SR"])
    db.set("PBD", pbd, currently_attached=False)
    refresh_sr_ops(pool, rec["SR"])


def unplug_all(pool: Pool, sr: str) -> None:
    """Unplug every PBD of an SR, the coordinator's last (CA-187174)."""
    db = pool.db
    pbds = db.get_field("SR", sr, "PBDs")
    coordinator = pool.coordinator.ref
    pbds.sort(key=lambda p: db.get_field("PBD", p, "host") == coordinator)
    for p in pbds:
        unplug(pool, p)


def replug_after_boot(pool: Pool, host: Host) -> None:
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
                    stop_redo_log(pool, vdi)
            continue
        if host is pool.coordinator:
            # SRs marked auto-scan are scanned by xapi's periodic scanner soon after boot.
            if pool.release.plug_scans or sr["other_config"].get("auto-scan") == "true":
                scan(pool, rec["SR"], vol)
            handle_metadata_vdis(pool, rec["SR"], vol)
