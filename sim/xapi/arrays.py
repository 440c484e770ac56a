"""Storage arrays: volumes (iSCSI LUNs, NFS exports, local disks) and LUN replication.

A *volume* holds what an SR keeps on disk: the SR's uuid and name (the LVM volume group and
its management volume), the VDIs on it (uuid, name, location, size, type), and for metadata
VDIs the pool database written there as a redo log. Pools never own this: a pool's SR record
is an attachment (PBD) of a volume, found by its `device_config`, and `SR.scan` reads the
VDI list from the volume. So two pools that attach copies of one LUN see the same SR uuid,
as they would with real mirrored LVM.

Replication (`ReplicationLink`): every write to the source LUN is queued with its wall-clock
time and applied to the mirror once it is `lag_seconds` old, which makes the mirror the
source as of `now - lag`. While replicating the mirror is read-only and cannot be probed or
attached (`SR_BACKEND_FAILURE_47`). `promote` breaks the mirror: writes still in flight are
lost, the mirror becomes writable. `present_test_copy` gives a writable snapshot of the
mirror under its own SCSIid (the SR uuid inside is the same); `reverse` resynchronises the
other way for failback. Nothing ships while the source's site is down.

This module is plain data and rules; it raises `StorageFault(n, reason)` for the SM errors,
which `storage.py` turns into `SR_BACKEND_FAILURE_<n>`.
"""

from __future__ import annotations

import threading
import uuid as uuidlib
from collections import deque
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

# SM error numbers (sm libs/sm/core/XE_SR_ERRORCODES.xml) and their texts.
SM_ERRORS = {
    47: "The SR is not available",
    68: "ISCSI login failed, verify CHAP credentials",
    96: "The request is missing or has an incorrect target IQN parameter",
    107: "The SCSIid parameter is missing or incorrect",
    108: "Unable to detect an NFS service on this target.",
    141: "Unable to connect to ISCSI service on target",
}


class StorageFault(Exception):
    """An SM back-end failure: `number` is the SM fault code, `reason` its text."""

    def __init__(self, number: int, detail: str = "", stderr: str = "") -> None:
        self.number = number
        self.reason = SM_ERRORS.get(number, "Storage back-end failure")
        if detail:
            self.reason = f"{self.reason} [opterr={detail}]"
        self.stderr = stderr
        super().__init__(number, self.reason)


@dataclass
class VdiOnDisk:
    """A VDI as the SR's on-disk metadata records it."""

    uuid: str
    name_label: str
    name_description: str = ""
    virtual_size: int = 0
    type: str = "user"
    location: str = ""
    sm_config: dict[str, str] = field(default_factory=dict)
    # For metadata VDIs: the pool whose database this is (ref and uuid in *that* database).
    metadata_pool_ref: str = ""
    metadata_pool_uuid: str = ""

    def to_json(self) -> dict[str, Any]:
        return dict(self.__dict__)


@dataclass
class RedoLog:
    """A pool database as written on a metadata VDI: plain tables at a generation.

    Records are treated as immutable once written here (a delta replaces a whole record),
    so the source LUN, the mirror and the queue between them can share them.
    """

    generation: int = 0
    tables: dict[str, dict[str, dict[str, Any]]] = field(default_factory=dict)

    def apply_full(self, generation: int, tables: dict[str, dict[str, dict[str, Any]]]) -> None:
        self.generation = generation
        self.tables = {cls: dict(rows) for cls, rows in tables.items()}

    def apply_delta(self, generation: int, changes: list[tuple[str, str, Any]]) -> None:
        for cls, ref, record in changes:
            table = self.tables.setdefault(cls, {})
            if record is None:
                table.pop(ref, None)
            else:
                table[ref] = record
        self.generation = max(self.generation, generation)

    def copy(self) -> RedoLog:
        return RedoLog(self.generation, {c: dict(rows) for c, rows in self.tables.items()})


@dataclass
class VolumeContent:
    """What an SR keeps on its disk."""

    sr_uuid: str
    sr_name: str
    sr_description: str = ""
    sr_type: str = "lvmoiscsi"
    size: int = 0
    vdis: dict[str, VdiOnDisk] = field(default_factory=dict)
    redo_logs: dict[str, RedoLog] = field(default_factory=dict)

    def apply(self, write: tuple) -> None:
        """Apply one write (see `Volume.write` for the kinds)."""
        kind = write[0]
        if kind == "vdi_add":
            vdi: VdiOnDisk = write[1]
            self.vdis[vdi.uuid] = vdi
        elif kind == "vdi_del":
            self.vdis.pop(write[1], None)
            self.redo_logs.pop(write[1], None)
        elif kind == "db_full":
            _, vdi_uuid, generation, tables = write
            self.redo_logs.setdefault(vdi_uuid, RedoLog()).apply_full(generation, tables)
        elif kind == "db_delta":
            _, vdi_uuid, generation, changes = write
            self.redo_logs.setdefault(vdi_uuid, RedoLog()).apply_delta(generation, changes)
        else:  # pragma: no cover - programming error
            raise ValueError(f"unknown volume write {kind!r}")

    def copy(self) -> VolumeContent:
        return VolumeContent(
            self.sr_uuid,
            self.sr_name,
            self.sr_description,
            self.sr_type,
            self.size,
            dict(self.vdis),
            {k: v.copy() for k, v in self.redo_logs.items()},
        )


