"""Host memory as the coordinator accounts it: what each host has given out and has free.

A host gives out its own overhead, dom0's memory, and `memory_static_max + memory_overhead`
for every guest resident on it or scheduled to become resident (a VM being started counts
from the moment a host is chosen for it, through `scheduled_to_be_resident_on`, so two
starts cannot both take the last room). `host_metrics.memory_free` follows after changes.
"""

from __future__ import annotations

import contextlib

from sim.xapi.errors import XapiError
from sim.xapi.schema import NULL_REF
from sim.xapi.world import Host, Pool

GiB = 1024**3
MiB = 1024**2
DOM0_MEMORY = 4 * GiB
HOST_OVERHEAD = 194228224


def memory_in_use(pool: Pool) -> dict[str, int]:
    """host ref -> memory given out (host overhead, dom0, VMs running or being started there)."""
    db = pool.db
    used = {h.ref: HOST_OVERHEAD for h in pool.hosts}
    with db.lock:
        for rec in db._tables["VM"].values():
            on = rec["resident_on"] if rec["power_state"] != "Halted" else NULL_REF
            need = rec["memory_static_max"] + rec["memory_overhead"]
            if on in used:
                used[on] += need
            scheduled = rec["scheduled_to_be_resident_on"]
            if scheduled in used and scheduled != on:
                used[scheduled] += need
    return used


def used_memory(pool: Pool, host: Host) -> int:
    """Memory the host has given out: its own overhead, dom0, and every VM on it."""
    return memory_in_use(pool)[host.ref]


def free_memory(pool: Pool, host: Host) -> int:
    return host.memory_total - used_memory(pool, host)


def refresh_host_memory(pool: Pool, host_ref: str) -> None:
    """Bring one host's `host_metrics.memory_free` in line with what it has given out."""
    host = pool.host_by_ref(host_ref)
    if host is not None:
        with contextlib.suppress(XapiError):
            pool.db.set(
                "host_metrics", host.metrics_ref, memory_free=max(0, free_memory(pool, host))
            )


def refresh_all_memory(pool: Pool) -> None:
    """Every host's `memory_free` at once (after a world is built)."""
    used = memory_in_use(pool)
    for host in pool.hosts:
        free = max(0, host.memory_total - used[host.ref])
        pool.db.set("host_metrics", host.metrics_ref, memory_free=free)
