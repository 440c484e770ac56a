"""`network.create` / `network.destroy`: what a test failover's cleanup needs to remove the
private networks recovery created for NICs whose network the DR pool lacked (reference
§2.6). A network with PIFs or VIFs cannot be destroyed (`NETWORK_CONTAINS_PIF` /
`NETWORK_CONTAINS_VIF`), as in XAPI.
"""

from __future__ import annotations

from typing import Any

from sim.xapi.api import Call, method
from sim.xapi.errors import XapiError


@method("network.create", ["args"], async_ok=True)
def network_create(call: Call, args: dict) -> str:
    if not isinstance(args, dict):
        raise XapiError("FIELD_TYPE_ERROR", "args")
    db = call.db
    used = {n["bridge"] for n in db.all("network").values()}
    bridge = str(args.get("bridge") or "")
    if not bridge:
        n = 0
        while f"xapi{n}" in used:
            n += 1
        bridge = f"xapi{n}"
    fields: dict[str, Any] = {
        "name_label": str(args.get("name_label", "")),
        "name_description": str(args.get("name_description", "")),
        "MTU": int(args.get("MTU", 1500) or 1500),
        "other_config": dict(args.get("other_config") or {}),
        "bridge": bridge,
    }
    return db.create("network", fields)


@method("network.destroy", ["self"], async_ok=True)
def network_destroy(call: Call, self: str) -> str:
    db = call.db
    db.handle("network", self)
    rec = db.get("network", self)
    if rec["PIFs"]:
        raise XapiError("NETWORK_CONTAINS_PIF", *rec["PIFs"])
    if rec["VIFs"]:
        raise XapiError("NETWORK_CONTAINS_VIF", *rec["VIFs"])
    db.delete("network", self)
    return ""
