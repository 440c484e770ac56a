"""Readiness from followed inventories: each change is reflected, the rest reused unchanged."""

from __future__ import annotations

from engine.config import PoolPair
from engine.planner import Site
from engine.readiness import assess
from tests.engine.estate import build_estate

PAIR = PoolPair(protected="prod", dr="dr")


def test_followed_readiness_reflects_a_rename_and_a_disk_moved_to_local_storage(core_sim):
    """After a VM is renamed, and then another's disk moves to local storage, readiness shows
    both changes (the moved VM's vApp mates are left out with it), and every other VM's row
    stays as it was."""
    estate = build_estate(core_sim)
    prod = Site("prod", estate.prod_inv.follow(poll_seconds=0.5), site="prod")
    dr = Site("dr", estate.dr_inv.follow(poll_seconds=0.5), site="dr")
    db = estate.prod.db
    try:

        def rows():
            r = assess(PAIR, protected=prod, dr=dr, storage=estate.luns)
            return {v.uuid: (v.name, v.protected, v.reasons) for v in r.vms}

        before = rows()
        assert all(protected for _, protected, _ in before.values())
        renamed, moved = estate.prod.refs["vms"][1], estate.prod.refs["vms"][2]
        renamed_uuid, moved_uuid = db.get("VM", renamed)["uuid"], db.get("VM", moved)["uuid"]

        db.set("VM", renamed, name_label="renamed-while-followed")
        assert prod.inventory.wait_for(
            lambda inv: inv.vms[renamed].name_label == "renamed-while-followed", timeout=10
        )
        after_rename = rows()
        assert after_rename[renamed_uuid][0] == "renamed-while-followed"
        assert {u: v for u, v in after_rename.items() if u != renamed_uuid} == {
            u: v for u, v in before.items() if u != renamed_uuid
        }

        estate.put_on_local_storage(db.get("VM", moved)["name_label"])
        local_sr = estate.prod.refs["local_sr"]
        assert prod.inventory.wait_for(
            lambda inv: any(d.sr == local_sr for d in inv.vm_disks(inv.vms[moved])), timeout=10
        )
        after_move = rows()
        assert not after_move[moved_uuid][1]
        assert after_move[moved_uuid][2]
        inv = prod.inventory
        app = inv.vms[moved].appliance
        mates = {v.uuid for v in inv.vms.values() if app and v.appliance == app} - {moved_uuid}
        for uuid in mates:
            assert not after_move[uuid][1]
            assert "left out with its vApp" in after_move[uuid][2][-1]
        changed = mates | {moved_uuid}
        assert {u: v for u, v in after_move.items() if u not in changed} == {
            u: v for u, v in after_rename.items() if u not in changed
        }
    finally:
        prod.inventory.stop()
        dr.inventory.stop()
