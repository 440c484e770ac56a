"""High availability switches of a pool (reference §4.1, §5.2.6 a, §7.14).

A test failover wants HA off on the DR pool and back on afterwards, as it was. HA keeps a
statefile VDI (type `ha_statefile`) on a heartbeat SR, listed in `pool.ha_statefiles`;
`disable_ha` destroys it, `enable_ha(heartbeat_srs, configuration)` makes a new one on the
first heartbeat SR. `set_ha_host_failures_to_tolerate` refuses more failures than the pool
has hosts to spare (`HA_OPERATION_WOULD_BREAK_FAILOVER_PLAN`). What HA does when a host
fails (restart protected VMs elsewhere) is in `world.World.set_host`.
"""

from __future__ import annotations

import contextlib
from typing import Any

from sim.xapi.api import Call, method
from sim.xapi.errors import XapiError
from sim.xapi.world import Pool

STATEFILE_SIZE = 4 * 1024 * 1024


def make_statefile(pool: Pool, sr: str) -> str:
    """A statefile VDI on `sr` (what enabling HA writes to the heartbeat SR)."""
    from sim.xapi.estate import create_vdi

    return create_vdi(
        pool.world,
        pool,
        sr,
        "Statefile for HA",
        STATEFILE_SIZE,
        vdi_type="ha_statefile",
        extra={"name_description": "Used for storage heartbeating"},
    )


@method("pool.disable_ha", [], async_ok=True)
def pool_disable_ha(call: Call) -> str:
    """Turn HA off and destroy its statefile VDIs."""
    db = call.pool.db
    statefiles = db.get_field("pool", call.pool.ref, "ha_statefiles")
    db.set(
        "pool",
        call.pool.ref,
        ha_enabled=False,
        ha_statefiles=[],
        ha_configuration={},
        ha_plan_exists_for=0,
        ha_host_failures_to_tolerate=0,
    )
    for vdi in statefiles:
        with contextlib.suppress(XapiError):
            db.delete("VDI", vdi)
    return ""


@method("pool.enable_ha", ["heartbeat_srs", "configuration"], async_ok=True)
def pool_enable_ha(call: Call, heartbeat_srs: list, configuration: dict) -> str:
    """Turn HA on with a statefile on the first heartbeat SR."""
    db = call.pool.db
    if db.get_field("pool", call.pool.ref, "ha_enabled"):
        raise XapiError("HA_IS_ENABLED")
    for sr in heartbeat_srs or []:
        db.handle("SR", sr)
    statefiles = [make_statefile(call.pool, heartbeat_srs[0])] if heartbeat_srs else []
    db.set(
        "pool",
        call.pool.ref,
        ha_enabled=True,
        ha_configuration={"cluster-stack": "xhad", **dict(configuration or {})},
        ha_statefiles=statefiles,
        ha_plan_exists_for=min(1, len(call.pool.hosts) - 1),
        ha_host_failures_to_tolerate=min(1, len(call.pool.hosts) - 1),
    )
    return ""


@method("pool.set_ha_host_failures_to_tolerate", ["self", "value"])
def pool_set_failures_to_tolerate(call: Call, self: str, value: Any) -> str:
    db = call.pool.db
    if self != call.pool.ref:
        raise XapiError("HANDLE_INVALID", "pool", self)
    try:
        n = int(value)
    except (TypeError, ValueError):
        raise XapiError("FIELD_TYPE_ERROR", "value") from None
    if n < 0:
        raise XapiError("INVALID_VALUE", "ha_host_failures_to_tolerate", value)
    if db.get_field("pool", self, "ha_enabled") and n > len(call.pool.hosts) - 1:
        raise XapiError("HA_OPERATION_WOULD_BREAK_FAILOVER_PLAN")
    db.set("pool", self, ha_host_failures_to_tolerate=n, ha_plan_exists_for=n)
    return ""
