"""Wire methods of a pool's HA switches (the behaviour is in `sim/xapi/ha.py`)."""

from __future__ import annotations

from typing import Any

from sim.xapi import ha
from sim.xapi.api import Call, method
from sim.xapi.errors import XapiError


@method("pool.disable_ha", [], async_ok=True)
def pool_disable_ha(call: Call) -> str:
    ha.disable(call.pool)
    return ""


@method("pool.enable_ha", ["heartbeat_srs", "configuration"], async_ok=True)
def pool_enable_ha(call: Call, heartbeat_srs: list, configuration: dict) -> str:
    ha.enable(
        call.pool,
        list(heartbeat_srs or []),
        {str(k): str(v) for k, v in (configuration or {}).items()},
    )
    return ""


@method(
    "pool.ha_compute_hypothetical_max_host_failures_to_tolerate",
    ["configuration"],
    read=True,
)
def pool_hypothetical_failures(call: Call, configuration: dict) -> int:
    """How many host failures a plan survives with exactly these VMs protected."""
    return ha.hypothetical_max_failures(
        call.pool, {str(k): str(v) for k, v in (configuration or {}).items()}
    )


@method("pool.set_ha_host_failures_to_tolerate", ["self", "value"])
def pool_set_failures_to_tolerate(call: Call, self: str, value: Any) -> str:
    if self != call.pool.ref:
        raise XapiError("HANDLE_INVALID", "pool", self)
    try:
        n = int(value)
    except (TypeError, ValueError):
        raise XapiError("FIELD_TYPE_ERROR", "value") from None
    if n < 0:
        raise XapiError("INVALID_VALUE", "ha_host_failures_to_tolerate", value)
    ha.set_failures_to_tolerate(call.pool, n)
    return ""
