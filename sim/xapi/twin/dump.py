"""Read XAPI's XML database (`xe pool-dump-database`, a host's state.db) into a `PoolDump`.

The layout (xen-api `ocaml/database/db_xml.ml`): `<database>`, then `<manifest>` with
`<pair key=... value=...>` entries (`schema_major_vsn`, `schema_minor_vsn`,
`generation_count`), then one `<table name="CLASS">` per class holding one
`<row ref="OpaqueRef:..." __ctime=.. __mtime=.. field="value" .../>` per object. Field
names join a namespace and its member with a double underscore (`name__label`,
`memory__static_max`); values are protected and encoded as `sexpr.py` describes.

What is read, and what never is:

- Only the classes and fields the twin models (`_READERS`) are decoded; every other table
  (sessions, secrets, users, certificates, clusters, ...) is counted and never read, and so
  are the fields not named here (every `device_config`, `other_config`, `wlb_password`,
  `external_auth_configuration`, ...). Secrets therefore never enter a `PoolDump`.
  The maps that are read (licence parameters, software version, CPU info) lose every key
  that names a password, secret, key, token or CHAP credential on the way in.
- A row the twin cannot use (no ref, a number that is not one, a reference to an object
  the dump lacks) is left out with the reason in `problems`; it never stops the load.
- A file that is not such a dump, is not well-formed, ends early, or has a schema version
  outside XenServer 6.0 to today's raises `DumpError` with one line saying what to do.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from xml.etree.ElementTree import Element, ParseError
from xml.parsers.expat import errors as expat_errors

from defusedxml import DefusedXmlException
from defusedxml.ElementTree import iterparse

from sim.xapi.twin import messages as m
from sim.xapi.twin.sexpr import SexprError, parse_map, unprotect

SCHEMA_MAJOR = 5
# 5.63 is XenServer 6.0 ("boston", xen-api ocaml/idl/datamodel_common.ml); xapi numbers its
# releases' schemas in hundreds (8.2 is 5.6xx-5.7xx, 9.0 5.900), so 5.999 bounds major 5.
SCHEMA_MINOR_MIN = 63
SCHEMA_MINOR_MAX = 999
NULL_REF = "OpaqueRef:NULL"
POWER_STATES = {"Halted", "Running", "Paused", "Suspended"}
SECRET_KEY = re.compile(r"pass|secret|key|token|chap|cred", re.IGNORECASE)
# expat's codes for "the document stopped": with the error on the file's last line, truncation.
_ENDED_EARLY = {
    expat_errors.codes[expat_errors.XML_ERROR_NO_ELEMENTS],
    expat_errors.codes[expat_errors.XML_ERROR_UNCLOSED_TOKEN],
    expat_errors.codes[expat_errors.XML_ERROR_UNCLOSED_CDATA_SECTION],
    expat_errors.codes[expat_errors.XML_ERROR_PARTIAL_CHAR],
}


class DumpError(ValueError):
    """The file cannot be used as a pool database; the message is one line saying what to do."""


class _Unusable(ValueError):
    """A row that cannot be used; the reason names fields, never their values."""


@dataclass(frozen=True, slots=True)
class RowProblem:
    """A row left out of the twin, and why."""

    table: str
    ref: str
    name: str
    reason: str

    def __str__(self) -> str:
        return f"{self.table} {self.name or self.ref}: {self.reason}"


@dataclass(slots=True)
class DumpPool:
    ref: str
    uuid: str
    name: str
    description: str
    master: str
    ha_enabled: bool
    restrict_dr: bool


@dataclass(slots=True)
class DumpHost:
    ref: str
    uuid: str
    name: str
    metrics: str
    cpu_count: int
    restrict_dr: bool
    product_version: str
    memory_total: int = 0


@dataclass(slots=True)
class DumpNetwork:
    ref: str
    uuid: str
    name: str
    description: str
    bridge: str
    has_pifs: bool


@dataclass(slots=True)
class DumpSR:
    ref: str
    uuid: str
    name: str
    description: str
    type: str
    content_type: str
    shared: bool
    size: int
    hosts: list[str] = field(default_factory=list)


@dataclass(slots=True)
class DumpVDI:
    ref: str
    uuid: str
    name: str
    sr: str
    size: int
    is_snapshot: bool


@dataclass(slots=True)
class DumpVBD:
    ref: str
    vm: str
    vdi: str
    type: str
    userdevice: str


@dataclass(slots=True)
class DumpVIF:
    ref: str
    vm: str
    network: str
    device: str


@dataclass(slots=True)
class DumpAppliance:
    ref: str
    uuid: str
    name: str
    description: str


@dataclass(slots=True)
class DumpVM:
    ref: str
    uuid: str
    name: str
    description: str
    power: str
    memory: int
    vcpus: int
    resident_on: str
    affinity: str
    appliance: str
    order: int
    start_delay: int
    shutdown_delay: int
    ha_restart_priority: str
    is_template: bool
    is_control_domain: bool
    is_snapshot: bool
    snapshot_of: str

    @property
    def is_guest(self) -> bool:
        """A VM a person runs: not a template, a snapshot or a control domain."""
        return not (self.is_template or self.is_control_domain or self.is_snapshot)


@dataclass
class PoolDump:
    """What the twin knows of one pool, from its database dump (see the module docstring)."""

    source: str
    schema: tuple[int, int]
    generation: int
    pool: DumpPool
    hosts: dict[str, DumpHost]
    networks: dict[str, DumpNetwork]
    srs: dict[str, DumpSR]
    vdis: dict[str, DumpVDI]
    vbds: list[DumpVBD]
    vifs: list[DumpVIF]
    appliances: dict[str, DumpAppliance]
    vms: dict[str, DumpVM]
    row_counts: dict[str, int]
    problems: list[RowProblem]

    @property
    def guests(self) -> list[DumpVM]:
        """VMs that are not templates, snapshots or control domains, in dump order."""
        return [vm for vm in self.vms.values() if vm.is_guest]

    @property
    def snapshots(self) -> list[DumpVM]:
        return [vm for vm in self.vms.values() if vm.is_snapshot and not vm.is_template]


# --------------------------------------------------------------------------- field readers


def _s(row: dict[str, str], name: str) -> str:
    return unprotect(row.get(name, ""))


def _int(row: dict[str, str], name: str, default: int = 0) -> int:
    raw = row.get(name)
    if raw is None or raw == "":
        return default
    try:
        return int(raw)
    except ValueError:
        raise _Unusable(m.ROW_BAD_FIELD.format(field=name, kind="integer")) from None


def _bool(row: dict[str, str], name: str) -> bool:
    raw = row.get(name, "false")
    if raw not in ("true", "false"):
        raise _Unusable(m.ROW_BAD_FIELD.format(field=name, kind="boolean"))
    return raw == "true"


def _map(row: dict[str, str], name: str) -> dict[str, str]:
    """A map field, without any key that names a credential (those are never kept)."""
    raw = row.get(name)
    if not raw:
        return {}
    try:
        parsed = parse_map(unprotect(raw))
    except (SexprError, ValueError):
        raise _Unusable(m.ROW_BAD_FIELD.format(field=name, kind="map")) from None
    return {k: v for k, v in parsed.items() if not SECRET_KEY.search(k)}


def _label(row: dict[str, str]) -> str:
    # Most classes namespace it (name__label); pool's is a plain field (name_label).
    return _s(row, "name__label") if "name__label" in row else _s(row, "name_label")


def _description(row: dict[str, str]) -> str:
    if "name__description" in row:
        return _s(row, "name__description")
    return _s(row, "name_description")


# --------------------------------------------------------------------------- row readers


class _Rows:
    """Accumulates decoded rows while the XML streams by."""

    def __init__(self) -> None:
        self.pools: list[DumpPool] = []
        self.hosts: dict[str, DumpHost] = {}
        self.host_memory: dict[str, int] = {}
        self.host_cpus: dict[str, int] = {}
        self.pbds: list[tuple[str, str]] = []
        self.networks: dict[str, DumpNetwork] = {}
        self.srs: dict[str, DumpSR] = {}
        self.vdis: dict[str, DumpVDI] = {}
        self.vbds: list[DumpVBD] = []
        self.vifs: list[DumpVIF] = []
        self.appliances: dict[str, DumpAppliance] = {}
        self.vms: dict[str, DumpVM] = {}

    def pool(self, ref: str, row: dict[str, str]) -> None:
        restrictions = _map(row, "restrictions")
        self.pools.append(
            DumpPool(
                ref,
                _s(row, "uuid"),
                _label(row),
                _description(row),
                row.get("master", NULL_REF),
                _bool(row, "ha_enabled"),
                restrictions.get("restrict_dr") == "true",
            )
        )

    def host(self, ref: str, row: dict[str, str]) -> None:
        licence = _map(row, "license_params")
        version = _map(row, "software_version")
        cpu_info = _map(row, "cpu_info")
        self.hosts[ref] = DumpHost(
            ref,
            _s(row, "uuid"),
            _label(row) or _s(row, "hostname"),
            row.get("metrics", NULL_REF),
            int(cpu_info["cpu_count"]) if cpu_info.get("cpu_count", "").isdigit() else 0,
            licence.get("restrict_dr") == "true",
            version.get("product_version", ""),
        )

    def host_metrics(self, ref: str, row: dict[str, str]) -> None:
        self.host_memory[ref] = _int(row, "memory__total")

    def host_cpu(self, ref: str, row: dict[str, str]) -> None:
        host = row.get("host", NULL_REF)
        self.host_cpus[host] = self.host_cpus.get(host, 0) + 1

    def pbd(self, ref: str, row: dict[str, str]) -> None:
        # Only which host sees which SR: device_config (paths, passwords) is never read.
        self.pbds.append((row.get("SR", NULL_REF), row.get("host", NULL_REF)))

    def network(self, ref: str, row: dict[str, str]) -> None:
        self.networks[ref] = DumpNetwork(
            ref,
            _s(row, "uuid"),
            _label(row),
            _description(row),
            _s(row, "bridge"),
            row.get("PIFs", "()") != "()",
        )

    def sr(self, ref: str, row: dict[str, str]) -> None:
        self.srs[ref] = DumpSR(
            ref,
            _s(row, "uuid"),
            _label(row),
            _description(row),
            _s(row, "type"),
            _s(row, "content_type"),
            _bool(row, "shared"),
            _int(row, "physical_size"),
        )

    def vdi(self, ref: str, row: dict[str, str]) -> None:
        self.vdis[ref] = DumpVDI(
            ref,
            _s(row, "uuid"),
            _label(row),
            row.get("SR", NULL_REF),
            _int(row, "virtual_size"),
            _bool(row, "is_a_snapshot"),
        )

    def vbd(self, ref: str, row: dict[str, str]) -> None:
        self.vbds.append(
            DumpVBD(
                ref,
                row.get("VM", NULL_REF),
                row.get("VDI", NULL_REF),
                _s(row, "type"),
                _s(row, "userdevice"),
            )
        )

    def vif(self, ref: str, row: dict[str, str]) -> None:
        self.vifs.append(
            DumpVIF(ref, row.get("VM", NULL_REF), row.get("network", NULL_REF), _s(row, "device"))
        )

    def vm_appliance(self, ref: str, row: dict[str, str]) -> None:
        self.appliances[ref] = DumpAppliance(ref, _s(row, "uuid"), _label(row), _description(row))

    def vm(self, ref: str, row: dict[str, str]) -> None:
        power = row.get("power_state", "Halted")
        if power not in POWER_STATES:
            raise _Unusable(m.ROW_BAD_POWER)
        self.vms[ref] = DumpVM(
            ref,
            _s(row, "uuid"),
            _label(row),
            _description(row),
            power,
            _int(row, "memory__static_max"),
            _int(row, "VCPUs__max", 1),
            row.get("resident_on", NULL_REF),
            row.get("affinity", NULL_REF),
            row.get("appliance", NULL_REF),
            _int(row, "order"),
            _int(row, "start_delay"),
            _int(row, "shutdown_delay"),
            _s(row, "ha_restart_priority"),
            _bool(row, "is_a_template"),
            _bool(row, "is_control_domain"),
            _bool(row, "is_a_snapshot"),
            row.get("snapshot_of", NULL_REF),
        )


_READERS: dict[str, Callable[[_Rows, str, dict[str, str]], None]] = {
    "pool": _Rows.pool,
    "host": _Rows.host,
    "host_metrics": _Rows.host_metrics,
    "host_cpu": _Rows.host_cpu,
    "PBD": _Rows.pbd,
    "network": _Rows.network,
    "SR": _Rows.sr,
    "VDI": _Rows.vdi,
    "VBD": _Rows.vbd,
    "VIF": _Rows.vif,
    "VM_appliance": _Rows.vm_appliance,
    "VM": _Rows.vm,
}


# --------------------------------------------------------------------------- the file


def _events(path: Path) -> Iterator[tuple[str, Element]]:
    # XAPI writes no DTD; one here could only expand entities or fetch files: refuse it.
    try:
        yield from iterparse(path, events=("start", "end"), forbid_dtd=True)
    except DefusedXmlException:
        raise DumpError(m.HAS_DTD.format(path=path)) from None
    except ParseError as exc:
        line = exc.position[0]
        last_line = _line_count(path)
        if exc.code in _ENDED_EARLY and line >= last_line:
            raise DumpError(m.TRUNCATED.format(path=path, line=line)) from None
        raise DumpError(m.MALFORMED.format(path=path, error=exc)) from None


def _line_count(path: Path) -> int:
    count = 1
    with path.open("rb") as f:
        while chunk := f.read(1 << 20):
            count += chunk.count(b"\n")
    return count


def _check_version(path: Path, manifest: dict[str, str]) -> tuple[int, int, int]:
    if "schema_major_vsn" not in manifest or "schema_minor_vsn" not in manifest:
        raise DumpError(m.NO_MANIFEST.format(path=path))
    major_s, minor_s = manifest["schema_major_vsn"], manifest["schema_minor_vsn"]
    try:
        major, minor = int(major_s), int(minor_s)
    except ValueError:
        raise DumpError(m.BAD_VERSION.format(path=path, major=major_s, minor=minor_s)) from None
    if major != SCHEMA_MAJOR or not SCHEMA_MINOR_MIN <= minor <= SCHEMA_MINOR_MAX:
        raise DumpError(
            m.UNKNOWN_VERSION.format(
                path=path, major=major, minor=minor, low=SCHEMA_MINOR_MIN, high=SCHEMA_MINOR_MAX
            )
        )
    generation = manifest.get("generation_count", "0")
    return major, minor, int(generation) if generation.lstrip("-").isdigit() else 0


def load_dump(path: str | Path) -> PoolDump:
    """Read the dump at `path` (see the module docstring); raises `DumpError`."""
    path = Path(path)
    if not path.is_file():
        raise DumpError(m.NO_FILE.format(path=path))
    rows = _Rows()
    counts: dict[str, int] = {}
    problems: list[RowProblem] = []
    manifest: dict[str, str] = {}
    version: tuple[int, int, int] | None = None
    stack: list[str] = []
    table = ""
    table_elem: Element | None = None
    try:
        for event, elem in _events(path):
            tag = elem.tag
            if event == "end":
                stack.pop()
                if tag == "row" and table_elem is not None:
                    table_elem.clear()  # keep memory flat: the row is decoded already
                elif tag == "manifest":
                    version = _check_version(path, manifest)
                elif tag == "table" and table_elem is not None:
                    table_elem.clear()
                    table_elem = None
                continue
            parent = stack[-1] if stack else ""
            stack.append(tag)
            if not parent:
                if tag != "database":
                    raise DumpError(m.NOT_A_DUMP.format(path=path, tag=tag))
            elif parent == "database" and tag == "manifest":
                continue
            elif parent == "manifest" and tag == "pair":
                manifest[elem.get("key", "")] = elem.get("value", "")
            elif parent == "database" and tag == "table":
                if version is None:
                    raise DumpError(m.NO_MANIFEST.format(path=path))
                table = elem.get("name", "")
                table_elem = elem
                counts.setdefault(table, 0)
            elif parent == "table" and tag == "row":
                counts[table] += 1
                reader = _READERS.get(table)
                if reader is None:
                    continue  # a class the twin does not model: never read
                _read_row(rows, reader, table, elem.attrib, problems)
            else:
                raise DumpError(m.UNEXPECTED_TAG.format(path=path, tag=tag, parent=parent))
    except OSError as exc:
        raise DumpError(m.NOT_READABLE.format(path=path, error=exc.strerror or exc)) from None
    if version is None:
        raise DumpError(m.NO_MANIFEST.format(path=path))
    return _assemble(path, version, rows, counts, problems)


def _read_row(
    rows: _Rows,
    reader: Callable[[_Rows, str, dict[str, str]], None],
    table: str,
    attrs: dict[str, str],
    problems: list[RowProblem],
) -> None:
    ref = attrs.get("ref") or attrs.get("_ref") or ""
    if not ref:
        problems.append(RowProblem(table, "", _label(attrs), m.ROW_NO_REF))
        return
    try:
        reader(rows, ref, attrs)
    except _Unusable as exc:
        problems.append(RowProblem(table, ref, _label(attrs), str(exc)))


def _assemble(
    path: Path,
    version: tuple[int, int, int],
    rows: _Rows,
    counts: dict[str, int],
    problems: list[RowProblem],
) -> PoolDump:
    """Join the rows: host memory and CPUs, SR hosts; drop rows whose references dangle."""
    if not rows.pools:
        raise DumpError(m.NO_POOL.format(path=path))
    for host in rows.hosts.values():
        host.memory_total = rows.host_memory.get(host.metrics, 0)
        host.cpu_count = host.cpu_count or rows.host_cpus.get(host.ref, 0) or 1
    if not rows.hosts:
        raise DumpError(m.NO_HOSTS.format(path=path))
    for sr_ref, host_ref in rows.pbds:
        if sr_ref in rows.srs and host_ref in rows.hosts:
            rows.srs[sr_ref].hosts.append(host_ref)

    def missing(table: str, ref: str, name: str, cls: str, target: str) -> None:
        problems.append(RowProblem(table, ref, name, m.ROW_MISSING.format(cls=cls, ref=target)))

    vdis = {}
    for ref, vdi in rows.vdis.items():
        if vdi.sr not in rows.srs:
            missing("VDI", ref, vdi.name, "SR", vdi.sr)
        else:
            vdis[ref] = vdi
    vbds = []
    for vbd in rows.vbds:
        if vbd.vm not in rows.vms:
            missing("VBD", vbd.ref, "", "VM", vbd.vm)
        elif vbd.vdi != NULL_REF and vbd.vdi not in vdis:
            missing("VBD", vbd.ref, "", "VDI", vbd.vdi)
        else:
            vbds.append(vbd)
    vifs = []
    for vif in rows.vifs:
        if vif.vm not in rows.vms:
            missing("VIF", vif.ref, "", "VM", vif.vm)
        elif vif.network not in rows.networks:
            missing("VIF", vif.ref, "", "network", vif.network)
        else:
            vifs.append(vif)
    for vm in rows.vms.values():
        if vm.appliance != NULL_REF and vm.appliance not in rows.appliances:
            missing("VM", vm.ref, vm.name, "VM_appliance", vm.appliance)
            vm.appliance = NULL_REF
    return PoolDump(
        source=str(path),
        schema=(version[0], version[1]),
        generation=version[2],
        pool=rows.pools[0],
        hosts=rows.hosts,
        networks=rows.networks,
        srs=rows.srs,
        vdis=vdis,
        vbds=vbds,
        vifs=vifs,
        appliances=rows.appliances,
        vms=rows.vms,
        row_counts=counts,
        problems=problems,
    )
