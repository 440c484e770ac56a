"""Networks: create one (with the next free `xapiN` bridge, as xapi names private
networks) and destroy one that nothing uses (`NETWORK_CONTAINS_PIF` /
`NETWORK_CONTAINS_VIF`, as in XAPI). Recovery creates the networks a pool lacks through
`create_network` too (reference §2.6). Wire methods: `methods/network.py`.
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


def create_network(
    db: Database,
    name_label: str,
    name_description: str = "",
    *,
    mtu: int = 1500,
    bridge: str = "",
    other_config: dict[str, str] | None = None,
) -> str:
    """A network without PIFs (private to the pool's hosts); -> its ref."""
    fields: dict[str, Any] = {
        "name_label": name_label,
        "name_description": name_description,
        "MTU": mtu,
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
