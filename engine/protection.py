"""What is protected and where it lands: the views the planner and readiness share.

- `Site`: one side of a plan or an assessment (a pool, its inventory, whether it answers).
- `Records`: the VM-side tables of one source (a pool's inventory, or a foreign database read
  from a metadata VDI), with `engine.tables.VMTables`'s lookups (a VM's disks' SRs, networks).
- `protection_problems`: why a VM cannot be recovered from replicated storage.
- `luns_between`, `lun_state`: the replicated LUNs between two sites, from the storage adapter.
- `metadata_sources`, `mirror_as_of`: a pool's metadata VDIs, and how far behind its mirror is.
- `map_networks`: where each source network lands (name, then bridge, then the configured map).

Nothing here changes a pool; `read_foreign` opens a metadata database (a read-only session
that is logged out at once) and `Site.is_reachable` may make one read call.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime

from engine.errors import DRError, XapiError, lost_contact
from engine.inventory import Inventory, convert_all
from engine.models import (
    ApplianceInfo,
    MetadataSource,
    NetworkInfo,
    NetworkMapping,
    RecordSource,
    SRInfo,
    VBDInfo,
    VDIInfo,
    VIFInfo,
    VMInfo,
)
from engine.pool_api import PoolAPI
from engine.storage.base import ReplicatedLun, StorageAdapter
from engine.tables import SUSPEND_IMAGE, VMTables


@dataclass
class Site:
    """One side of a plan: a pool and what drbot knows of it.

    `inventory` may be a follower's last snapshot of a pool that is now unreachable; `reachable`
    says whether the pool answers now (None: the planner asks with one cheap read call).
    `site` is the site name the storage adapter uses for the pool's LUNs. `error` is why drbot
    could not connect to or read the pool (build the site with `Site.open` to have it set): a
    pool that refuses drbot's login is not a pool that is down, and the split-brain guard must
    not take one for the other.
    """

    name: str
    inventory: Inventory | None = None
    client: PoolAPI | None = None
    site: str = ""
    reachable: bool | None = None
    error: DRError | None = None

    def __post_init__(self) -> None:
        if self.client is None and self.inventory is not None and self.reachable is None:
            self.client = self.inventory.client

    @classmethod
    def open(cls, name: str, connect: Callable[[], PoolAPI], *, site: str = "") -> Site:
        """Connect with `connect()` and load the pool's inventory; on failure, a Site that
        remembers why (`error`), unreachable only when nothing answered.

        Example:
            src = Site.open("prod", lambda: XapiClient.connect(config.pool("prod")), site="primary")
        """
        try:
            client = connect()
            return cls(name, Inventory.load(client, name), client, site=site, reachable=True)
        except DRError as exc:
            return cls(name, None, None, site=site, reachable=False, error=exc)

    @property
    def unusable(self) -> bool:
        """drbot could not use the pool, but nothing proves it is down (it may still run VMs)."""
        if self.error is None:
            return False
        # Only lost contact proves a pool did not answer. Anything else (a refused login, a
        # certificate that does not verify) leaves open whether its VMs still run.
        return not lost_contact(self.error)

    def is_reachable(self) -> bool:
        """Whether the pool answers now. A follower whose last `event.from` succeeded counts as
        an answer; "unreachable" is always confirmed by a call of its own, because it is what
        lets a failover past the split-brain guard."""
        if self.reachable is None:
            inv = self.inventory
            if inv is not None and inv.following and inv.last_error is None:
                self.reachable = True
            elif self.client is None:
                self.reachable = False
            else:
                try:
                    self.client.call("pool.get_all", timeout=10.0)
                    self.reachable = True
                except XapiError as exc:
                    self.reachable = False
                    self.error = exc
        return self.reachable


@dataclass
class Records(VMTables):
    """The VM-side tables of one source: a copy of a pool's inventory (`of`), or a foreign
    database read from a metadata VDI (`read_foreign`). Lookups come from `VMTables`."""

    source: RecordSource
    vms: dict[str, VMInfo]
    appliances: dict[str, ApplianceInfo]
    vbds: dict[str, VBDInfo]
    vdis: dict[str, VDIInfo]
    vifs: dict[str, VIFInfo]
    networks: dict[str, NetworkInfo]
    srs: dict[str, SRInfo]
    metadata_vdi_uuid: str | None = None
    pool_uuid: str = ""

    @classmethod
    def of(cls, inv: Inventory, source: RecordSource) -> Records:
        return cls(
            source,
            dict(inv.vms),
            dict(inv.appliances),
            dict(inv.vbds),
            dict(inv.vdis),
            dict(inv.vifs),
            dict(inv.networks),
            dict(inv.srs),
            pool_uuid=inv.pool.uuid if inv.pools else "",
        )


def read_foreign(client: PoolAPI, vdi_ref: str, vdi_uuid: str) -> Records:
    """Read the VM-side tables of a foreign database; the session is logged out at once."""
    with client.open_database(vdi_ref) as db:
        raw = {
            c: db.get_all_records(c)
            for c in ("pool", "VM", "VM_appliance", "VBD", "VDI", "VIF", "network", "SR")
        }
    pool_uuid = next((str(r.get("uuid", "")) for r in raw["pool"].values()), "")
    tables = {c: convert_all(c, raw[c]) for c in raw if c != "pool"}
    return Records(
        "metadata-vdi",
        tables["VM"],
        tables["VM_appliance"],
        tables["VBD"],
        tables["VDI"],
        tables["VIF"],
        tables["network"],
        tables["SR"],
        metadata_vdi_uuid=vdi_uuid,
        pool_uuid=pool_uuid,
    )


def protection_problems(
    records: Records, vm: VMInfo, replicated_sr_uuids: set[str]
) -> list[tuple[str, str, str]]:
    """Why `vm` cannot be recovered at the DR site, as (reason code, SR name, whose) triples.

    Reason codes: `local-storage` (a disk on an SR that is not shared: never recoverable,
    XenCenter's "Uses local storage"), `not-replicated` (a disk on a shared SR whose LUN is not
    replicated to the DR site: force would silently drop it), `snapshot-not-replicated` (a
    disk of snapshot `whose` on such an SR) and `suspend-not-replicated` (the suspend image):
    VM.recover imports those too and fails without them.
    """
    problems = []
    seen: set[tuple[str, str]] = set()
    for sr, whose in records.import_disks(vm):
        if sr.uuid in replicated_sr_uuids or (sr.uuid, whose) in seen:
            continue
        seen.add((sr.uuid, whose))
        if whose == SUSPEND_IMAGE:
            code = "suspend-not-replicated"
        elif whose:
            code = "snapshot-not-replicated"
        else:
            code = "local-storage" if not sr.shared else "not-replicated"
        problems.append((code, sr.name_label, whose))
    return problems


def luns_between(
    kind: str, luns: list[ReplicatedLun], source: Site, dest: Site
) -> list[ReplicatedLun]:
    """The LUNs replicated between the two sites, in the original (protected -> DR) direction."""
    if kind == "failback":
        prot, dr = dest.site, source.site
    else:
        prot, dr = source.site, dest.site
    if not prot and not dr:
        return list(luns)
    return [
        lun
        for lun in luns
        if (not prot or lun.source_site == prot) and (not dr or lun.target_site == dr)
    ]


def lun_state(storage: StorageAdapter | Iterable[ReplicatedLun] | None) -> list[ReplicatedLun]:
    if storage is None:
        return []
    if isinstance(storage, StorageAdapter):
        return list(storage.state())
    return list(storage)


def metadata_sources(src: Inventory, kind: str, dst: Inventory | None) -> list[MetadataSource]:
    """The source pool's own metadata VDIs, as the run will find them at the destination."""
    out = []
    for vdi in sorted(src.vdis.values(), key=lambda v: v.uuid):
        if vdi.type != "metadata" or vdi.metadata_of_pool != src.pool.ref:
            continue
        sr = src.srs.get(vdi.sr or "")
        out.append(
            MetadataSource(
                vdi_uuid=vdi.uuid,
                sr_uuid=sr.uuid if sr else "",
                sr_name=sr.name_label if sr else "",
                pool_uuid=src.pool.uuid,
                pool_name=src.pool.name_label or src.name,
                latest=vdi.metadata_latest,
                read=False,
            )
        )
    # The run reads the latest one; put those first.
    return sorted(out, key=lambda ms: (not ms.latest, ms.sr_name, ms.vdi_uuid))


