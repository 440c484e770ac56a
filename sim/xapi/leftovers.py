"""What an earlier drill left at a DR site, placed when a scenario's world is built.

A drill that was aborted half-way, or whose cleanup never ran, leaves its storage where it
was: the test copy of a mirrored LUN still presented at the array, its SR still attached in
the DR pool (through the DR_task that attached it, or with no DR_task once recovered VMs use
it: `VM.recover` clears `introduced_by` on their SRs, and `DR_task.destroy` then leaves them,
xapi_dr.ml; reference §5.3, XenCenter leaves the SRs of recovered VMs attached), and halted
copies of the VMs it recovered. A scenario's `[[leftovers]]` (sim/xapi/scenario.py,
`Leftover`) asks for them; each is made with the same operations XAPI and the array would
have used (present, `DR_task.create` or introduce + PBD plug, `SR.scan`, `VM.recover`), at
build time, before any client connects.

The copy is taken from the mirror as it is at build time: it shares the SR uuid of the
mirror (a snapshot of an LVM volume group keeps its uuid) but has its own SCSIid, which is
what tells the two apart (arrays.py).
"""

from __future__ import annotations

from sim.xapi import dr_tasks, storage
from sim.xapi.arrays import Volume
from sim.xapi.metadata import open_foreign_database
from sim.xapi.recovery import recover_vms
from sim.xapi.scenario import Leftover
from sim.xapi.world import Pool, World


def place(world: World) -> None:
    """Place every leftover the scenario names (see the module docstring)."""
    for left in world.scenario.leftovers:
        _place(world, left)


def _place(world: World, left: Leftover) -> None:
    link = next(
        link for link in world.storage.links.values() if link.source.content.sr_name == left.sr
    )
    copy = world.storage.present_test_copy(link.id)
    if left.attach == "none":
        return
    pool = world.pools[left.pool]
    sr_type = link.source.content.sr_type
    config = copy.device_config(world.storage.array_of(copy))
    sr_uuid = copy.content.sr_uuid
    if left.attach == "dr_task":
        dr_tasks.create_dr_task(pool, sr_type, config, [sr_uuid])
        sr = pool.db.where("SR", uuid=sr_uuid)[0]
    else:
        sr = _introduce(pool, copy, sr_type, config)
    storage.scan_attached(pool, sr)  # today's xapi does not scan on plug
    for name in left.vms:
        _recover_halted(pool, sr, name)


def _introduce(pool: Pool, copy: Volume, sr_type: str, config: dict[str, str]) -> str:
    """SR.introduce, a PBD per host (coordinator first) and plug: as by hand."""
    c = copy.content
    sr = storage.introduce(pool, c.sr_uuid, c.sr_name, c.sr_description, sr_type, "", True, {})
    hosts = [pool.coordinator] + [h for h in pool.hosts if h is not pool.coordinator]
    for host in hosts:
        pbd = storage.create_pbd(pool, host.ref, sr, dict(config), {})
        storage.plug(pool, pbd)
    return sr


def _recover_halted(pool: Pool, sr: str, name: str) -> None:
    """Recover VM `name` from the copy's metadata into `pool`; it stays halted."""
    db = pool.db
    vdi = next(
        v for v in db.get_field("SR", sr, "VDIs") if db.get_field("VDI", v, "type") == "metadata"
    )
    foreign = open_foreign_database(pool, vdi)
    found = foreign.where("VM", name_label=name)
    if not found:
        raise ValueError(f"leftover: VM {name!r} is not in the metadata on SR {sr}")
    recover_vms(foreign, [found[0]], pool, force=False)
