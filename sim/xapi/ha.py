"""High availability switches of a pool (reference §4.1, §5.2.6 a, §7.14).

A test failover wants HA off on the DR pool and back on afterwards, as it was. HA keeps a
statefile VDI (type `ha_statefile`) on a heartbeat SR, listed in `pool.ha_statefiles`;
`disable` destroys it, `enable(heartbeat_srs, configuration)` makes a new one on the first
heartbeat SR. `set_failures_to_tolerate` refuses more failures than the pool has hosts to
spare (`HA_OPERATION_WOULD_BREAK_FAILOVER_PLAN`). What HA does when a host fails (restart
protected VMs elsewhere) is `lifecycle.ha_restart`, a reaction of the world
(`reactions.py`). Wire methods: `methods/ha.py`.
"""

from __future__ import annotations

import contextlib

from sim.xapi.errors import XapiError
from sim.xapi.sm import create_vdi
from sim.xapi.world import Pool

STATEFILE_SIZE = 4 * 1024 * 1024


def make_statefile(pool: Pool, sr: str) -> str:
    """A statefile VDI on `sr` (what enabling HA writes to the heartbeat SR)."""
    return create_vdi(
        pool.world,
        pool,
        sr,
        "Statefile for HA",
        STATEFILE_SIZE,
        vdi_type="ha_statefile",
        extra={"name_description": "Used for storage heartbeating"},
    )


def spare_hosts(pool: Pool) -> int:
    """How many host failures the pool can tolerate at most (one spare host, if it has two)."""
    return min(1, len(pool.hosts) - 1)


def disable(pool: Pool) -> None:
    """Turn HA off and destroy its statefile VDIs."""
    db = pool.db
    statefiles = db.get_field("pool", pool.ref, "ha_statefiles")
    db.set(
        "pool",
        pool.ref,
        ha_enabled=False,
        ha_statefiles=[],
        ha_configuration={},
        ha_plan_exists_for=0,
        ha_host_failures_to_tolerate=0,
    )
    for vdi in statefiles:
        with contextlib.suppress(XapiError):
            db.delete("VDI", vdi)


def enable(pool: Pool, heartbeat_srs: list[str], configuration: dict[str, str]) -> None:
    """Turn HA on with a statefile on the first heartbeat SR."""
    db = pool.db
    if db.get_field("pool", pool.ref, "ha_enabled"):
        raise XapiError("HA_IS_ENABLED")
    for sr in heartbeat_srs:
        db.handle("SR", sr)
    statefiles = [make_statefile(pool, heartbeat_srs[0])] if heartbeat_srs else []
    db.set(
        "pool",
        pool.ref,
        ha_enabled=True,
        ha_configuration={"cluster-stack": "xhad", **configuration},
        ha_statefiles=statefiles,
        ha_plan_exists_for=spare_hosts(pool),
        ha_host_failures_to_tolerate=spare_hosts(pool),
    )


def set_failures_to_tolerate(pool: Pool, n: int) -> None:
    """pool.set_ha_host_failures_to_tolerate: no more than the pool has hosts to spare."""
    db = pool.db
    if n < 0:
        raise XapiError("INVALID_VALUE", "ha_host_failures_to_tolerate", str(n))
    if db.get_field("pool", pool.ref, "ha_enabled") and n > len(pool.hosts) - 1:
        raise XapiError("HA_OPERATION_WOULD_BREAK_FAILOVER_PLAN")
    db.set("pool", pool.ref, ha_host_failures_to_tolerate=n, ha_plan_exists_for=n)
