"""Build the world a scenario describes: arrays, volumes, replication links and pool databases.

The top of the world's layers: `build_world(scenario, speed=...)` is the one entry point
that turns a scenario into a `World` (model in `world.py`, operations such as
`metadata.enable_replication` used to set it up, reactions to host failures installed).

Objects carry the fields and values a real host writes (see reference/xapi-db-samples):
dom0 per host, default templates, SM drivers with their capabilities (`SR_METADATA` only on
`lvmoiscsi` / `lvmohba`), PIFs per host on physical networks, one local SR per host, PBDs
per host for shared SRs, a CD drive on every VM.

Order matters for the DR traps: the estate is built, metadata replication is enabled on the
scenario's `metadata_srs`, every link is synchronised (the mirrors start identical), and
only then are the VMs marked `created_inside_lag` created, so their writes sit in the
replication queue when the simulator starts.
"""

from __future__ import annotations

import random
import re
import uuid as uuidlib
import zlib
from datetime import datetime, timedelta
from typing import Any

from sim.xapi import leftovers, reactions
from sim.xapi import scenario as sc
from sim.xapi.allowed import SR_OPS_ATTACHED, refresh_appliance_ops
from sim.xapi.arrays import ReplicationLink, StorageArray, Volume, VolumeContent
from sim.xapi.arrays import new_scsi_id as _scsi
from sim.xapi.clock import SimClock
from sim.xapi.db import Database
from sim.xapi.ha import make_statefile
from sim.xapi.memory import DOM0_MEMORY, HOST_OVERHEAD, GiB, MiB, refresh_all_memory
from sim.xapi.metadata import enable_replication
from sim.xapi.releases import Release
from sim.xapi.schema import (
    EPOCH,
    NULL_REF,
    RESTRICTIONS_LICENSED,
    RESTRICTIONS_UNLICENSED,
    SOFTWARE_VERSION,
)
from sim.xapi.sm import SM_DRIVERS, create_vdi
from sim.xapi.world import Host, Pool, Site, World

DEFAULT_TEMPLATES = [
    "Other install media",
    "Debian Bookworm 12",
    "Rocky Linux 9",
    "Ubuntu Jammy Jellyfish 22.04",
    "Windows Server 2022 (64-bit)",
]


def slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")


def new_mac(rng: random.Random) -> str:
    return "02:" + ":".join(f"{rng.randrange(256):02x}" for _ in range(5))


def build_world(scenario: sc.Scenario, *, speed: float = 1.0) -> World:
    """The world `scenario` describes, with its reactions to host failures installed.

    `speed` scales every simulated duration (2.0 runs twice as fast as a real pool).
    """
    world = World(scenario, SimClock(speed=speed, latency=scenario.latency.model()))
    reactions.install(world)
    build(world)
    return world


def build(world: World) -> None:
    """Fill an empty `world` from `world.scenario` (see the module docstring)."""
    scenario = world.scenario
    rng = random.Random(scenario.name)
    for s in scenario.sites:
        site = Site(s.name)
        world.sites[s.name] = site
        world.storage.arrays[s.name] = StorageArray(
            s.name,
            s.array.target,
            s.array.iqn,
            s.array.port,
            chap_user=s.array.chap_user,
            chap_password=s.array.chap_password,
        )
    late: list[tuple[Pool, sc.Pool, sc.VM]] = []
    for s in scenario.sites:
        site = world.sites[s.name]
        for index, p in enumerate(s.pools):
            pool = _build_pool(world, site, s, index, p, rng)
            site.pools.append(pool)
            world.pools[p.name] = pool
            late.extend((pool, p, vm) for vm in p.vms if vm.created_inside_lag)
    for pool in world.pools.values():
        for app in pool.db.refs("VM_appliance"):
            refresh_appliance_ops(pool, app)
        p = _scenario_pool(scenario, pool.name)
        for sr_name in p.metadata_srs:
            sr_ref = pool.db.where("SR", name_label=sr_name)[0]
            enable_replication(pool, sr_ref)
    for link_id in world.storage.links:
        world.storage.sync(link_id)
    for pool, p, vm in late:
        _create_vm(world, pool, p, vm, rng)
    for pool in world.pools.values():
        refresh_all_memory(pool)
        pool.__dict__.pop("_build_free", None)
    _initial_faults(world)
    leftovers.place(world)


