"""Wire methods `network.create` / `network.destroy`: what a test failover's cleanup needs
to remove the private networks recovery created for NICs whose network the DR pool lacked
(the behaviour is in `sim/xapi/networks.py`)."""

from __future__ import annotations

from sim.xapi import networks
from sim.xapi.api import Call, method
from sim.xapi.errors import XapiError


@method("network.create", ["args"], async_ok=True)
def network_create(call: Call, args: dict) -> str:
    if not isinstance(args, dict):
        raise XapiError("FIELD_TYPE_ERROR", "args")
    return networks.create_network(
        call.db,
        str(args.get("name_label", "")),
        str(args.get("name_description", "")),
        mtu=int(args.get("MTU", 1500) or 1500),
        bridge=str(args.get("bridge") or ""),
        other_config={str(k): str(v) for k, v in (args.get("other_config") or {}).items()},
    )


@method("network.destroy", ["self"], async_ok=True)
def network_destroy(call: Call, self: str) -> str:
    networks.destroy_network(call.db, call.db.handle("network", self))
    return ""
