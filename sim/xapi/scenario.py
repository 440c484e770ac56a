"""Scenario files: the estate a simulator starts with, described in TOML and checked by pydantic.

A scenario names sites; each site has one storage array and pools; each pool has hosts,
networks, SRs, vApps and VMs. Shape (see `scenarios/demo.toml` for a full example):

```toml
[scenario]            # name, description, xenopsd_workers (per host, default 4)
[latency]             # seconds per operation before the speed factor (clock.LatencyModel)
[replication]         # lag_seconds: default lag of every replicated LUN
[[sites]]             # name, address_prefix ("127.0.1" -> hosts 127.0.1.1, .2, ...), array
[[sites.pools]]       # name, xapi_version, licensed_dr, ha_enabled, metadata_srs, users, hosts, ...
[[sites.pools.srs]]   # name, type, kind = "replicated" | "shared" | "local", replicate_to
[[sites.pools.vms]]   # name, memory_gb, vcpus, power, appliance, order, start_delay, disks,
                      # nics, host, count (expands "{n}" in the name), created_inside_lag,
                      # snapshots (names), snapshot_sr, suspend_sr, ha_restart_priority,
                      # uuid (a real VM's, kept: twins)
[[faults]]            # kind = vm_start | lun | task_stall | site_down | host_down (see Fault);
                      # site (vm_start, task_stall: only there), method + after (host_down:
                      # when a run reaches that call, not at start)
[[leftovers]]         # sr, pool, attach = dr_task | sr | none, vms: an earlier drill's remains
```

`load_scenario("demo")` reads a built-in scenario; any other value is a path to a TOML file.
Errors name the file and the field, and say what to change.
"""

from __future__ import annotations

import tomllib
from dataclasses import fields
from importlib import resources
from pathlib import Path
from typing import Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    create_model,
    field_validator,
    model_validator,
)

from sim.xapi.clock import LatencyModel
from sim.xapi.releases import NEWEST

GiB = 1024**3


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ScenarioError(ValueError):
    """A scenario cannot be loaded; the message says which file and field, and what to do."""


class Meta(_Strict):
    name: str = "custom"
    description: str = ""
    xenopsd_workers: int = Field(4, ge=1, description="VM operations a host runs at once")


class _LatencyTable(_Strict):
    def model(self) -> LatencyModel:
        return LatencyModel(**self.model_dump())


# The [latency] table: clock.LatencyModel's operations and defaults, so the two cannot drift.
_latency_fields: dict[str, Any] = {f.name: (float, f.default) for f in fields(LatencyModel)}
Latency = create_model("Latency", __base__=_LatencyTable, **_latency_fields)


class Replication(_Strict):
    lag_seconds: float = Field(300.0, ge=0, description="wall-clock seconds the mirror is behind")


class Array(_Strict):
    target: str = Field(description="iSCSI portal address the pools use in device_config")
    iqn: str = Field(description="the array's target IQN")
    port: str = "3260"
    chap_user: str = Field("", description="CHAP user the target requires (none if empty)")
    chap_password: str = ""


class Host(_Strict):
    name: str
    memory_gb: float = Field(256, gt=0)
    cpus: int = Field(32, ge=1)
    address: str | None = None
    xenopsd_workers: int | None = Field(None, ge=1)


class Network(_Strict):
    name: str
    bridge: str
    pifs: bool = Field(True, description="false makes a PIF-less (internal) network")
    description: str = ""


class SR(_Strict):
    name: str
    type: str = "lvmoiscsi"
    kind: Literal["replicated", "shared", "local"] = "replicated"
    replicate_to: str | None = Field(None, description="target site of a replicated SR")
    size_gb: float = Field(2048, gt=0)
    lag_seconds: float | None = Field(None, ge=0)
    description: str = ""
    uuid: str | None = Field(None, description="a real SR's uuid to keep (twins); not local")

    @model_validator(mode="after")
    def _kinds(self) -> SR:
        if self.kind == "local" and self.type not in {"lvm", "ext"}:
            self.type = "lvm"
        if self.kind == "replicated" and not self.replicate_to:
            raise ValueError(f"SR {self.name!r} is replicated: give replicate_to = '<site>'")
        return self


class Disk(_Strict):
    sr: str = Field(description="SR name, or 'local' for the local SR of the VM's host")
    size_gb: float = Field(20, gt=0)
    name: str | None = None


