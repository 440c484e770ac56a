"""A small stand-in `Pool` and a realistic pool database, for the core's tests and bench.

The core needs from a pool only `.db`, `.coordinator_address`, `.host_addresses`,
`.is_up(address)`, `.users` and `.licensed(feature)` (docs/contracts/sim-xapi.md); the
world's `Pool` has those and much more. `build_pool` writes what a real pool database holds
(pool, hosts with metrics and dom0, PIFs, networks, SRs with PBDs, VMs with metrics, disks
and NICs, a template, a snapshot, a vApp), with field values as a real host writes them.
"""

from __future__ import annotations

import contextlib
import random
from datetime import UTC, datetime
from typing import Any

from sim.xapi.db import Database
from sim.xapi.schema import NULL_REF

USERS = {
    "root": ("rootpw", "pool-admin"),
    "operator": ("oppw", "pool-operator"),
    "viewer": ("viewpw", "read-only"),
}
GiB = 1024**3


def loopback_block(n: int, rng: random.Random | None = None) -> list[str]:
    """`n` addresses 127.a.b.1..n in a random block, so parallel test runs rarely meet."""
    rng = rng or random.Random()
    a, b = rng.randint(16, 250), rng.randint(1, 250)
    return [f"127.{a}.{b}.{i + 1}" for i in range(n)]


class ManualClock:
    """A clock that moves only when told (`advance`), for session and task ageing."""

    def __init__(self, start: datetime | None = None) -> None:
        self.current = start or datetime(2026, 11, 1, 8, 0, 0, tzinfo=UTC)

    def now(self) -> datetime:
        return self.current

    def advance(self, seconds: float) -> None:
        from datetime import timedelta

        self.current += timedelta(seconds=seconds)

    def sleep(self, seconds: float) -> None:
        self.advance(seconds)


class CorePool:
    """The attributes the core reads from a pool, and nothing else."""

    def __init__(self, db: Database, addresses: list[str], users: dict | None = None) -> None:
        self.db = db
        self.host_addresses = list(addresses)
        self.coordinator_address = addresses[0]
        self.users = dict(users or USERS)
        self.down: set[str] = set()
        self.clock: ManualClock | None = None  # None: the core uses wall-clock time

    def is_up(self, address: str) -> bool:
        return address not in self.down

    def licensed(self, feature: str) -> bool:
        return True