@dataclass
class Volume:
    """One volume of an array (or a host's local disk).

    `role`: `standalone` (not replicated), `source` / `mirror` (ends of a link; which end is
    writable depends on the link's state), `test-copy`.
    """

    id: str
    site: str
    kind: str  # "iscsi" | "nfs" | "local"
    content: VolumeContent
    scsi_id: str = ""
    serverpath: str = ""
    device: str = ""
    host_address: str = ""  # local volumes: the host whose disk it is
    role: str = "standalone"
    failed: bool = False
    link: ReplicationLink | None = None

    def device_config(self, array: StorageArray | None) -> dict[str, str]:
        """The `device_config` a PBD uses to reach this volume."""
        if self.kind == "iscsi" and array is not None:
            config = {
                "target": array.target,
                "port": array.port,
                "targetIQN": array.iqn,
                "SCSIid": self.scsi_id,
            }
            if array.chap_user:
                config.update(chapuser=array.chap_user, chappassword=array.chap_password)
            return config
        if self.kind == "nfs" and array is not None:
            return {"server": array.target, "serverpath": self.serverpath}
        return {"device": self.device}

    def writable(self) -> bool:
        if self.failed:
            return False
        if self.link is None or self.role == "test-copy":
            return True
        return self.link.writable_end(self)

    def attachable(self) -> bool:
        """Can a host attach it read-write now (a replicating mirror cannot)?"""
        return self.writable()


@dataclass
class StorageArray:
    """A site's storage array: an iSCSI portal and NFS server with its volumes."""

    site: str
    target: str
    iqn: str
    port: str = "3260"
    volumes: dict[str, Volume] = field(default_factory=dict)
    chap_user: str = ""
    chap_password: str = ""

    def by_scsi_id(self, scsi_id: str) -> Volume | None:
        for vol in self.volumes.values():
            if vol.kind == "iscsi" and vol.scsi_id == scsi_id:
                return vol
        return None

    def by_path(self, serverpath: str) -> Volume | None:
        for vol in self.volumes.values():
            if vol.kind == "nfs" and vol.serverpath == serverpath:
                return vol
        return None


@dataclass
class ReplicationLink:
    """Asynchronous replication between a LUN and its mirror at another site.

    `direction` is `forward` (source -> mirror) or `backward` (after `reverse`: mirror ->
    source); `state` is what the control API shows: `replicating`, `promoted`, `reversed`,
    `failed`.
    """

    id: str
    source: Volume
    mirror: Volume
    lag_seconds: float
    direction: str = "forward"
    broken: bool = False
    pending: deque = field(default_factory=deque)  # (wall time, write)
    last_shipped_at: float = 0.0
    test_copy: Volume | None = None

    @property
    def sending(self) -> Volume:
        return self.source if self.direction == "forward" else self.mirror

    @property
    def receiving(self) -> Volume:
        return self.mirror if self.direction == "forward" else self.source

    @property
    def state(self) -> str:
        if self.source.failed or self.mirror.failed:
            return "failed"
        if self.broken:
            return "promoted"
        return "replicating" if self.direction == "forward" else "reversed"

    def writable_end(self, volume: Volume) -> bool:
        return self.broken or volume is self.sending

    def enqueue(self, now: float, write: tuple) -> None:
        if not self.broken:
            self.pending.append((now, write))

    def ship(self, now: float, *, everything: bool = False) -> int:
        """Apply the writes that are `lag_seconds` old (all with `everything`); -> count."""
        if self.broken:
            return 0
        cut = now if everything else now - self.lag_seconds
        shipped = 0
        while self.pending and self.pending[0][0] <= cut:
            _, write = self.pending.popleft()
            self.receiving.content.apply(write)
            shipped += 1
        if not self.pending:
            self.last_shipped_at = now
        elif shipped:
            self.last_shipped_at = max(self.last_shipped_at, cut)
        return shipped

    def consistent_as_of(self, now: float) -> float:
        """Wall time up to which the receiving end holds every write."""
        if self.broken:
            return self.last_shipped_at
        if not self.pending:
            return now
        return self.pending[0][0]


def new_scsi_id() -> str:
    """A SCSI id as LVHD shows them (`36` + NAA hex)."""
    return "36" + uuidlib.uuid4().hex[:31]