def _scenario_pool(scenario: sc.Scenario, name: str) -> sc.Pool:
    return next(p for s in scenario.sites for p in s.pools if p.name == name)


def _build_pool(
    world: World, site: Site, s: sc.Site, index: int, p: sc.Pool, rng: random.Random
) -> Pool:
    db = Database(p.name)
    pool = Pool(world, site, p.name, db, Release(p.xapi_version))
    pool.users = {pair[0]: (pair[1], role) for role, pair in p.users.items()}
    now = world.clock.now()
    workers = world.scenario.scenario.xenopsd_workers
    # Hosts of the n-th pool of a site take addresses from n*32+1 up.
    for i, h in enumerate(p.hosts):
        address = h.address or f"{s.address_prefix}.{index * 32 + i + 1}"
        pool.hosts.append(
            Host(
                name=h.name,
                address=address,
                pool_name=p.name,
                memory_total=int(h.memory_gb * GiB),
                cpus=h.cpus,
                workers=h.xenopsd_workers or workers,
            )
        )
    restrictions = dict(RESTRICTIONS_LICENSED if p.licensed_dr else RESTRICTIONS_UNLICENSED)
    if not p.licensed_vapp_start:
        restrictions["restrict_vm_appliance_start"] = "true"
    for host, h in zip(pool.hosts, p.hosts, strict=True):
        host.metrics_ref = db.create(
            "host_metrics",
            {
                "memory_total": host.memory_total,
                "memory_free": host.memory_total,
                "live": True,
                "last_updated": now,
            },
        )
        host.ref = db.create(
            "host",
            {
                "name_label": host.name,
                "name_description": "Default install",
                "hostname": host.name,
                "address": host.address,
                "metrics": host.metrics_ref,
                "license_params": dict(restrictions),
                "edition": "premium" if p.licensed_dr else "trial",
                "software_version": {
                    **SOFTWARE_VERSION,
                    "product_version": p.product_version,
                    "product_version_text": p.product_version.rsplit(".", 1)[0],
                    "build_number": p.product_version,
                    "hostname": host.name,
                },
                "cpu_info": {
                    "cpu_count": str(h.cpus),
                    "socket_count": "2",
                    "vendor": "GenuineIntel",
                    "speed": "2593.906",
                    "modelname": "Intel(R) Xeon(R) Gold 6248 CPU @ 2.50GHz",
                },
                "iscsi_iqn": f"iqn.2026-01.org.example:{slug(host.name)}",
                "memory_overhead": HOST_OVERHEAD,
                "other_config": {"iscsi_iqn": f"iqn.2026-01.org.example:{slug(host.name)}"},
            },
        )
        host.dom0_ref = _dom0(db, host, now)
        db.set("host", host.ref, control_domain=host.dom0_ref)
    for d in SM_DRIVERS:
        db.create("SM", {**d, "vendor": "Citrix Systems Inc", "copyright": "(C) 2008 Citrix"})
    _networks(db, pool, p, rng)
    default_sr = _srs(world, pool, s, p)
    ha = {}
    if p.ha_enabled:
        spare = min(1, len(pool.hosts) - 1)
        ha = {
            "ha_configuration": {"cluster-stack": "xhad"},
            "ha_host_failures_to_tolerate": spare,
            "ha_plan_exists_for": spare,
        }
    db.create(
        "pool",
        {
            "name_label": p.name,
            "name_description": p.description,
            "master": pool.coordinator.ref,
            "default_SR": default_sr,
            "suspend_image_SR": default_sr,
            "crash_dump_SR": default_sr,
            "ha_enabled": p.ha_enabled,
            "restrictions": restrictions,
            "other_config": {
                "memory-ratio-hvm": "0.25",
                "memory-ratio-pv": "0.25",
                "metadata_lun_alerts": "true",
            },
            **ha,
        },
    )
    if p.ha_enabled and default_sr != NULL_REF:
        db.set("pool", db.refs("pool")[0], ha_statefiles=[make_statefile(pool, default_sr)])
    for name in DEFAULT_TEMPLATES:
        db.create(
            "VM",
            {
                "name_label": name,
                "is_a_template": True,
                "is_default_template": True,
                "other_config": {"default_template": "true"},
                "allowed_operations": ["clone", "copy", "export", "provision", "destroy"],
            },
        )
    for a in p.appliances:
        db.create(
            "VM_appliance",
            {"name_label": a.name, "name_description": a.description, "allowed_operations": []},
        )
    for vm in p.vms:
        if not vm.created_inside_lag:
            _create_vm(world, pool, p, vm, rng)
    return pool