class Appliance(_Strict):
    name: str
    description: str = ""


class VM(_Strict):
    name: str
    count: int = Field(1, ge=1, description="expand into N VMs; '{n}' in the name is 1..N")
    memory_gb: float = Field(4, gt=0)
    vcpus: int = Field(2, ge=1)
    power: Literal["Running", "Halted", "Paused", "Suspended"] = "Running"
    host: str | None = None
    appliance: str | None = None
    order: int = Field(0, ge=0)
    start_delay: int = Field(0, ge=0)
    shutdown_delay: int = Field(0, ge=0)
    ha_restart_priority: Literal["", "restart", "best-effort"] = ""
    disks: list[Disk] = Field(default_factory=lambda: [Disk(sr="local")])
    nics: list[str] = Field(default_factory=list, description="network names, one VIF each")
    created_inside_lag: bool = Field(
        False, description="created after the last replicated write: missing at the DR site"
    )
    snapshot_sr: str | None = Field(
        None, description="SR of the snapshots' disks (default: each disk's own SR)"
    )
    suspend_sr: str | None = Field(
        None, description="SR of a suspended VM's memory image (default: its first disk's SR)"
    )
    description: str = ""
    uuid: str | None = Field(None, description="a real VM's uuid to keep (twins; count = 1)")
    snapshots: list[str] = Field(
        default_factory=list, description="names of its snapshots, oldest first"
    )

    @model_validator(mode="after")
    def _one_uuid(self) -> VM:
        if self.uuid and self.count > 1:
            raise ValueError(f"VM {self.name!r}: a uuid names one VM; drop it or count")
        return self

    def expand(self) -> list[VM]:
        """This entry as `count` VMs (names get `{n}` replaced, or `-NN` appended)."""
        if self.count == 1 and "{n}" not in self.name:
            return [self]
        width = max(2, len(str(self.count)))
        out = []
        for n in range(1, self.count + 1):
            name = (
                self.name.replace("{n}", str(n).zfill(width))
                if "{n}" in self.name
                else f"{self.name}-{str(n).zfill(width)}"
            )
            out.append(self.model_copy(update={"name": name, "count": 1}))
        return out


DEFAULT_USERS = {
    "pool-admin": ["root", "xenroot"],
    "pool-operator": ["operator", "operator-pw"],
    "vm-operator": ["vmop", "vmop-pw"],
    "read-only": ["viewer", "viewer-pw"],
}


class Pool(_Strict):
    name: str
    description: str = ""
    licensed_dr: bool = True
    licensed_vapp_start: bool = True
    product_version: str = Field(
        "8.4.0", pattern=r"^\d+(\.\d+)*$", description="XenServer version of the hosts"
    )
    xapi_version: str = Field(
        NEWEST,
        pattern=r"^\d+(\.\d+)*$",
        description="xapi (toolstack) release: behaviour that changed follows it (releases.py)",
    )
    ha_enabled: bool = False
    metadata_srs: list[str] = Field(
        default_factory=list, description="SRs that receive this pool's metadata (at most 8)"
    )
    users: dict[str, list[str]] = Field(default_factory=lambda: dict(DEFAULT_USERS))
    hosts: list[Host]
    networks: list[Network] = Field(default_factory=list)
    srs: list[SR] = Field(default_factory=list)
    appliances: list[Appliance] = Field(default_factory=list)
    vms: list[VM] = Field(default_factory=list)

    @field_validator("users")
    @classmethod
    def _users(cls, users: dict[str, list[str]]) -> dict[str, list[str]]:
        for role, pair in users.items():
            if len(pair) != 2:
                raise ValueError(f"users.{role} must be [name, password]")
        return users

    @field_validator("vms")
    @classmethod
    def _expand(cls, vms: list[VM]) -> list[VM]:
        return [one for vm in vms for one in vm.expand()]

    @model_validator(mode="after")
    def _references(self) -> Pool:
        if not self.hosts:
            raise ValueError(f"pool {self.name!r} needs at least one host")
        srs = {sr.name for sr in self.srs}
        nets = {n.name for n in self.networks}
        apps = {a.name for a in self.appliances}
        hosts = {h.name for h in self.hosts}
        for name in self.metadata_srs:
            if name not in srs:
                raise ValueError(f"metadata_srs names {name!r}, which is not an SR of the pool")
        if len(self.metadata_srs) > 8:
            raise ValueError("metadata_srs: XAPI allows at most 8 metadata replication targets")
        seen: set[str] = set()
        for vm in self.vms:
            if vm.name in seen:
                raise ValueError(f"two VMs are named {vm.name!r}: VM names must be unique")
            seen.add(vm.name)
            for disk in vm.disks:
                if disk.sr != "local" and disk.sr not in srs:
                    raise ValueError(f"VM {vm.name!r}: disk on unknown SR {disk.sr!r}")
            for sr_name in (vm.snapshot_sr, vm.suspend_sr):
                if sr_name is not None and sr_name != "local" and sr_name not in srs:
                    raise ValueError(f"VM {vm.name!r}: unknown SR {sr_name!r}")
            for nic in vm.nics:
                if nic not in nets:
                    raise ValueError(f"VM {vm.name!r}: NIC on unknown network {nic!r}")
            if vm.appliance and vm.appliance not in apps:
                raise ValueError(f"VM {vm.name!r}: unknown vApp {vm.appliance!r}")
            if vm.host and vm.host not in hosts:
                raise ValueError(f"VM {vm.name!r}: unknown host {vm.host!r}")
        return self