def mirror_as_of(luns: list[ReplicatedLun], metadata: list[MetadataSource]) -> datetime | None:
    """The time the mirror of the metadata LUN is consistent as of (None if fully caught up)."""
    meta_srs = {ms.sr_uuid for ms in metadata if ms.latest}
    times = [
        lun.last_replicated_at
        for lun in luns
        if lun.sr_uuid in meta_srs and lun.last_replicated_at is not None and lun.pending_writes
    ]
    return max(times) if times else None


def created_inside_lag(install_time: datetime | None, as_of: datetime | None) -> bool:
    """Whether a VM installed at `install_time` may be missing from a mirror consistent as of
    `as_of`. XAPI gives `install_time` in whole seconds (a VM made at 12:00:00.7 says 12:00:00),
    while the array's time has a fraction: compare at XAPI's precision, and count a VM made in
    the same second as the mirror's point as inside the lag (a warning too many is better than
    a VM the run then reports `not-in-metadata`)."""
    if install_time is None or as_of is None:
        return False
    return install_time >= as_of.replace(microsecond=0)


def map_networks(
    used: dict[str, NetworkInfo], dst: Inventory | None, configured: dict[str, str]
) -> list[NetworkMapping]:
    """Where each source network lands: by name, then bridge (XAPI's order), then the map."""
    out = []
    for name in sorted(used):
        net = used[name]
        mapping = NetworkMapping(source_name=name, source_bridge=net.bridge)
        if dst is not None:
            by_name = dst.network_by_name(name)
            by_bridge = dst.network_by_bridge(net.bridge)
            mapped = dst.network_by_name(configured[name]) if name in configured else None
            for found, how in ((by_name, "name"), (by_bridge, "bridge"), (mapped, "map")):
                if found is not None:
                    mapping = mapping.model_copy(
                        update={
                            "dest_name": found.name_label,
                            "dest_uuid": found.uuid,
                            "matched_by": how,
                            "has_pifs": bool(found.pifs),
                        }
                    )
                    break
        out.append(mapping)
    return out