def _dom0(db: Database, host: Host, now) -> str:
    metrics = db.create(
        "VM_metrics",
        {
            "memory_actual": DOM0_MEMORY,
            "VCPUs_number": 16,
            "start_time": now,
            "state": [],
            "last_updated": now,
        },
    )
    return db.create(
        "VM",
        {
            "name_label": f"Control domain on host: {host.name}",
            "name_description": "The domain which manages physical devices and manages "
            "other domains",
            "is_control_domain": True,
            "power_state": "Running",
            "resident_on": host.ref,
            "affinity": host.ref,
            "domid": 0,
            "memory_static_max": DOM0_MEMORY,
            "memory_dynamic_max": DOM0_MEMORY,
            "memory_dynamic_min": DOM0_MEMORY,
            "memory_target": DOM0_MEMORY,
            "memory_static_min": DOM0_MEMORY,
            "VCPUs_max": 16,
            "VCPUs_at_startup": 16,
            "metrics": metrics,
            "domain_type": "pv",
            "allowed_operations": [],
        },
    )


def _networks(db: Database, pool: Pool, p: sc.Pool, rng: random.Random) -> None:
    for i, n in enumerate(p.networks):
        net = db.create(
            "network",
            {
                "name_label": n.name,
                "name_description": n.description,
                "bridge": n.bridge,
                "MTU": 1500,
            },
        )
        if not n.pifs:
            continue
        for host in pool.hosts:
            management = i == 0
            db.create(
                "PIF",
                {
                    "device": f"eth{i}",
                    "network": net,
                    "host": host.ref,
                    "MAC": new_mac(rng),
                    "management": management,
                    "currently_attached": True,
                    "ip_configuration_mode": "Static" if management else "None",
                    "IP": host.address if management else "",
                    "netmask": "255.255.255.0" if management else "",
                },
            )


def _srs(world: World, pool: Pool, s: sc.Site, p: sc.Pool) -> str:
    """SRs, their volumes (and mirrors), PBDs; -> the default SR (first shared one)."""
    db = pool.db
    array = world.storage.arrays[s.name]
    default_sr = NULL_REF
    for sr in p.srs:
        if sr.kind == "local":
            for host in pool.hosts:
                content = VolumeContent(
                    str(uuidlib.uuid4()), sr.name, sr.description, sr.type, int(sr.size_gb * GiB)
                )
                vol = Volume(
                    f"{slug(host.name)}-local",
                    s.name,
                    "local",
                    content,
                    device="/dev/sda3",
                    host_address=host.address,
                )
                world.storage.local[vol.id] = vol
                ref = _sr_record(db, content, shared=False, name=sr.name)
                db.create(
                    "PBD",
                    {
                        "host": host.ref,
                        "SR": ref,
                        "currently_attached": True,
                        "device_config": vol.device_config(None),
                    },
                )
            continue
        content = VolumeContent(
            sr.uuid or str(uuidlib.uuid4()),
            sr.name,
            sr.description,
            sr.type,
            int(sr.size_gb * GiB),
        )
        vol_id = f"{slug(p.name)}-{slug(sr.name)}"
        if sr.type == "nfs":
            vol = Volume(vol_id, s.name, "nfs", content, serverpath=f"/exports/{vol_id}")
        else:
            vol = Volume(vol_id, s.name, "iscsi", content, scsi_id=_scsi())
        array.volumes[vol.id] = vol
        if sr.kind == "replicated" and sr.replicate_to:
            vol.role = "source"
            mirror = Volume(
                f"{vol_id}-mirror",
                sr.replicate_to,
                vol.kind,
                content.copy(),
                scsi_id=_scsi() if vol.kind == "iscsi" else "",
                serverpath=f"/exports/{vol_id}-mirror" if vol.kind == "nfs" else "",
                role="mirror",
            )
            world.storage.arrays[sr.replicate_to].volumes[mirror.id] = mirror
            lag = (
                sr.lag_seconds
                if sr.lag_seconds is not None
                else (world.scenario.replication.lag_seconds)
            )
            link = ReplicationLink(vol_id, vol, mirror, lag, last_shipped_at=world.clock.wall())
            vol.link = link
            mirror.link = link
            world.storage.links[vol_id] = link
        ref = _sr_record(db, content, shared=True, name=sr.name)
        for host in pool.hosts:
            db.create(
                "PBD",
                {
                    "host": host.ref,
                    "SR": ref,
                    "currently_attached": True,
                    "device_config": vol.device_config(array),
                },
            )
        if default_sr == NULL_REF:
            default_sr = ref
    return default_sr