class Storage:
    """Every array of the world, the replication links between them, and the rules.

    Thread-safe through `lock`; `clock_wall` gives wall-clock seconds (the lag is not
    scaled by the simulator's speed: see clock.py). `site_up(site)` says whether a site's
    array answers.
    """

    def __init__(self, clock_wall, site_up) -> None:
        self.lock = threading.RLock()
        self.arrays: dict[str, StorageArray] = {}  # site -> array
        self.local: dict[str, Volume] = {}  # id -> local volume
        self.links: dict[str, ReplicationLink] = {}
        self._wall = clock_wall
        self._site_up = site_up

    # ------------------------------------------------------------------ lookups

    def array_of(self, volume: Volume) -> StorageArray | None:
        return self.arrays.get(volume.site) if volume.kind != "local" else None

    def volume(self, volume_id: str) -> Volume | None:
        with self.lock:
            for array in self.arrays.values():
                if volume_id in array.volumes:
                    return array.volumes[volume_id]
            return self.local.get(volume_id)

    def link(self, link_id: str) -> ReplicationLink:
        with self.lock:
            try:
                return self.links[link_id]
            except KeyError:
                known = ", ".join(sorted(self.links)) or "none"
                raise KeyError(
                    f"no replicated LUN {link_id!r}; known LUNs: {known} (GET /replication)"
                ) from None

    def _array_by_target(self, target: str) -> StorageArray:
        for array in self.arrays.values():
            if array.target == target:
                if not self._site_up(array.site):
                    raise StorageFault(141, f"connection to {target}:{array.port} refused")
                return array
        raise StorageFault(141, f"no iSCSI portal answers at {target}")

    def resolve(self, sr_type: str, device_config: dict[str, str], host_address: str) -> Volume:
        """The volume a PBD's `device_config` names, as seen from `host_address`.

        Raises StorageFault for what the SM driver would refuse: unreachable target (141),
        wrong IQN (96), missing or unknown SCSIid (107), NFS export not found (108).
        """
        with self.lock:
            self.pump()
            if sr_type in {"lvmoiscsi", "iscsi"}:
                array = self._array_by_target(device_config.get("target", ""))
                iqn = device_config.get("targetIQN", "")
                if iqn not in {array.iqn, "*"}:
                    raise StorageFault(96, f"target has IQN {array.iqn}, asked for {iqn!r}")
                if array.chap_user and (
                    device_config.get("chapuser") != array.chap_user
                    or device_config.get("chappassword") != array.chap_password
                ):
                    raise StorageFault(68, "CHAP authentication to the target failed")
                scsi_id = device_config.get("SCSIid", "")
                vol = array.by_scsi_id(scsi_id) if scsi_id else None
                if vol is None:
                    raise StorageFault(107, "", self.lun_list_xml(array))
                return vol
            if sr_type == "lvmohba":
                scsi_id = device_config.get("SCSIid", "")
                for array in self.arrays.values():
                    vol = array.by_scsi_id(scsi_id) if self._site_up(array.site) else None
                    if vol is not None:
                        return vol
                raise StorageFault(107, f"no LUN {scsi_id!r} is visible on the HBAs")
            if sr_type == "nfs":
                array = self._array_by_target(device_config.get("server", ""))
                vol = array.by_path(device_config.get("serverpath", ""))
                if vol is None:
                    raise StorageFault(108, f"no export {device_config.get('serverpath')!r}")
                return vol
            for vol in self.local.values():
                if vol.host_address == host_address and vol.device == device_config.get("device"):
                    return vol
            raise StorageFault(47, f"no local device {device_config.get('device')!r}")

    def lun_list_xml(self, array: StorageArray) -> str:
        """The `<iscsi-target>` LUN list the LVM-over-iSCSI probe prints without a SCSIid."""
        rows: list[str] = []
        for vol in array.volumes.values():
            if vol.kind != "iscsi":
                continue
            rows.append(
                "\t<LUN>\n"
                f"\t\t<vendor>SIMARRAY</vendor>\n\t\t<serial>{vol.id}</serial>\n"
                f"\t\t<LUNid>{len(rows)}</LUNid>\n\t\t<size>{vol.content.size}</size>\n"
                f"\t\t<SCSIid>{vol.scsi_id}</SCSIid>\n\t</LUN>\n"
            )
        return f'<?xml version="1.0" ?>\n<iscsi-target>\n{"".join(rows)}</iscsi-target>\n'

    def check_attachable(self, vol: Volume) -> None:
        """Refuse (SM 47) a failed volume, an unreachable array, or a replicating mirror."""
        if vol.failed:
            raise StorageFault(47, f"LUN {vol.id} has failed")
        if vol.kind != "local" and not self._site_up(vol.site):
            raise StorageFault(47, f"the array of site {vol.site} is down")
        if not vol.attachable():
            raise StorageFault(
                47, f"LUN {vol.id} is a read-only replication target (break the mirror first)"
            )

    def readable(self, vol: Volume) -> bool:
        """Can the volume be read at all (probe of a healthy, non-mirror LUN)?"""
        try:
            self.check_attachable(vol)
        except StorageFault:
            return False
        return True

    # ------------------------------------------------------------------ writes

    def write(self, vol: Volume, write: tuple) -> bool:
        """Write to a volume (and queue it for its mirror); False if the volume refuses."""
        with self.lock:
            if not vol.writable() or (vol.kind != "local" and not self._site_up(vol.site)):
                return False
            vol.content.apply(write)
            if vol.link is not None and vol.role != "test-copy" and vol is vol.link.sending:
                vol.link.enqueue(self._wall(), write)
            return True

    def pump(self) -> None:
        """Ship every write that is old enough, on every link whose sender is up."""
        with self.lock:
            now = self._wall()
            for link in self.links.values():
                if link.sending.failed or not self._site_up(link.sending.site):
                    continue
                link.ship(now)

    # ------------------------------------------------------------------ operations

    def sync(self, link_id: str) -> int:
        """Push every pending write now (the array's "replicate now"); -> writes shipped."""
        with self.lock:
            link = self.link(link_id)
            if link.broken:
                raise ValueError(f"LUN {link_id} is promoted: nothing replicates; reverse first")
            if not self._site_up(link.sending.site) or link.sending.failed:
                raise ValueError(f"the sending side of LUN {link_id} is down: cannot sync")
            return link.ship(self._wall(), everything=True)

    def promote(self, link_id: str) -> None:
        """Break the mirror: the receiving end becomes writable; in-flight writes are lost."""
        with self.lock:
            link = self.link(link_id)
            if link.broken:
                raise ValueError(f"LUN {link_id} is already promoted")
            if self._site_up(link.sending.site) and not link.sending.failed:
                link.ship(self._wall())
            link.pending.clear()
            link.broken = True

    def reverse(self, link_id: str) -> None:
        """Replicate the other way (failback): the old sender gets a full resync."""
        with self.lock:
            link = self.link(link_id)
            if not link.broken:
                raise ValueError(f"LUN {link_id} is not promoted: promote it before reversing")
            if link.test_copy is not None:
                raise ValueError(f"LUN {link_id} has a test copy presented: remove it first")
            link.direction = "backward" if link.direction == "forward" else "forward"
            link.receiving.content = link.sending.content.copy()
            link.broken = False
            link.pending.clear()
            link.last_shipped_at = self._wall()

    def present_test_copy(self, link_id: str) -> Volume:
        """A writable snapshot of the receiving end, with its own SCSIid, on its array."""
        with self.lock:
            link = self.link(link_id)
            if link.test_copy is not None:
                raise ValueError(f"LUN {link_id} already has a test copy presented")
            if link.receiving.failed:
                raise ValueError(f"the mirror of LUN {link_id} has failed")
            self.pump()
            base = link.receiving
            copy = Volume(
                id=f"{link.id}-testcopy",
                site=base.site,
                kind="iscsi",
                content=base.content.copy(),
                scsi_id=new_scsi_id(),
                role="test-copy",
                link=link,
            )
            self.arrays[base.site].volumes[copy.id] = copy
            link.test_copy = copy
            return copy

    def remove_test_copy(self, link_id: str) -> Volume:
        with self.lock:
            link = self.link(link_id)
            if link.test_copy is None:
                raise ValueError(f"LUN {link_id} has no test copy to remove")
            copy = link.test_copy
            self.arrays[copy.site].volumes.pop(copy.id, None)
            link.test_copy = None
            return copy

    def describe(self, link: ReplicationLink) -> dict[str, Any]:
        """One row of `GET /replication` (docs/contracts/sim-xapi.md)."""
        with self.lock:
            self.pump()
            now = self._wall()
            as_of = link.consistent_as_of(now)
            test = link.test_copy
            return {
                "lun": link.id,
                "sr_uuid": link.source.content.sr_uuid,
                "name": link.source.content.sr_name,
                "source_site": link.source.site,
                "target_site": link.mirror.site,
                "state": link.state,
                "direction": link.direction,
                "lag_seconds": link.lag_seconds,
                "rpo_seconds": round(max(0.0, now - as_of), 3) if not link.broken else None,
                "pending_writes": len(link.pending),
                "last_replicated_at": datetime.fromtimestamp(as_of, UTC).isoformat(),
                "source_device_config": link.source.device_config(self.array_of(link.source)),
                "mirror_device_config": link.mirror.device_config(self.array_of(link.mirror)),
                "test_copy_device_config": (
                    test.device_config(self.array_of(test)) if test is not None else None
                ),
            }