class Site(_Strict):
    name: str
    address_prefix: str = Field(description="first three octets of the hosts' 127.x.y.z")
    array: Array
    pools: list[Pool]

    @field_validator("address_prefix")
    @classmethod
    def _loopback(cls, prefix: str) -> str:
        parts = prefix.split(".")
        if len(parts) != 3 or parts[0] != "127" or not all(p.isdigit() for p in parts):
            raise ValueError("address_prefix must look like '127.0.1' (a loopback /24)")
        return prefix


class Fault(_Strict):
    """A fault the world starts with (the same kinds as the control API's `POST /faults`).

    `vm_start`: `vm` (name or uuid) fails to start with `error` (`times` times, or always);
    `lun`: the `side` (`mirror` or `source`) of replicated SR `sr` has failed;
    `task_stall`: calls of `method` (or every stallable call) hang until faults are cleared;
    `site_down`: `site` starts down;
    `host_down`: `host` (a host name) starts down; with `method`, it starts up and fails when
    a run reaches that step instead: at the `after`-th call of `method` (a wire method such as
    `VM.start`, once it reaches its stall point; default the first), before that call goes on.
    `vm_start` and `task_stall` with `site` hold only at that site (a start of a VM's copy at
    another site, or a call to another site's pools, goes on as if there were no fault).
    """

    kind: Literal["vm_start", "lun", "task_stall", "site_down", "host_down"]
    vm: str | None = None
    error: list[str] = Field(default_factory=lambda: ["VM_CRASHED"])
    times: int | None = Field(None, ge=1)
    sr: str | None = None
    side: Literal["mirror", "source"] = "mirror"
    method: str | None = None
    site: str | None = None
    host: str | None = None
    after: int | None = Field(None, ge=1, description="host_down with method: the n-th call")

    @model_validator(mode="after")
    def _needs(self) -> Fault:
        need = {"vm_start": "vm", "lun": "sr", "site_down": "site", "host_down": "host"}
        field = need.get(self.kind)
        if field and not getattr(self, field):
            raise ValueError(f"a {self.kind} fault needs {field} = '...'")
        if self.site and self.kind not in ("vm_start", "task_stall", "site_down"):
            raise ValueError(
                f"a {self.kind} fault cannot be limited to a site (site = ... is for vm_start, "
                "task_stall and site_down)"
            )
        if self.method and self.kind not in ("task_stall", "host_down"):
            raise ValueError(f"a {self.kind} fault takes no method")
        if self.after is not None and not (self.kind == "host_down" and self.method):
            raise ValueError("after = N is for a host_down fault with method = '...'")
        return self