def _sr_record(db: Database, content: VolumeContent, *, shared: bool, name: str) -> str:
    # SRs of a scenario start attached.
    return db.create(
        "SR",
        {
            "uuid": content.sr_uuid,
            "name_label": name,
            "name_description": content.sr_description,
            "type": content.sr_type,
            "content_type": "user",
            "shared": shared,
            "physical_size": content.size,
            "physical_utilisation": 0,
            "virtual_allocation": 0,
            "sm_config": {"allocation": "thick", "use_vhd": "true"}
            if content.sr_type.startswith("lvm")
            else {},
            "other_config": {"auto-scan": "true"} if shared else {},
            "allowed_operations": list(SR_OPS_ATTACHED),
        },
    )


def _local_sr_of(pool: Pool, host: Host) -> str:
    """The local SR of `host` (the SR with an unshared PBD on it)."""
    db = pool.db
    for pbd in db.where("PBD", host=host.ref):
        sr = db.get_field("PBD", pbd, "SR")
        if not db.get_field("SR", sr, "shared"):
            return sr
    raise ValueError(f"host {host.name} has no local SR")


def _place(pool: Pool, vm: sc.VM, need: int, running: bool) -> Host:
    """The VM's host: the one named, else the one with most memory left (a build tally)."""
    tally: dict[str, int] = pool.__dict__.setdefault("_build_free", {})
    if not tally:
        tally.update({h.name: h.memory_total - HOST_OVERHEAD - DOM0_MEMORY for h in pool.hosts})
    if vm.host:
        host = next(h for h in pool.hosts if h.name == vm.host)
    else:
        host = max(pool.hosts, key=lambda h: tally[h.name])
    if running:
        tally[host.name] -= need
    return host


def _install_time(vm: sc.VM, now: datetime) -> datetime:
    """When the VM was installed: a VM created inside the replication lag was installed just
    now; every other one long before (30 to 330 days, fixed per name so a scenario always
    builds the same estate), as in a pool that has been running for a while."""
    if vm.created_inside_lag:
        return now
    return now - timedelta(days=30 + zlib.crc32(vm.name.encode()) % 300)


