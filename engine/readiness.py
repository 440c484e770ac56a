"""Readiness: can this protected pool be recovered at its DR site right now, and if not, why?

`assess(...)` is the data behind `/dr status`. It answers from the inventories it is given (so
from memory when they follow events), the storage adapter's replication state, and the last
drill outcome read through a callable the caller passes in. It makes no XAPI call of its own
beyond what `Site.is_reachable` needs, and changes nothing.

What it reports, per protected pool (reference §2, §5, §7):
- per vApp and VM: protected or not, and why not: a disk on local storage, a disk on a shared SR
  that is not replicated, created after the mirror's last consistent point (not in the
  replicated metadata yet);
- metadata replication targets: SR, `metadata_latest`, whether its LUN is replicated, the
  count against XAPI's limit of 8;
- replication lag per LUN (the RPO) from the storage adapter;
- DR pool capacity: the memory of what must run against what is free, and whether the largest
  VM fits on one host;
- networks the VMs need against those at the DR site (name, then bridge, then the map);
- HA and licence state of the DR pool; the last drill;
- a verdict, `ready` / `degraded` / `not-ready`, with every reason.

`assess_estate(...)` assesses every pair from pools read once each, and adds what no pair sees
alone: the loss of a whole site sends all its pools into their DR pools together
(`engine.capacity`).

Example:
    prod = Site("prod", Inventory.load(prod_client).follow(), site="primary")
    dr = Site("dr", Inventory.load(dr_client).follow(), site="dr")
    r = assess(config.pair_for("prod"), protected=prod, dr=dr,
               storage=adapter_from_config(config.storage), last_drill=store.drills.recent)
    print(r.verdict, [reason.message for reason in r.reasons])
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any, Literal

from pydantic import BaseModel, Field, computed_field

from engine import capacity
from engine import messages as m
from engine.capacity import Landing
from engine.clock import Clock, SystemClock
from engine.config import PoolPair
from engine.inventory import Inventory, gc_paused
from engine.models import NetworkInfo, NetworkMapping, VMInfo
from engine.protection import (
    Records,
    Site,
    created_inside_lag,
    lun_state,
    luns_between,
    map_networks,
    metadata_sources,
    mirror_as_of,
    protection_problems,
)
from engine.storage.base import ReplicatedLun, StorageAdapter

Verdict = Literal["ready", "degraded", "not-ready"]
Severity = Literal["info", "degraded", "not-ready"]
METADATA_TARGET_LIMIT = 8  # Xapi_globs.redo_log_max_instances (reference §2.1)
DRILL_MAX_AGE = timedelta(days=30)


class Reason(BaseModel):
    """One reason behind the verdict; `severity` says how much it weighs."""

    severity: Severity
    subject: str
    message: str


class VMProtection(BaseModel):
    uuid: str
    name: str
    appliance: str | None = None
    power_state: str = "Halted"
    protected: bool
    reasons: list[str] = Field(default_factory=list)
    memory_bytes: int = 0
    recoverable: bool = True
    """Every disk is on replicated storage: a failover plan takes it (lag aside, which a
    planned failover's sync closes)."""


class ApplianceProtection(BaseModel):
    uuid: str
    name: str
    protected: bool
    vms: int
    unprotected_vms: list[str] = Field(default_factory=list)


class MetadataTarget(BaseModel):
    sr_name: str
    sr_uuid: str
    vdi_uuid: str
    latest: bool
    replicated: bool
    lun_state: str | None = None


class LunStatus(BaseModel):
    lun: str
    sr_name: str
    state: str
    lag_seconds: float | None
    pending_writes: int | None = None
    last_replicated_at: datetime | None = None


class Capacity(BaseModel):
    needed_bytes: int
    free_bytes: int
    hosts_live: int
    hosts_total: int
    largest_vm_bytes: int = 0
    largest_host_free_bytes: int = 0

    @property
    def fits(self) -> bool:
        return (
            self.needed_bytes <= self.free_bytes
            and self.largest_vm_bytes <= self.largest_host_free_bytes
        )


class DrillSummary(BaseModel):
    at: datetime | None = None
    outcome: str = ""
    rto_seconds: float | None = None
    kind: str = ""


class Readiness(BaseModel):
    """The readiness of one protected pool against its DR pool."""

    pool: str
    dr_pool: str
    verdict: Verdict
    reasons: list[Reason] = Field(default_factory=list)
    source_reachable: bool = True
    dr_reachable: bool = True
    vms: list[VMProtection] = Field(default_factory=list)
    appliances: list[ApplianceProtection] = Field(default_factory=list)
    metadata_targets: list[MetadataTarget] = Field(default_factory=list)
    metadata_limit: int = METADATA_TARGET_LIMIT
    replication: list[LunStatus] = Field(default_factory=list)
    rpo_seconds: float | None = None
    capacity: Capacity | None = None
    networks: list[NetworkMapping] = Field(default_factory=list)
    ha_enabled: bool | None = None
    dr_licensed: bool | None = None
    last_drill: DrillSummary | None = None
    computed_at: datetime | None = None
    inventory_as_of: datetime | None = None

    @computed_field  # type: ignore[prop-decorator]  # mypy rejects decorators over @property
    @property
    def protected_count(self) -> int:
        """VMs that can be recovered at the DR site (serialised for the bot and --json)."""
        return sum(1 for v in self.vms if v.protected)

    @computed_field  # type: ignore[prop-decorator]  # mypy rejects decorators over @property
    @property
    def unprotected_count(self) -> int:
        return sum(1 for v in self.vms if not v.protected)

    @property
    def unprotected(self) -> list[VMProtection]:
        return [v for v in self.vms if not v.protected]


# What `store.drills.recent` is: a pool's drill rows, newest first (or one row, or none).
DrillRow = Mapping[str, Any]
LastDrill = Callable[[str], DrillRow | Sequence[DrillRow] | None]


def _drill(value: DrillRow | Sequence[DrillRow] | None) -> DrillSummary | None:
    """Accept what a store returns: a row, or a list of them (newest first)."""
    if value is None:
        return None
    if not isinstance(value, Mapping):
        if not value:
            return None
        value = value[0]
    get = value.get
    at = get("at") or get("finished_at") or get("created_at") or get("recorded_at")
    if isinstance(at, str):
        try:
            at = datetime.fromisoformat(at)
        except ValueError:
            at = None
    rto = get("rto_seconds")
    return DrillSummary(
        at=at,
        outcome=str(get("outcome", "") or ""),
        rto_seconds=float(rto) if rto is not None else None,
        kind=str(get("kind", "") or ""),
    )


# Kinds of run that count as a drill: a test failover (a record without a kind is taken as one).
DRILL_KINDS = ("test-failover", "")


def _last_test(last_drill: LastDrill, pool: str) -> DrillSummary | None:
    """The newest drill of protected pool `pool` (drills are kept per protected pool: a DR pool
    takes several, and another pool's drill proves nothing of this one); a failover or failback
    recorded there is a real run, not a drill, and is passed over."""
    value = last_drill(pool)
    rows = list(value) if isinstance(value, list | tuple) else [value]
    for row in rows:
        summary = _drill(row)
        if summary is not None and summary.kind in DRILL_KINDS:
            return summary
    return None


def assess(
    pair: PoolPair,
    *,
    protected: Site,
    dr: Site,
    storage: StorageAdapter | Iterable[ReplicatedLun] | None,
    last_drill: LastDrill | None = None,
    max_lag_seconds: float = 300.0,
    clock: Clock | None = None,
) -> Readiness:
    """Assess `pair` from the two sites' inventories and the storage adapter's state."""
    clock = clock or SystemClock()
    reasons: list[Reason] = []

    def add(severity: Severity, subject: str, message: str) -> None:
        reasons.append(Reason(severity=severity, subject=subject, message=message))

    src, dst = protected.inventory, dr.inventory
    src_up = protected.is_reachable()
    dst_up = dr.is_reachable() and dst is not None
    if dr.unusable:
        add("not-ready", dr.name, m.DEST_UNUSABLE.format(pool=dr.name, error=dr.error))
    elif not dst_up:
        add("not-ready", dr.name, m.DEST_UNREACHABLE.format(pool=dr.name))
    if protected.unusable:
        add(
            "not-ready",
            protected.name,
            m.R_SOURCE_UNUSABLE.format(pool=protected.name, error=protected.error),
        )
    elif not src_up:
        add("degraded", protected.name, m.R_SOURCE_DOWN.format(pool=protected.name))

    try:
        all_luns = lun_state(storage)
    except Exception as exc:  # a StorageError, or anything the adapter's transport raised
        all_luns = []
        add("not-ready", "storage", m.R_STORAGE_UNREADABLE.format(error=exc))
    luns = luns_between("failover", all_luns, protected, dr)
    elsewhere: list[ReplicatedLun] = []
    if src is not None:
        # Only this pool's LUNs: another pool of the same site replicates its own.
        own = {sr.uuid for sr in src.srs.values()}
        luns = [lun for lun in luns if lun.sr_uuid in own]
        elsewhere = [
            lun
            for lun in all_luns
            if lun.sr_uuid in own and lun.target_site and lun.target_site != dr.site
        ]
    replicated = {lun.sr_uuid for lun in luns}
    lun_by_sr = {lun.sr_uuid: lun for lun in luns}
    if not luns and elsewhere and dr.site:
        # Only the pools and the array know which LUN holds which SR: a pair written against
        # where the LUNs go is found here, not when the configuration is read.
        add(
            "not-ready",
            "storage",
            m.R_LUNS_ELSEWHERE.format(
                pool=protected.name,
                luns=", ".join(lun.lun for lun in elsewhere),
                sites=" and ".join(sorted({lun.target_site for lun in elsewhere})),
                dr=dr.name,
                dr_site=dr.site,
            ),
        )
    elif not luns and all_luns is not None:
        add("not-ready", "storage", m.NO_LUNS)

    result = Readiness(
        pool=protected.name,
        dr_pool=dr.name,
        verdict="ready",
        source_reachable=src_up,
        dr_reachable=dst_up,
        computed_at=clock.now(),
    )

    # --- replication (RPO) ---------------------------------------------------------------------
    statuses = []
    for lun in luns:
        lag = lun.lag_seconds if lun.pending_writes != 0 else 0.0
        statuses.append(
            LunStatus(
                lun=lun.lun,
                sr_name=lun.name,
                state=lun.state,
                lag_seconds=lag,
                pending_writes=lun.pending_writes,
                last_replicated_at=lun.last_replicated_at,
            )
        )
        if lun.state == "failed":
            add("not-ready", lun.name or lun.lun, m.R_LUN_FAILED.format(lun=lun.lun))
        elif lun.state != "replicating":
            todo = m.R_LUN_TODO.get(lun.state, m.R_LUN_TODO_OTHER)
            add(
                "degraded",
                lun.name or lun.lun,
                m.R_LUN_STATE.format(lun=lun.lun, state=lun.state, todo=todo),
            )
        elif lag is not None and lag > max_lag_seconds:
            add(
                "degraded",
                lun.name or lun.lun,
                m.LAG_HIGH.format(lag=round(lag), limit=round(max_lag_seconds)),
            )
    result.replication = statuses
    lags = [s.lag_seconds for s in statuses if s.lag_seconds is not None]
    result.rpo_seconds = max(lags) if lags else None

    if src is None:
        add("not-ready", protected.name, m.R_NO_INVENTORY.format(pool=protected.name))
        return _verdict(result, reasons, last_drill, clock)
    result.inventory_as_of = src.changed_at
    if src.following and src.last_error is not None:
        # Readiness from memory must not look fresher than it is.
        add(
            "degraded",
            protected.name,
            m.R_STALE_INVENTORY.format(
                when=src.changed_at.isoformat(timespec="seconds") if src.changed_at else "never",
                error=src.last_error,
            ),
        )

    # --- the same VM running at both sites (after a failover, a primary that came back) --------
    fresh = src_up and not (src.following and src.last_error is not None)
    if fresh and dst is not None and dst_up:
        twice = src.memo(
            "running-twice", (id(dst), dst.generation), lambda: _running_twice(src, dst)
        )
        if twice:
            shown = ", ".join(twice[:10]) + (
                f" and {len(twice) - 10} more" if len(twice) > 10 else ""
            )
            add(
                "not-ready",
                protected.name,
                m.R_RUNNING_TWICE.format(names=shown, pool=protected.name, dr=dr.name),
            )

    # --- metadata targets ------------------------------------------------------------------------
    metadata = metadata_sources(src, "failover", dst)
    result.metadata_targets = [
        MetadataTarget(
            sr_name=ms.sr_name,
            sr_uuid=ms.sr_uuid,
            vdi_uuid=ms.vdi_uuid,
            latest=ms.latest,
            replicated=ms.sr_uuid in replicated,
            lun_state=lun_by_sr[ms.sr_uuid].state if ms.sr_uuid in lun_by_sr else None,
        )
        for ms in metadata
    ]
    healthy = [t for t in result.metadata_targets if t.latest and t.replicated]
    if not metadata:
        add("not-ready", protected.name, m.NO_METADATA.format(pool=protected.name))
    elif not healthy:
        add("not-ready", protected.name, m.R_METADATA_UNHEALTHY.format(pool=protected.name))
    for t in result.metadata_targets:
        if not t.latest:
            add("degraded", t.sr_name, m.R_METADATA_TARGET_STALE.format(sr=t.sr_name))
        elif not t.replicated:
            add("degraded", t.sr_name, m.METADATA_NOT_REPLICATED.format(sr=t.sr_name))
    if len(metadata) >= METADATA_TARGET_LIMIT:
        add("info", protected.name, m.R_METADATA_LIMIT.format(n=len(metadata)))
    elif len(metadata) == 1:
        add("info", protected.name, m.R_METADATA_SINGLE)

    # --- per VM and vApp -------------------------------------------------------------------------
    lag_cut = mirror_as_of(luns, metadata)
    context = (frozenset(replicated), lag_cut)
    # Versions before records: rows cached under these versions are never older than them.
    rows_cache = src.keyed_cache("readiness-vm-rows", (src.versions(*VM_ROW_INPUTS), context))
    records = Records.of(src, "source-pool")
    vm_rows, apps, used_networks = src.memo(
        "readiness-vms",
        context,
        lambda: _protection(records, replicated, lag_cut, rows_cache),
    )
    result.vms = vm_rows
    result.appliances = apps
    unprotected = [r for r in vm_rows if not r.protected]
    if unprotected:
        add(
            "degraded",
            protected.name,
            m.R_UNPROTECTED.format(
                n=len(unprotected),
                total=len(vm_rows),
                names=", ".join(r.name for r in unprotected[:10])
                + (" ..." if len(unprotected) > 10 else ""),
            ),
        )
    if vm_rows and not any(r.protected for r in vm_rows):
        add("not-ready", protected.name, m.R_NOTHING_PROTECTED)

    # --- DR pool: capacity, networks, HA, licence -------------------------------------------------
    if dst is not None:
        live = [h for h in dst.hosts.values() if h.live and h.enabled]
        must_run = failover_starts(vm_rows)
        need = sum(r.memory_bytes for r in must_run)
        cap = Capacity(
            needed_bytes=need,
            free_bytes=sum(h.memory_free for h in live),
            hosts_live=len(live),
            hosts_total=len(dst.hosts),
            largest_vm_bytes=max((r.memory_bytes for r in must_run), default=0),
            largest_host_free_bytes=max((h.memory_free for h in live), default=0),
        )
        result.capacity = cap
        if not live:
            add("not-ready", dr.name, m.NO_LIVE_HOSTS)
        elif cap.needed_bytes > cap.free_bytes:
            add(
                "not-ready",
                dr.name,
                m.CAPACITY_SHORT.format(
                    need=_gib(cap.needed_bytes), free=_gib(cap.free_bytes), pool=dr.name
                ),
            )
        elif cap.largest_vm_bytes > cap.largest_host_free_bytes:
            add(
                "degraded",
                dr.name,
                m.R_NO_HOST_FITS.format(
                    need=_gib(cap.largest_vm_bytes), free=_gib(cap.largest_host_free_bytes)
                ),
            )
        result.networks = map_networks(used_networks, dst, pair.network_map)
        for nm in result.networks:
            if nm.matched_by == "none":
                add(
                    "degraded",
                    nm.source_name,
                    m.NETWORK_MISSING.format(
                        network=nm.source_name, dest=dr.name, protected=pair.protected
                    ),
                )
        result.ha_enabled = dst.pool.ha_enabled if dst.pools else None
        if result.ha_enabled:
            add("info", dr.name, m.R_HA_ON)
        unlicensed = sorted(h.name_label for h in dst.hosts.values() if not h.dr_licensed)
        result.dr_licensed = not unlicensed
        if unlicensed:
            add("not-ready", dr.name, m.LICENCE_DR.format(hosts=", ".join(unlicensed)))
    return _verdict(result, reasons, last_drill, clock)


def _running_twice(src: Inventory, dst: Inventory) -> list[str]:
    """Names of the VMs running in both pools (by uuid)."""
    at_dr = {vm.uuid for vm in dst.real_vms() if vm.power_state == "Running"}
    return sorted(
        vm.name_label for vm in src.real_vms() if vm.power_state == "Running" and vm.uuid in at_dr
    )


# The tables a VM's protection row reads besides the VM itself. While none of them changes, a
# row is recomputed only for the VMs whose record changed (the inventory replaces a VM's model
# on every event about it): after one VM changed in a 10,000-VM pool, one row, not 10,000.
VM_ROW_INPUTS = ("appliances", "vbds", "vdis", "srs", "vifs", "networks")


def _protection(
    records: Records,
    replicated: set[str],
    lag_cut: datetime | None,
    cache: dict[str, tuple[Any, VMProtection, list[Any]]] | None = None,
) -> tuple[list[VMProtection], list[ApplianceProtection], dict[str, Any]]:
    """Per VM and vApp: protected or not and why; and the networks protected VMs use.

    `cache` (VM ref -> (VM model, row, networks)) holds rows computed from the same other
    inputs (`VM_ROW_INPUTS`, `replicated`, `lag_cut`); a row is reused when its VM's model is
    the very object it was computed from."""
    cache = {} if cache is None else cache
    vm_rows: list[VMProtection] = []
    by_ref: dict[str, VMProtection] = {}
    used_networks: dict[str, Any] = {}
    # Thousands of new acyclic rows at once: without the pause, the collections they trigger
    # walk the whole inventory again (measured: most of a cold assessment's time).
    with gc_paused():
        for vm in records.real_vms():
            hit = cache.get(vm.ref)
            if hit is None or hit[0] is not vm:
                hit = (vm, *_vm_row(records, vm, replicated, lag_cut))
                cache[vm.ref] = hit
            _, row, nets = hit
            vm_rows.append(row)
            by_ref[vm.ref] = row
            for net in nets:
                used_networks.setdefault(net.name_label, net)
    vm_rows.sort(key=lambda r: (r.appliance or "~", r.name))
    apps = []
    for app in sorted(records.appliances.values(), key=lambda a: a.name_label):
        rows = [by_ref[v] for v in app.vms if v in by_ref]
        bad = [r.name for r in rows if not r.protected]
        apps.append(
            ApplianceProtection(
                uuid=app.uuid,
                name=app.name_label,
                protected=not bad,
                vms=len(rows),
                unprotected_vms=bad,
            )
        )
    # After the vApps' rows: a vApp names the members at fault, not those left out with them.
    _left_out_with_vapps(records, by_ref, vm_rows)
    return vm_rows, apps, used_networks


# A protection row's reason for each code `protection_problems` gives.
REASONS = {
    "local-storage": m.R_LOCAL,
    "not-replicated": m.R_NOT_REPLICATED,
    "snapshot-not-replicated": m.R_SNAPSHOT_NOT_REPLICATED,
    "suspend-not-replicated": m.R_SUSPEND_NOT_REPLICATED,
}


def _left_out_with_vapps(
    records: Records, by_ref: dict[str, VMProtection], vm_rows: list[VMProtection]
) -> None:
    """A VM whose own disks are replicated is still not protected when a member of its vApp
    cannot be recovered: the vApp comes back whole or not at all. Its row (in `by_ref` and
    `vm_rows`) is replaced by a copy saying which member and why; the cached row stays as
    computed from the VM alone."""
    where: dict[int, int] | None = None  # id(row) -> its index in vm_rows, made when needed
    for app in records.appliances.values():
        members = [(ref, by_ref[ref]) for ref in app.vms if ref in by_ref]
        blocking = [row for _, row in members if not row.recoverable]
        if not blocking:
            continue
        first = min(blocking, key=lambda r: r.name)
        why = m.R_LEFT_OUT_WITH_VAPP.format(
            app=app.name_label, vm=first.name, why="; ".join(first.reasons)
        )
        for ref, row in members:
            if row.recoverable:
                copy = row.model_copy(update={"protected": False, "reasons": [*row.reasons, why]})
                by_ref[ref] = copy
                if where is None:
                    where = {id(r): i for i, r in enumerate(vm_rows)}
                vm_rows[where[id(row)]] = copy


def failover_starts(vm_rows: Sequence[VMProtection]) -> list[VMProtection]:
    """The VMs a failover of everything would start, by the planner's rules: each VM whose
    disks are all replicated, unless its vApp is left out whole (a member's disk is not:
    `VM_appliance.recover` brings a vApp back whole or not at all), and that a failover
    starts (`capacity.starts_with_failover`: halted ones too, suspended ones not). A VM made
    inside the replication lag counts: a planned failover syncs it over."""
    left_out = {r.appliance for r in vm_rows if r.appliance and not r.recoverable}
    return [
        r
        for r in vm_rows
        if r.recoverable
        and r.appliance not in left_out
        and capacity.starts_with_failover(r.power_state)
    ]


def _vm_row(
    records: Records, vm: VMInfo, replicated: set[str], lag_cut: datetime | None
) -> tuple[VMProtection, list[NetworkInfo]]:
    """One VM's protection row, and the networks it needs at the DR site (none if unprotected)."""
    srs = records.disk_srs(vm)
    problems = protection_problems(records, vm, replicated)
    why = [REASONS[code].format(sr=sr, whose=whose) for code, sr, whose in problems]
    if lag_cut is not None and created_inside_lag(vm.install_time, lag_cut):
        why.append(m.R_INSIDE_LAG.format(since=lag_cut.isoformat(timespec="seconds")))
    if not srs:
        why.append(m.R_NO_DISKS)
    app = records.appliances.get(vm.appliance or "")
    row = VMProtection(
        uuid=vm.uuid,
        name=vm.name_label,
        appliance=app.name_label if app else None,
        power_state=vm.power_state,
        protected=not why,
        reasons=why,
        memory_bytes=capacity.vm_start_bytes(vm),
        recoverable=not problems,
    )
    return row, ([] if why else records.networks_of(vm))


def _verdict(
    result: Readiness, reasons: list[Reason], last_drill: LastDrill | None, clock: Clock
) -> Readiness:
    drill = None
    if last_drill is not None:
        try:
            drill = _last_test(last_drill, result.pool)
        except Exception as exc:  # the store is another layer's; its failure is only a reason
            reasons.append(
                Reason(
                    severity="info",
                    subject="drills",
                    message=m.R_DRILL_UNREADABLE.format(error=exc),
                )
            )
    result.last_drill = drill
    if drill is None:
        reasons.append(Reason(severity="degraded", subject="drills", message=m.R_NO_DRILL))
    elif drill.outcome not in ("succeeded", "success", "ok", "passed"):
        reasons.append(
            Reason(
                severity="degraded",
                subject="drills",
                message=m.R_DRILL_FAILED.format(outcome=drill.outcome),
            )
        )
    elif drill.at is not None and clock.now() - drill.at > DRILL_MAX_AGE:
        reasons.append(
            Reason(
                severity="degraded",
                subject="drills",
                message=m.R_DRILL_OLD.format(days=(clock.now() - drill.at).days),
            )
        )
    result.reasons = reasons
    severities = {r.severity for r in reasons}
    result.verdict = (
        "not-ready"
        if "not-ready" in severities
        else "degraded"
        if "degraded" in severities
        else "ready"
    )
    return result


def _gib(n: int) -> str:
    return f"{n / 1024**3:.1f} GiB"


class EstateReadiness(BaseModel):
    """The readiness of every pair of an estate, and what lands in each DR pool together when
    a whole site is lost (`engine.capacity`)."""

    pairs: list[Readiness]
    landings: list[Landing] = Field(default_factory=list)


def assess_estate(
    pairs: Sequence[PoolPair],
    sites: Mapping[str, Site],
    *,
    storage: StorageAdapter | Iterable[ReplicatedLun] | None,
    last_drill: LastDrill | None = None,
    max_lag_seconds: float = 300.0,
    clock: Clock | None = None,
) -> EstateReadiness:
    """Assess each pair from `sites` (pool name -> Site, each pool read once whatever the
    number of pairs it is in) and the storage state (read once here), then the loss of each
    whole protected site: its pools that fail over into one DR pool together must fit there
    (memory and HA), else each of them is `degraded` with the pools that would not fit."""
    try:
        luns: list[ReplicatedLun] | StorageAdapter | Iterable[ReplicatedLun] | None = lun_state(
            storage
        )
    except Exception:  # each pair's assessment asks again and reports why it cannot read it
        luns = storage
    results = [
        assess(
            pair,
            protected=sites[pair.protected],
            dr=sites[pair.dr],
            storage=luns,
            last_drill=last_drill,
            max_lag_seconds=max_lag_seconds,
            clock=clock,
        )
        for pair in pairs
    ]
    needed = {r.pool: r.capacity.needed_bytes for r in results if r.capacity is not None}
    rooms = {
        name: room
        for name in {pair.dr for pair in pairs}
        if (room := dr_room(sites[name])) is not None
    }
    landings = capacity.site_losses(
        [(p.protected, p.dr) for p in pairs],
        {name: site.site for name, site in sites.items()},
        needed,
        rooms,
    )
    by_pair = {(r.pool, r.dr_pool): r for r in results}
    for found in landings:
        for text in found.messages():
            for pool in found.pools:
                r = by_pair[(pool, found.dr_pool)]
                r.reasons.append(Reason(severity="degraded", subject=found.dr_pool, message=text))
                if r.verdict == "ready":
                    r.verdict = "degraded"
    return EstateReadiness(pairs=results, landings=landings)


def dr_room(site: Site) -> capacity.DrRoom | None:
    """What the DR pool `site` has room for (None when it could not be read)."""
    inv = site.inventory
    if inv is None or not inv.pools:
        return None
    return capacity.room_of(
        site.name,
        [
            capacity.HostMemory(
                total=h.memory_total, free=h.memory_free, live=h.live, enabled=h.enabled
            )
            for h in inv.hosts.values()
        ],
        ha_enabled=inv.pool.ha_enabled,
        ha_tolerated=inv.pool.ha_host_failures_to_tolerate,
    )
