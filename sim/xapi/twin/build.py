"""Turn pool dumps into a `Scenario`: the twin is served like any built-in estate.

The primary dump becomes site `primary`; the DR pool (a second dump, or one generated to
match) becomes site `dr`. What carries over from the dump: hosts (memory from
`host_metrics.memory__total`, CPUs), networks (name, bridge, with or without PIFs), SRs (a
local SR once per host, as a real install has one per host; shared SRs shared), vApps,
and every VM that is not a template, snapshot or control domain, with its memory
(`memory__static_max`, kept to the byte), vCPUs, power state, vApp, start order and delays,
HA restart priority, disks (size, SR), NICs (network) and snapshots, pinned to the host
whose local storage holds its disks; VMs and shared SRs keep their uuids, so what the twin
reports can be looked up in the real pool. What the dump cannot say comes from
`Assumptions`: which shared SRs the array replicates (a mirror at the DR site keeps the SR's
uuid, as array replication does), the lag, and metadata replication, turned on for the
replicated SRs that can hold it (`SR_METADATA`: lvmoiscsi, lvmohba) when the pool is
licensed for DR.

The scenario format needs unique names where a real pool allows duplicates: a later
duplicate is renamed `name (uuid prefix)`, and `Twin.notes` says so.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sim.xapi.scenario import Scenario, ScenarioError
from sim.xapi.twin import messages as m
from sim.xapi.twin.assumptions import Assumptions, beside
from sim.xapi.twin.dump import NULL_REF, DumpError, DumpSR, DumpVM, PoolDump, RowProblem

GiB = 1024**3
MiB = 1024**2
METADATA_CAPABLE = {"lvmoiscsi", "lvmohba"}
MAX_METADATA_SRS = 8
PRIMARY_SITE = "primary"
DR_SITE = "dr"
DEFAULT_VERSION = "8.4.0"
_VERSION = re.compile(r"^\d+(\.\d+)*$")
# XAPI before 6.2 wrote restart priorities as numbers ("1".."3": restart in that order).
_HA_PRIORITY = {"restart": "restart", "best-effort": "best-effort", "1": "restart",
                "2": "restart", "3": "restart", "always_restart": "restart"}  # fmt: skip


@dataclass
class Twin:
    """A scenario built from dumps, with what was assumed and what was left out."""

    scenario: Scenario
    primary: PoolDump
    dr: PoolDump | None
    assumptions: Assumptions
    notes: list[str] = field(default_factory=list)
    problems: list[RowProblem] = field(default_factory=list)

    @property
    def primary_pool(self) -> str:
        return self.scenario.sites[0].pools[0].name

    @property
    def dr_pool(self) -> str:
        return self.scenario.sites[1].pools[0].name


class _Names:
    """Unique names for one class: the first keeps its own, a later twin gets its uuid."""

    def __init__(self, cls: str, notes: list[str]) -> None:
        self.cls = cls
        self.notes = notes
        self.seen: set[str] = set()

    def __call__(self, name: str, uuid: str) -> str:
        # "{n}" is the scenario format's counter placeholder: keep it from expanding.
        base = (name or f"{self.cls} {uuid[:8]}").replace("{n}", "{ n }")
        out = base
        if out in self.seen:
            out = f"{base} ({uuid[:8]})"
            n = 2
            while out in self.seen:
                out = f"{base} ({uuid[:8]}-{n})"
                n += 1
            self.notes.append(m.A_RENAMED.format(cls=self.cls, name=base, uuid=uuid, new=out))
        self.seen.add(out)
        return out


def _gib(size: int, floor: int) -> float:
    # A byte count over a power of two is exact in a float, so memory survives to the byte.
    return max(size, floor) / GiB


def _sr_kind(sr: DumpSR) -> str:
    return "shared" if sr.shared else "local"


def _disk_srs(dump: PoolDump) -> set[str]:
    """SRs that hold a disk (not a CD) of a guest VM."""
    out = set()
    for vbd in dump.vbds:
        if vbd.type == "Disk" and vbd.vdi != NULL_REF and dump.vms[vbd.vm].is_guest:
            out.add(dump.vdis[vbd.vdi].sr)
    return out


def _matches(sr: DumpSR, names: list[str]) -> bool:
    return sr.name in names or sr.uuid in names


def replicated_srs(dump: PoolDump, a: Assumptions) -> list[DumpSR]:
    """The shared SRs the twin treats as replicated (see `Assumptions`)."""
    carrying = _disk_srs(dump)
    out = []
    for sr in dump.srs.values():
        if not sr.shared or sr.content_type == "iso" or sr.type == "iso":
            continue
        chosen = _matches(sr, a.replicated) if a.replicated is not None else sr.ref in carrying
        if chosen and not _matches(sr, a.not_replicated):
            out.append(sr)
    return out


def _licensed(dump: PoolDump) -> bool:
    return not (dump.pool.restrict_dr or any(h.restrict_dr for h in dump.hosts.values()))


def _version(dump: PoolDump) -> str:
    for host in dump.hosts.values():
        if _VERSION.match(host.product_version):
            return host.product_version
    return DEFAULT_VERSION


class _PoolBuilder:
    """One dump -> one scenario pool (a dict the Scenario model validates)."""

    def __init__(self, dump: PoolDump, notes: list[str], problems: list[RowProblem]) -> None:
        self.dump = dump
        self.notes = notes
        self.problems = problems
        self.host_names: dict[str, str] = {}
        self.net_names: dict[str, str] = {}
        self.sr_names: dict[str, str] = {}
        self.app_names: dict[str, str] = {}
        self.snapshots: dict[str, list[str]] = {}

    def hosts(self) -> list[dict[str, Any]]:
        names = _Names("host", self.notes)
        out = []
        for host in self.dump.hosts.values():
            name = names(host.name, host.uuid)
            self.host_names[host.ref] = name
            if host.memory_total <= 0:
                self.notes.append(
                    m.A_SIZE_FLOOR.format(cls="host", name=name, size=0, floor="1 GiB")
                )
            out.append(
                {"name": name, "memory_gb": _gib(host.memory_total, GiB), "cpus": host.cpu_count}
            )
        return out

    def networks(self) -> list[dict[str, Any]]:
        names = _Names("network", self.notes)
        out = []
        for i, net in enumerate(self.dump.networks.values()):
            name = names(net.name, net.uuid)
            self.net_names[net.ref] = name
            out.append(
                {
                    "name": name,
                    "bridge": net.bridge or f"xapi{i}",
                    "pifs": net.has_pifs,
                    "description": net.description,
                }
            )
        return out

    def srs(self, replicated: dict[str, float]) -> list[dict[str, Any]]:
        """Local SRs once per name (user-content first: the scenario puts local disks on a
        host's first local SR), then shared SRs, replicated ones with their lag."""
        names = _Names("SR", self.notes)
        local: dict[str, list[DumpSR]] = {}
        shared: list[DumpSR] = []
        for sr in self.dump.srs.values():
            if sr.shared:
                shared.append(sr)
            else:
                local.setdefault(sr.name, []).append(sr)
        out = []
        n_hosts = len(self.dump.hosts)
        groups = sorted(local.values(), key=lambda g: g[0].content_type != "user")
        for group in groups:
            first = group[0]
            name = names(first.name, first.uuid)
            for sr in group:
                self.sr_names[sr.ref] = name
            hosts = {h for sr in group for h in sr.hosts}
            if len(hosts) != n_hosts:
                self.notes.append(
                    m.A_LOCAL_UNEVEN.format(name=name, count=len(hosts), hosts=n_hosts)
                )
            size = max(sr.size for sr in group)
            out.append(
                {
                    "name": name,
                    "type": first.type or "lvm",
                    "kind": "local",
                    "size_gb": _gib(size, GiB),
                    "description": first.description,
                }
            )
        for sr in shared:
            name = names(sr.name, sr.uuid)
            self.sr_names[sr.ref] = name
            entry: dict[str, Any] = {
                "name": name,
                "type": sr.type or "nfs",
                "kind": "shared",
                "size_gb": _gib(sr.size, GiB),
                "description": sr.description,
            }
            if sr.uuid:
                entry["uuid"] = sr.uuid  # a mirror keeps it, as array replication does
            if sr.ref in replicated:
                entry.update(
                    kind="replicated", replicate_to=DR_SITE, lag_seconds=replicated[sr.ref]
                )
            out.append(entry)
        return out

    def appliances(self) -> list[dict[str, Any]]:
        names = _Names("vApp", self.notes)
        out = []
        for app in self.dump.appliances.values():
            name = names(app.name, app.uuid)
            self.app_names[app.ref] = name
            out.append({"name": name, "description": app.description})
        return out

    def vms(self) -> list[dict[str, Any]]:
        dump = self.dump
        disks: dict[str, list[Any]] = {}
        nics: dict[str, list[Any]] = {}
        for vbd in dump.vbds:
            if vbd.type == "Disk" and vbd.vdi != NULL_REF:
                disks.setdefault(vbd.vm, []).append(vbd)
        for vif in dump.vifs:
            nics.setdefault(vif.vm, []).append(vif)
        for snap in dump.snapshots:
            if snap.snapshot_of in dump.vms:
                self.snapshots.setdefault(snap.snapshot_of, []).append(snap.name)
        names = _Names("VM", self.notes)
        out = []
        for vm in dump.guests:
            if vm.memory <= 0:
                self.problems.append(RowProblem("VM", vm.ref, vm.name, m.ROW_NO_MEMORY))
                continue
            out.append(self._vm(vm, names, disks.get(vm.ref, []), nics.get(vm.ref, [])))
        return out

    def _vm(self, vm: DumpVM, names: _Names, vbds: list[Any], vifs: list[Any]) -> dict[str, Any]:
        dump = self.dump
        host: str | None = None
        disk_entries = []
        for vbd in sorted(vbds, key=lambda v: _device_order(v.userdevice)):
            vdi = dump.vdis[vbd.vdi]
            sr = dump.srs[vdi.sr]
            if not sr.shared and sr.hosts:
                host = host or self.host_names.get(sr.hosts[0])
            disk_entries.append(
                {"sr": self.sr_names[sr.ref], "size_gb": _gib(vdi.size, MiB), "name": vdi.name}
            )
        if host is None and vm.power != "Halted":
            host = self.host_names.get(vm.resident_on)
        entry: dict[str, Any] = {
            "name": names(vm.name, vm.uuid),
            "memory_gb": vm.memory / GiB,
            "vcpus": max(1, vm.vcpus),
            "power": vm.power,
            "order": max(0, vm.order),
            "start_delay": max(0, vm.start_delay),
            "shutdown_delay": max(0, vm.shutdown_delay),
            "ha_restart_priority": _HA_PRIORITY.get(vm.ha_restart_priority, ""),
            "disks": disk_entries,
            "nics": [
                self.net_names[v.network]
                for v in sorted(vifs, key=lambda v: _device_order(v.device))
            ],
            "description": vm.description,
            "snapshots": self.snapshots.get(vm.ref, []),
        }
        if vm.uuid:
            entry["uuid"] = vm.uuid
        if host:
            entry["host"] = host
        if vm.appliance != NULL_REF:
            entry["appliance"] = self.app_names[vm.appliance]
        return entry


def _device_order(device: str) -> tuple[int, str]:
    return (int(device), "") if device.isdigit() else (1 << 30, device)


def _primary_pool(
    dump: PoolDump, a: Assumptions, notes: list[str], problems: list[RowProblem]
) -> dict[str, Any]:
    b = _PoolBuilder(dump, notes, problems)
    replicated = replicated_srs(dump, a)
    hosts = b.hosts()
    networks = b.networks()
    srs = b.srs({sr.ref: a.lag_seconds for sr in replicated})
    for sr in replicated:
        notes.append(
            m.A_REPLICATED.format(name=b.sr_names[sr.ref], type=sr.type, lag=a.lag_seconds)
        )
    carrying = _disk_srs(dump)
    chosen = {sr.ref for sr in replicated}
    for sr in dump.srs.values():
        if sr.shared and sr.ref not in chosen and sr.content_type != "iso" and sr.type != "iso":
            why = m.A_WHY_ASSUMED if sr.ref in carrying else m.A_WHY_NO_DISKS
            notes.append(m.A_NOT_REPLICATED.format(name=b.sr_names[sr.ref], why=why))
    licensed = _licensed(dump) or a.assume_dr_licensed
    capable = [b.sr_names[sr.ref] for sr in replicated if sr.type in METADATA_CAPABLE]
    metadata = capable[:MAX_METADATA_SRS] if licensed else []
    if metadata:
        notes.append(m.A_METADATA.format(names=", ".join(metadata)))
    else:
        why = m.A_WHY_UNLICENSED if not licensed else m.A_WHY_NO_CAPABLE
        notes.append(m.A_NO_METADATA.format(why=why))
    apps = b.appliances()
    return {
        "name": dump.pool.name or "primary",
        "description": dump.pool.description,
        "licensed_dr": licensed,
        "product_version": _version(dump),
        "metadata_srs": metadata,
        "hosts": hosts,
        "networks": networks,
        "srs": srs,
        "appliances": apps,
        "vms": b.vms(),
    }


def _dr_pool_from_dump(
    dump: PoolDump, name: str, notes: list[str], problems: list[RowProblem]
) -> dict[str, Any]:
    b = _PoolBuilder(dump, notes, problems)
    hosts = b.hosts()
    networks = b.networks()
    srs = b.srs({})
    apps = b.appliances()
    vms = b.vms()
    notes.append(m.A_DR_DUMP.format(path=dump.source, hosts=len(hosts), vms=len(vms)))
    return {
        "name": name,
        "description": dump.pool.description,
        "licensed_dr": _licensed(dump),
        "product_version": _version(dump),
        "ha_enabled": dump.pool.ha_enabled,
        "hosts": hosts,
        "networks": networks,
        "srs": srs,
        "appliances": apps,
        "vms": vms,
    }


def _dr_pool_generated(primary: dict[str, Any], a: Assumptions, notes: list[str]) -> dict[str, Any]:
    cap = a.dr_capacity
    hosts = [
        {
            "name": f"dr-{h['name']}",
            "memory_gb": h["memory_gb"] * cap,
            "cpus": max(1, round(h["cpus"] * cap)),
        }
        for h in primary["hosts"]
    ]
    missing = [n for n in a.dr_missing_networks if n in {x["name"] for x in primary["networks"]}]
    unknown = [n for n in a.dr_missing_networks if n not in missing]
    if unknown:
        notes.append(m.A_UNKNOWN_NAMES.format(what="networks", names=", ".join(unknown)))
    networks = [dict(n) for n in primary["networks"] if n["name"] not in missing]
    notes.append(
        m.A_DR_GENERATED.format(
            hosts=len(hosts),
            capacity=cap,
            networks=m.A_NETWORKS_MISSING.format(names=", ".join(missing))
            if missing
            else m.A_NETWORKS_SAME,
        )
    )
    return {
        "name": "dr" if primary["name"] != "dr" else "dr (generated)",
        "description": "DR pool generated to match the primary",
        "licensed_dr": True,
        "product_version": primary["product_version"],
        "hosts": hosts,
        "networks": networks,
        "srs": [{"name": "Local storage", "type": "lvm", "kind": "local", "size_gb": 512}],
    }


def build_twin(primary: PoolDump, dr: PoolDump | None = None, *, assumptions: Assumptions) -> Twin:
    """The scenario of the twin: site `primary` from `primary`, site `dr` from `dr` or
    generated to match (see the module docstring). Raises DumpError if the dumps cannot make
    a scenario (the message names the field)."""
    a = assumptions
    notes: list[str] = []
    problems: list[RowProblem] = list(primary.problems)
    named = [n for n in (a.replicated or []) + a.not_replicated]
    known = {x for sr in primary.srs.values() for x in (sr.name, sr.uuid)}
    if unknown := [n for n in named if n not in known]:
        notes.append(m.A_UNKNOWN_NAMES.format(what="SRs", names=", ".join(unknown)))
    p = _primary_pool(primary, a, notes, problems)
    if dr is not None:
        problems.extend(dr.problems)
        name = dr.pool.name or "dr"
        d = _dr_pool_from_dump(dr, name if name != p["name"] else f"{name} (DR)", notes, problems)
    else:
        d = _dr_pool_generated(p, a, notes)
    if not a.source:
        notes.insert(0, m.A_SOURCE_DEFAULT.format(path=beside(Path(primary.source))))
    else:
        notes.insert(0, m.A_SOURCE_FILE.format(path=a.source))
    data = {
        "scenario": {
            "name": f"twin of {p['name']}",
            "description": f"Twin of the pool in {primary.source}",
        },
        "replication": {"lag_seconds": a.lag_seconds},
        "sites": [
            {
                "name": PRIMARY_SITE,
                "address_prefix": "127.0.1",
                "array": {"target": "10.10.1.50", "iqn": "iqn.2001-05.com.example:primary-array"},
                "pools": [p],
            },
            {
                "name": DR_SITE,
                "address_prefix": "127.0.2",
                "array": {"target": "10.20.1.50", "iqn": "iqn.2001-05.com.example:dr-array"},
                "pools": [d],
            },
        ],
    }
    try:
        scenario = Scenario.model_validate(data)
    except ScenarioError as exc:
        raise DumpError(str(exc)) from None
    except ValueError as exc:
        error = " ".join(str(exc).splitlines()[:3])
        raise DumpError(m.BUILD_FAILED.format(path=primary.source, error=error)) from None
    return Twin(scenario, primary, dr, a, notes, problems)
