"""Audit of issue 4 item 1: recovery through the foreign database session (reference §2.5)
survives the loss of every session, as after a xapi restart on the DR coordinator."""

from __future__ import annotations

import pytest


@pytest.fixture
def attached(sim):
    """The demo with a test copy of Gold iSCSI 01 attached at DR; yields (world, dr, vdi ref)."""
    world = sim("demo")
    adapter = world.storage()
    gold = next(lun for lun in adapter.state() if lun.name == "Gold iSCSI 01")
    copy = adapter.present_test_copy(gold.lun)
    dr = world.client("dr")
    task = dr.run("DR_task.create", "lvmoiscsi", copy.test_copy_device_config, [gold.sr_uuid])
    vdis = dr.get_all_records("VDI")
    vdi = next(ref for ref, r in vdis.items() if r["type"] == "metadata" and r["metadata_latest"])
    yield world, dr, vdi
    dr.call("DR_task.destroy", task)


def test_recovery_after_every_session_expired_carries_the_new_session_to(attached):
    """With the foreign and the normal session both expired, VM.recover still succeeds."""
    world, dr, vdi = attached
    with dr.open_database(vdi) as db:
        records = db.get_all_records("VM")
        ref, rec = next((r, v) for r, v in records.items() if v["name_label"] == "jump-01")
        stale = dr.session
        world.control("POST", "/faults", {"kind": "expire_sessions"})
        task = db.recover_vm(ref, False)
        outcome = dr.wait([task], timeout=60)[task]
    assert outcome.ok, outcome.error
    assert dr.session != stale
    assert dr.call("VM.get_by_uuid", rec["uuid"])