def _create_vm(world: World, pool: Pool, p: sc.Pool, vm: sc.VM, rng: random.Random) -> str:
    """One VM of the scenario with its metrics, disks (on the volumes too), CD and NICs."""
    db = pool.db
    now = world.clock.now()
    memory = int(vm.memory_gb * GiB)
    running = vm.power in {"Running", "Paused"}
    host = _place(pool, vm, memory + 10485760, running)
    on_local = any(d.sr == "local" or _is_local(p, d.sr) for d in vm.disks)
    appliance = NULL_REF
    if vm.appliance:
        appliance = db.where("VM_appliance", name_label=vm.appliance)[0]
    metrics = db.create(
        "VM_metrics",
        {
            "memory_actual": memory if running else 0,
            "VCPUs_number": vm.vcpus if running else 0,
            "start_time": now if running else EPOCH,
            "install_time": _install_time(vm, now),
            "state": [],
            "last_updated": now,
            "hvm": True,
            "current_domain_type": "hvm" if running else "unspecified",
        },
    )
    ref = db.create(
        "VM",
        {
            "name_label": vm.name,
            "name_description": vm.description,
            "power_state": vm.power,
            "memory_static_max": memory,
            "memory_dynamic_max": memory,
            "memory_dynamic_min": memory,
            "memory_target": memory,
            "memory_static_min": min(memory, 512 * MiB),
            "VCPUs_max": vm.vcpus,
            "VCPUs_at_startup": vm.vcpus,
            "resident_on": host.ref if running else NULL_REF,
            "affinity": host.ref if on_local else NULL_REF,
            "domid": rng.randrange(1, 4000) if running else -1,
            "appliance": appliance,
            "order": vm.order,
            "start_delay": vm.start_delay,
            "shutdown_delay": vm.shutdown_delay,
            "ha_restart_priority": vm.ha_restart_priority,
            # xapi sets it when it starts a VM whose priority is `restart`.
            "ha_always_run": running and vm.ha_restart_priority == "restart",
            "metrics": metrics,
            "generation_id": f"{rng.randrange(1 << 31)}:{rng.randrange(1 << 31)}",
            "other_config": {
                "mac_seed": str(uuidlib.uuid4()),
                "base_template_name": "Debian Bookworm 12",
                "install-methods": "cdrom,nfs,http,ftp",
            },
            "HVM_boot_params": {"order": "cd"},
            "allowed_operations": ["clean_shutdown", "hard_shutdown", "pause", "snapshot"]
            if running
            else ["start", "start_on", "destroy", "export", "clone", "copy"],
            "domain_type": "hvm",
            "hardware_platform_version": 2,
            **({"uuid": vm.uuid} if vm.uuid else {}),
        },
    )
    if running:
        gm = db.create(
            "VM_guest_metrics",
            {
                "os_version": {
                    "name": "Debian GNU/Linux 12 (bookworm)",
                    "distro": "debian",
                    "major": "12",
                },
                "PV_drivers_version": {"major": "8", "minor": "4", "micro": "0"},
                "PV_drivers_up_to_date": True,
                "PV_drivers_detected": True,
                "networks": {
                    f"{i}/ip": f"10.{rng.randrange(1, 250)}.{rng.randrange(1, 250)}."
                    f"{rng.randrange(2, 250)}"
                    for i in range(len(vm.nics))
                },
                "last_updated": now,
                "live": True,
            },
        )
        db.set("VM", ref, guest_metrics=gm)
    first_sr: str | None = None
    disks: list[tuple[str, str, int]] = []
    for i, disk in enumerate(vm.disks):
        if disk.sr == "local" or _is_local(p, disk.sr):
            sr_ref = _local_sr_of(pool, host)
        else:
            sr_ref = db.where("SR", name_label=disk.sr)[0]
        first_sr = first_sr or sr_ref
        vdi = create_vdi(
            world, pool, sr_ref, disk.name or f"{vm.name} disk {i}", int(disk.size_gb * GiB)
        )
        disks.append((vdi, sr_ref, int(disk.size_gb * GiB)))
        db.create(
            "VBD",
            {
                "VM": ref,
                "VDI": vdi,
                "device": f"xvd{'abcefghijklmnopqrstuvwxyz'[i]}",
                "userdevice": str(i if i < 3 else i + 1),
                "bootable": i == 0,
                "mode": "RW",
                "type": "Disk",
                "unpluggable": False,
                "currently_attached": running,
                "allowed_operations": ["attach"],
                "other_config": {"owner": ""},
            },
        )
    suspend_sr = _sr_named(pool, p, host, vm.suspend_sr) if vm.suspend_sr else first_sr
    if vm.power == "Suspended" and suspend_sr is not None:
        # The memory image a suspended VM resumes from (next to its first disk by default).
        suspend = create_vdi(
            world, pool, suspend_sr, f"Suspend image for {vm.name}", memory, vdi_type="suspend"
        )
        db.set("VM", ref, suspend_VDI=suspend)
    db.create(
        "VBD",
        {
            "VM": ref,
            "VDI": NULL_REF,
            "device": "xvdd",
            "userdevice": "3",
            "bootable": False,
            "mode": "RO",
            "type": "CD",
            "empty": True,
            "currently_attached": running,
        },
    )
    if vm.snapshots:
        snapshot_sr = _sr_named(pool, p, host, vm.snapshot_sr)
        _create_snapshots(world, pool, vm, ref, disks, snapshot_sr)
    for i, nic in enumerate(vm.nics):
        net = db.where("network", name_label=nic)[0]
        db.create(
            "VIF",
            {
                "VM": ref,
                "network": net,
                "device": str(i),
                "MAC": new_mac(rng),
                "currently_attached": running,
                "allowed_operations": ["attach"],
            },
        )
    return ref


