"""Recovery through the foreign database session (reference §2.5)
survives the loss of every session, as after a xapi restart on the DR coordinator."""

from __future__ import annotations


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
