"""`allowed_operations` of SRs and vApps, recomputed from their state after every change.

As xapi's `update_allowed_operations` (`xapi_sr_operations.ml`,
`xapi_vm_appliance_lifecycle.ml`): the list is derived, never set by hand, so the power
and storage operations call `refresh_*` after they change what it depends on.

- SR: with a PBD attached, the VDI and scan operations and `unplug`; with none, `forget` and
  `destroy` (which need every PBD unplugged: `SR_HAS_PBD`).
- vApp: `start` if any member is Halted; `clean_shutdown` if any is Running;
  `hard_shutdown` / `shutdown` if any is not Halted; nothing without members.
"""

from __future__ import annotations

from sim.xapi.world import Pool

SR_OPS_ATTACHED = [
    "vdi_create",
    "vdi_snapshot",
    "vdi_clone",
    "vdi_resize",
    "vdi_destroy",
    "scan",
    "update",
    "plug",
    "unplug",
    "pbd_create",
    "pbd_destroy",
]
SR_OPS_DETACHED = ["forget", "destroy", "plug", "update", "pbd_create", "pbd_destroy"]


def refresh_sr_ops(pool: Pool, sr: str) -> None:
    """Recompute an SR's `allowed_operations` from whether any PBD is attached."""
    db = pool.db
    with db.lock:
        if not db.exists("SR", sr):
            return
        attached = any(
            db.get_field("PBD", p, "currently_attached") for p in db.get_field("SR", sr, "PBDs")
        )
        ops = SR_OPS_ATTACHED if attached else SR_OPS_DETACHED
        if db.get_field("SR", sr, "allowed_operations") != ops:
            db.set("SR", sr, allowed_operations=list(ops))


def appliance_operations(pool: Pool, appliance: str) -> list[str]:
    """What the vApp allows now, from its members' power states."""
    db = pool.db
    states = [
        db.get_field("VM", vm, "power_state")
        for vm in db.get_field("VM_appliance", appliance, "VMs")
    ]
    ops = []
    if any(s == "Halted" for s in states):
        ops.append("start")
    if any(s == "Running" for s in states):
        ops.append("clean_shutdown")
    if any(s != "Halted" for s in states):
        ops += ["hard_shutdown", "shutdown"]
    return ops


def refresh_appliance_ops(pool: Pool, appliance: str) -> None:
    """Recompute a vApp's `allowed_operations` (nothing if it is gone)."""
    db = pool.db
    with db.lock:
        if not db.exists("VM_appliance", appliance):
            return
        ops = appliance_operations(pool, appliance)
        if db.get_field("VM_appliance", appliance, "allowed_operations") != ops:
            db.set("VM_appliance", appliance, allowed_operations=ops)