def build_pool(
    addresses: list[str],
    *,
    vms: int = 4,
    name: str = "site-a",
    seed: int = 1,
    memory_per_host: int = 256 * GiB,
) -> tuple[Database, dict[str, Any]]:
    """A database like a real pool's with `vms` guest VMs; -> (db, refs of note)."""
    rng = random.Random(seed)
    db = Database(name)
    now = datetime(2026, 11, 1, 8, 0, 0, tzinfo=UTC)
    hosts = []
    for i, address in enumerate(addresses):
        metrics = db.create(
            "host_metrics",
            {"memory_total": memory_per_host, "memory_free": memory_per_host - 4 * GiB},
        )
        metrics_fields = {"last_updated": now}
        db.set("host_metrics", metrics, **metrics_fields)
        host = db.create(
            "host",
            {
                "name_label": f"{name}-host{i + 1}",
                "hostname": f"{name}-host{i + 1}",
                "address": address,
                "metrics": metrics,
                "cpu_info": {"cpu_count": "32", "vendor": "GenuineIntel", "speed": "2600.000"},
                "other_config": {"iscsi_iqn": f"iqn.2026-11.example:{name}-host{i + 1}"},
            },
        )
        dom0 = db.create(
            "VM",
            {
                "name_label": f"Control domain on host: {name}-host{i + 1}",
                "is_control_domain": True,
                "power_state": "Running",
                "resident_on": host,
                "domid": 0,
                "memory_static_max": 4 * GiB,
                "memory_target": 4 * GiB,
            },
        )
        db.set("host", host, control_domain=dom0)
        hosts.append(host)
    pool = db.create(
        "pool",
        {"name_label": name, "master": hosts[0], "other_config": {"memory-ratio-hvm": "0.25"}},
    )
    networks = []
    for n, bridge in enumerate(["xenbr0", "xenbr1"]):
        net = db.create(
            "network",
            {
                "name_label": f"Pool-wide network associated with eth{n}",
                "bridge": bridge,
                "other_config": {"automatic": "true"},
            },
        )
        for i, host in enumerate(hosts):
            db.create(
                "PIF",
                {
                    "device": f"eth{n}",
                    "network": net,
                    "host": host,
                    "MAC": f"a4:ba:db:{n:02x}:{i:02x}:01",
                    "management": n == 0,
                    "IP": addresses[i] if n == 0 else "",
                    "ip_configuration_mode": "Static" if n == 0 else "None",
                },
            )
        networks.append(net)
    shared = db.create(
        "SR",
        {
            "name_label": f"{name} replicated LUN",
            "type": "lvmoiscsi",
            "content_type": "",
            "shared": True,
            "physical_size": 4096 * GiB,
            "other_config": {"auto-scan": "false"},
            "sm_config": {"allocation": "thick", "use_vhd": "true", "multipathable": "true"},
        },
    )
    local = db.create(
        "SR",
        {"name_label": "Local storage", "type": "lvm", "content_type": "user"},
    )
    for sr, cfg in [
        (
            shared,
            {"target": "10.0.0.10", "targetIQN": "iqn.2026-11.example:lun1", "SCSIid": "36001"},
        ),
        (local, {"device": "/dev/sda3"}),
    ]:
        for host in hosts:
            db.create(
                "PBD", {"SR": sr, "host": host, "device_config": cfg, "currently_attached": True}
            )
    db.set("pool", pool, default_SR=shared, suspend_image_SR=shared, crash_dump_SR=shared)
    appliance = db.create("VM_appliance", {"name_label": "vApp payments"})
    template = db.create(
        "VM",
        {
            "name_label": "Debian Bookworm 12",
            "is_a_template": True,
            "is_default_template": True,
            "other_config": {"default_template": "true", "linux_template": "true"},
        },
    )
    guest_refs = []
    for v in range(vms):
        metrics = db.create(
            "VM_metrics",
            {"memory_actual": 2 * GiB, "VCPUs_number": 2, "VCPUs_utilisation": {"0": 0.0}},
        )
        running = v % 3 != 2
        vm = db.create(
            "VM",
            {
                "name_label": f"vm-{v:05d}",
                "name_description": f"guest {v} of {name}",
                "power_state": "Running" if running else "Halted",
                "resident_on": hosts[v % len(hosts)] if running else NULL_REF,
                "domid": v + 1 if running else -1,
                "memory_static_max": 2 * GiB,
                "memory_dynamic_max": 2 * GiB,
                "memory_dynamic_min": 2 * GiB,
                "memory_target": 2 * GiB,
                "VCPUs_max": 2,
                "VCPUs_at_startup": 2,
                "metrics": metrics,
                "appliance": appliance if v < 3 else NULL_REF,
                "order": v if v < 3 else 0,
                "start_delay": 10 if v == 0 else 0,
                "other_config": {
                    "base_template_name": "Debian Bookworm 12",
                    "mac_seed": f"{rng.getrandbits(128):032x}",
                    "install-methods": "cdrom,nfs,http,ftp",
                    "linux_template": "true",
                },
                "generation_id": f"{rng.getrandbits(32)}:{rng.getrandbits(32)}",
                "platform": {
                    "timeoffset": "0",
                    "device-model": "qemu-upstream-compat",
                    "vga": "std",
                },
            },
        )
        vdi = db.create(
            "VDI",
            {
                "name_label": f"vm-{v:05d} disk 0",
                "SR": shared if v % 50 else local,
                "virtual_size": 40 * GiB,
                "physical_utilisation": 40 * GiB,
                "location": f"{rng.getrandbits(128):032x}",
                "sm_config": {"vdi_type": "vhd"},
            },
        )
        db.create(
            "VBD",
            {"VM": vm, "VDI": vdi, "userdevice": "0", "bootable": True, "device": "xvda"},
        )
        db.create(
            "VIF",
            {
                "VM": vm,
                "network": networks[v % 2],
                "device": "0",
                "MAC": "02:" + ":".join(f"{rng.getrandbits(8):02x}" for _ in range(5)),
                "currently_attached": running,
            },
        )
        guest_refs.append(vm)
    snapshot = None
    if guest_refs:
        snapshot = db.create(
            "VM",
            {
                "name_label": "vm-00000 before upgrade",
                "is_a_snapshot": True,
                "snapshot_of": guest_refs[0],
                "snapshot_time": now,
            },
        )
    return db, {
        "pool": pool,
        "hosts": hosts,
        "networks": networks,
        "shared_sr": shared,
        "local_sr": local,
        "appliance": appliance,
        "template": template,
        "snapshot": snapshot,
        "vms": guest_refs,
    }


class CoreSim:
    """A running core: one pool (two hosts unless told) served on loopback."""

    def __init__(self, *, hosts: int = 2, vms: int = 4, tls: bool = False) -> None:
        import XenAPI

        from sim.xapi.server import serve_pools

        self.addresses = loopback_block(hosts)
        self.db, self.refs = build_pool(self.addresses, vms=vms)
        self.pool = CorePool(self.db, self.addresses)
        self.servers = serve_pools([self.pool], tls=tls, auth_failure_delay=0)
        self.coordinator = self.addresses[0]
        self.url = self.servers.url_for(self.coordinator)
        self._xenapi = XenAPI
        self._open: list[Any] = []
        self._logged_in: list[Any] = []

    def session(self, user: str = "root", address: str | None = None) -> Any:
        """A logged-in XenAPI session of `user` (logged out at stop)."""
        s = self.client(address)
        s.xenapi.login_with_password(user, USERS[user][0], "2.0", "core-tests")
        self._logged_in.append(s)
        return s

    def client(self, address: str | None = None) -> Any:
        """A XenAPI client of one host (its connection is closed at stop)."""
        url = self.servers.url_for(address or self.coordinator)
        if self.servers.scheme == "https":
            s = self._xenapi.Session(url, ignore_ssl=True)
        else:
            s = self._xenapi.Session(url)
        self._open.append(s)
        return s

    def stop(self) -> None:
        for s in self._logged_in:
            with contextlib.suppress(Exception):  # logged out or expired by the test already
                s.xenapi.session.logout()
        for s in self._open:
            s("close")()
        self.servers.stop()
