"""The foreign metadata-database session (reference §2.5), through the client on the simulator."""

from __future__ import annotations

import pytest

from engine.errors import SessionLost, XapiRejected


def test_foreign_database_reads_the_protected_pools_records(attached):
    """open_database gives a session whose reads see prod's VMs, not the DR pool's."""
    world, dr, vdi = attached
    prod_uuids = {r["uuid"] for r in world.client("prod").get_all_records("VM").values()}
    with dr.open_database(vdi) as db:
        foreign = db.get_all_records("VM")
        pools = db.get_all_records("pool")
    foreign_uuids = {r["uuid"] for r in foreign.values()}
    assert "pay-db-01" in {r["name_label"] for r in foreign.values()}
    assert foreign_uuids <= prod_uuids
    dr_pool_uuid = next(iter(dr.get_all_records("pool").values()))["uuid"]
    assert next(iter(pools.values()))["uuid"] != dr_pool_uuid


def test_foreign_session_is_read_only_and_logged_out_after_use(attached):
    """Writes through the database session are refused; after the block the session is gone."""
    _, dr, vdi = attached
    db = dr.open_database(vdi)
    with db:
        vm = next(iter(db.get_all_records("VM")))
        with pytest.raises(XapiRejected) as err:
            db.call("VM.set_name_label", vm, "renamed")
        assert err.value.code == "RBAC_PERMISSION_DENIED"
        session = db.session
    with pytest.raises(SessionLost) as gone:
        dr.call_raw("VM.get_all", session)
    assert gone.value.args_ == (session,)


def test_recover_through_the_foreign_session_creates_the_vm_at_dr(attached):
    """VM.recover(db, vm, session_to, force) via the client recovers the VM with version + 1."""
    _, dr, vdi = attached
    with dr.open_database(vdi) as db:
        records = db.get_all_records("VM")
        ref, rec = next((r, v) for r, v in records.items() if v["name_label"] == "jump-01")
        task = db.recover_vm(ref, False)
        outcome = dr.wait([task], timeout=60)[task]
    assert outcome.ok, outcome.error
    here = dr.call("VM.get_by_uuid", rec["uuid"])
    assert int(dr.call("VM.get_version", here)) == int(rec["version"]) + 1


def test_expired_foreign_session_is_reopened_once(attached):
    """If the database session expires mid-work, the database is opened again and reads go on."""
    world, dr, vdi = attached
    with dr.open_database(vdi) as db:
        first = db.session
        world.control("POST", "/faults", {"kind": "expire_sessions", "user": "disaster-recovery"})
        assert len(db.get_all_records("VM")) > 40
        assert db.session != first
