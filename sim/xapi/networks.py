"""Networks: create one and destroy one that nothing uses (`NETWORK_CONTAINS_PIF` /
`NETWORK_CONTAINS_VIF`, as in XAPI). Wire methods: `methods/network.py`.

`create_network` follows `xapi_network.ml`, `create`: without a bridge, the next free
`xapiN`; with one, given on a session that is not pool-internal (every API caller's,
including the `session_to` a recovery imports with), it must be at most 15 characters and
not start with `xen`, `xapi`, `vif`, `tap` or `eth` (`INVALID_VALUE ["bridge", b]`); a
bridge in use is `BRIDGE_NAME_EXISTS [b]`. The check and the creation are one step.
"""

from __future__ import annotations

from typing import Any

from sim.xapi.db import Database
from sim.xapi.errors import XapiError


def free_bridge(db: Database) -> str:
    """The first `xapiN` bridge name no network of `db` uses."""
    used = {n["bridge"] for n in db.all("network").values()}
    n = 0
    while f"xapi{n}" in used:
        n += 1
    return f"xapi{n}"


BRIDGE_BLACKLIST = ("xen", "xapi", "vif", "tap", "eth")


def create_network(
    db: Database,
    name_label: str,
    name_description: str = "",
    *,
    mtu: int = 1500,
    bridge: str = "",
    internal: bool = False,
    other_config: dict[str, str] | None = None,
) -> str:
    """A network without PIFs (private to the pool's hosts); -> its ref (module docstring)."""
    with db.lock:
        if bridge:
            if not internal and (len(bridge) > 15 or bridge.startswith(BRIDGE_BLACKLIST)):
                raise XapiError("INVALID_VALUE", "bridge", bridge)
            if db.where("network", bridge=bridge):
                raise XapiError("BRIDGE_NAME_EXISTS", bridge)
        fields: dict[str, Any] = {
            "name_label": name_label,
            "name_description": name_description,
            "MTU": mtu if mtu > 0 else 1500,
            "other_config": dict(other_config or {}),
            "bridge": bridge or free_bridge(db),
        }
        return db.create("network", fields)


def destroy_network(db: Database, ref: str) -> None:
    """network.destroy: only a network no PIF or VIF uses."""
    rec = db.get("network", ref)
    if rec["PIFs"]:
        raise XapiError("NETWORK_CONTAINS_PIF", *rec["PIFs"])
    if rec["VIFs"]:
        raise XapiError("NETWORK_CONTAINS_VIF", *rec["VIFs"])
    db.delete("network", ref)