def _sr_named(pool: Pool, p: sc.Pool, host: Host, name: str | None) -> str | None:
    """The ref of the SR a scenario names (`local`: the host's local SR); None for None."""
    if name is None:
        return None
    if name == "local" or _is_local(p, name):
        return _local_sr_of(pool, host)
    return pool.db.where("SR", name_label=name)[0]


# What a snapshot copies of its VM's record (xapi's VM.snapshot clones the record).
SNAPSHOT_COPIES = (
    "name_description", "memory_static_max", "memory_dynamic_max", "memory_dynamic_min",
    "memory_target", "memory_static_min", "VCPUs_max", "VCPUs_at_startup", "domain_type",
    "HVM_boot_params", "hardware_platform_version",
)  # fmt: skip


def _create_snapshots(
    world: World,
    pool: Pool,
    vm: sc.VM,
    of: str,
    disks: list[tuple[str, str, int]],
    sr: str | None = None,
) -> None:
    """The VM's snapshots, a day apart up to now: each a halted copy of its record whose
    disks are snapshots of the VM's disks, on the same SRs (on `sr` when given)."""
    db = pool.db
    base = db.get("VM", of)
    now = world.clock.now()
    for n, name in enumerate(vm.snapshots):
        taken = now - timedelta(days=len(vm.snapshots) - n)
        snap = db.create(
            "VM",
            {
                **{k: base[k] for k in SNAPSHOT_COPIES},
                "name_label": name,
                "power_state": "Halted",
                "is_a_snapshot": True,
                "snapshot_of": of,
                "snapshot_time": taken,
                "allowed_operations": ["revert", "destroy", "export", "clone", "copy"],
            },
        )
        for i, (vdi, sr_ref, size) in enumerate(disks):
            copy = create_vdi(
                world,
                pool,
                sr or sr_ref,
                f"{name} disk {i}",
                size,
                extra={"is_a_snapshot": True, "snapshot_of": vdi, "snapshot_time": taken},
            )
            db.create(
                "VBD",
                {
                    "VM": snap,
                    "VDI": copy,
                    "userdevice": str(i if i < 3 else i + 1),
                    "bootable": i == 0,
                    "mode": "RW",
                    "type": "Disk",
                },
            )


def _is_local(p: sc.Pool, sr_name: str) -> bool:
    return any(s.name == sr_name and s.kind == "local" for s in p.srs)


def _initial_faults(world: World) -> None:
    """Apply the scenario's `[[faults]]` (the world starts with them)."""
    for fault in world.scenario.faults:
        if fault.kind == "vm_start":
            error = list(fault.error)
            start: dict[str, Any] = {"vm": fault.vm, "error": error, "times": fault.times}
            if fault.site:
                start["site"] = fault.site
            world.faults.vm_start.append(start)
        elif fault.kind == "task_stall":
            stall = {"method": fault.method or "*"}
            if fault.site:
                stall["site"] = fault.site
            world.faults.stalls.append(stall)
        elif fault.kind == "host_down" and fault.method:
            # Up until a run reaches the step: the control API's trigger (sim/xapi/control.py).
            world.faults.host_triggers.append(
                {"host": fault.host, "method": fault.method, "after": fault.after or 1}
            )
        elif fault.kind == "lun":
            link = next(
                link
                for link in world.storage.links.values()
                if link.source.content.sr_name == fault.sr
            )
            world.fail_lun(link.id, fault.side)
        elif fault.kind == "site_down":
            assert fault.site is not None  # Fault's validator requires it for site_down
            world.set_site(fault.site, False)
        elif fault.kind == "host_down":
            address = next(h.address for _, h in world.all_hosts() if h.name == fault.host)
            world.set_host(address, False)