class Leftover(_Strict):
    """What an earlier drill left at a DR site (placed by `sim/xapi/leftovers.py`).

    The test copy of replicated SR `sr` stays presented at its mirror's array; with `attach`
    its SR is attached in pool `pool`: `dr_task` through a DR_task that still exists (the
    drill's cleanup never ran), `sr` introduced and plugged with no DR_task (what XenCenter
    leaves once recovered VMs use an SR), `none` not at all. `vms` are halted copies of VMs
    recovered from that copy's metadata into `pool` (they need `attach`).
    """

    sr: str = Field(description="the replicated SR whose test copy an earlier drill presented")
    pool: str = Field(description="the DR pool the copy is attached in")
    attach: Literal["dr_task", "sr", "none"] = "dr_task"
    vms: list[str] = Field(default_factory=list, description="halted VM copies left in pool")

    @model_validator(mode="after")
    def _needs_attach(self) -> Leftover:
        if self.vms and self.attach == "none":
            raise ValueError(f"leftover of {self.sr!r}: halted VM copies need attach")
        return self


class Scenario(_Strict):
    scenario: Meta = Field(default_factory=Meta)
    latency: Latency = Field(default_factory=Latency)
    replication: Replication = Field(default_factory=Replication)
    sites: list[Site]
    faults: list[Fault] = Field(default_factory=list)
    leftovers: list[Leftover] = Field(default_factory=list)

    @model_validator(mode="after")
    def _sites(self) -> Scenario:
        names = [s.name for s in self.sites]
        if len(set(names)) != len(names):
            raise ValueError("site names must be unique")
        for site in self.sites:
            for pool in site.pools:
                for sr in pool.srs:
                    if sr.kind == "replicated" and sr.replicate_to not in names:
                        raise ValueError(
                            f"SR {sr.name!r} replicates to unknown site {sr.replicate_to!r}"
                        )
                    if sr.replicate_to == site.name:
                        raise ValueError(f"SR {sr.name!r} cannot replicate to its own site")
        replicated = {
            sr.name for s in self.sites for p in s.pools for sr in p.srs if sr.kind == "replicated"
        }
        hosts = {h.name for s in self.sites for p in s.pools for h in p.hosts}
        pools = {p.name: s.name for s in self.sites for p in s.pools}
        targets = {
            sr.name: sr.replicate_to
            for s in self.sites
            for p in s.pools
            for sr in p.srs
            if sr.kind == "replicated"
        }
        for left in self.leftovers:
            if left.sr not in targets:
                raise ValueError(f"leftover: {left.sr!r} is not a replicated SR")
            if pools.get(left.pool) != targets[left.sr]:
                raise ValueError(
                    f"leftover: pool {left.pool!r} is not at site {targets[left.sr]!r}, where "
                    f"{left.sr!r} is mirrored"
                )
        for fault in self.faults:
            if fault.kind == "lun" and fault.sr not in replicated:
                raise ValueError(f"fault: {fault.sr!r} is not a replicated SR")
            if fault.site is not None and fault.site not in names:
                raise ValueError(f"fault: no site {fault.site!r}")
            if fault.kind == "host_down" and fault.host not in hosts:
                raise ValueError(f"fault: no host {fault.host!r}")
        return self

    @property
    def name(self) -> str:
        return self.scenario.name


def builtin_names() -> list[str]:
    """Names of the scenarios shipped in `sim/xapi/scenarios/`."""
    folder = resources.files("sim.xapi") / "scenarios"
    return sorted(p.name[:-5] for p in folder.iterdir() if p.name.endswith(".toml"))


def parse_scenario(text: str, *, source: str = "<text>") -> Scenario:
    """Parse and check TOML text; raises ScenarioError naming `source` and the bad field."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ScenarioError(f"{source}: not valid TOML ({exc}); fix the syntax") from exc
    try:
        return Scenario.model_validate(data)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc']) or 'top level'}: {err['msg']}"
            for err in exc.errors()
        )
        raise ScenarioError(f"{source}: {problems}") from exc


def load_scenario(name_or_path: str | Path) -> Scenario:
    """A built-in scenario by name (`demo`), or a TOML file by path."""
    text_name = str(name_or_path)
    if text_name in builtin_names():
        res = resources.files("sim.xapi") / "scenarios" / f"{text_name}.toml"
        return parse_scenario(res.read_text(encoding="utf-8"), source=f"built-in {text_name!r}")
    path = Path(name_or_path)
    if not path.is_file():
        raise ScenarioError(
            f"no scenario {text_name!r}: give a built-in name ({', '.join(builtin_names())}) "
            "or the path of a TOML file"
        )
    return parse_scenario(path.read_text(encoding="utf-8"), source=str(path))
