"""DR_task.create / destroy (reference §2.3-§2.4, §7.6-§7.7)."""

from __future__ import annotations

import pytest
import XenAPI

from sim.xapi.serve import SimHandle
from tests.sim_xapi.world_support import Ctl, introduce, latest_metadata_vdis, login, raw


@pytest.fixture
def promoted(mini: SimHandle, ctl: Ctl) -> list[dict]:
    """The mini estate after the primary site is lost and its LUNs promoted (synced first)."""
    return ctl.disaster_after_sync()


def _row(rows: list[dict], name: str) -> dict:
    return next(r for r in rows if r["name"] == name)


def test_create_introduces_and_plugs_on_every_host(mini: SimHandle, promoted: list[dict]) -> None:
    """The whitelisted SR is introduced with a plugged PBD per host and introduced_by set."""
    dr = login(mini, "dr")
    task = introduce(dr, _row(promoted, "Gold"))
    srs = dr.xenapi.DR_task.get_introduced_SRs(task)
    assert len(srs) == 1
    rec = dr.xenapi.SR.get_record(srs[0])
    assert rec["uuid"] == _row(promoted, "Gold")["sr_uuid"]
    assert rec["introduced_by"] == task
    assert rec["shared"] is True
    assert len(rec["PBDs"]) == 2
    assert all(dr.xenapi.PBD.get_currently_attached(p) for p in rec["PBDs"])
    assert len(latest_metadata_vdis(dr)) == 1


def test_empty_or_foreign_whitelist_introduces_nothing(
    mini: SimHandle, promoted: list[dict]
) -> None:
    """An empty whitelist, or uuids the probe did not find, introduce no SR (and do not fail)."""
    dr = login(mini, "dr")
    dc = _row(promoted, "Gold")["mirror_device_config"]
    before = set(dr.xenapi.SR.get_all())
    for whitelist in ([], ["00000000-0000-0000-0000-000000000000"]):
        task = dr.xenapi.DR_task.create("lvmoiscsi", dc, whitelist)
        assert dr.xenapi.DR_task.get_introduced_SRs(task) == []
    assert set(dr.xenapi.SR.get_all()) == before


def test_an_sr_already_known_is_skipped(mini: SimHandle, promoted: list[dict]) -> None:
    """A second DR_task for the same SR introduces nothing and leaves the first one's SR alone."""
    dr = login(mini, "dr")
    first = introduce(dr, _row(promoted, "Gold"))
    second = introduce(dr, _row(promoted, "Gold"))
    assert dr.xenapi.DR_task.get_introduced_SRs(second) == []
    sr = dr.xenapi.DR_task.get_introduced_SRs(first)[0]
    assert dr.xenapi.SR.get_introduced_by(sr) == first


def test_types_without_sr_metadata_are_refused(mini: SimHandle, promoted: list[dict]) -> None:
    """DR_task.create of type nfs gives OPERATION_NOT_ALLOWED naming the type."""
    dr = login(mini, "dr")
    with pytest.raises(XenAPI.Failure) as exc:
        dr.xenapi.DR_task.create("nfs", {"server": "x", "serverpath": "/y"}, [])
    assert exc.value.details == [
        "OPERATION_NOT_ALLOWED",
        "Disaster recovery not supported on SRs of type nfs",
    ]


def test_partial_failure_rolls_the_sr_back_and_leaves_the_task(
    mini: SimHandle, ctl: Ctl, promoted: list[dict]
) -> None:
    """A host that cannot plug fails the call; the SR is forgotten but the DR_task stays."""
    dr = login(mini, "dr")
    member = mini.endpoints["sites"]["dr"]["members"][0].split("//")[1].split(":")[0]
    ctl("POST", f"/hosts/{member}/fail")
    tasks_before = set(dr.xenapi.DR_task.get_all())
    with pytest.raises(XenAPI.Failure) as exc:
        introduce(dr, _row(promoted, "Gold"))
    assert exc.value.details[0] == "HOST_OFFLINE"
    left = set(dr.xenapi.DR_task.get_all()) - tasks_before
    assert len(left) == 1
    assert dr.xenapi.DR_task.get_introduced_SRs(left.pop()) == []
    assert dr.xenapi.SR.get_by_name_label("Gold") == []
    assert all(dr.xenapi.PBD.get_SR(p) in dr.xenapi.SR.get_all() for p in dr.xenapi.PBD.get_all())


def test_destroy_detaches_and_forgets_what_is_still_introduced(
    mini: SimHandle, promoted: list[dict]
) -> None:
    """DR_task.destroy unplugs and forgets its SRs (and their PBDs), then disappears."""
    dr = login(mini, "dr")
    pbds_before = set(dr.xenapi.PBD.get_all())
    task = introduce(dr, _row(promoted, "Gold"))
    dr.xenapi.DR_task.destroy(task)
    assert dr.xenapi.SR.get_by_name_label("Gold") == []
    assert set(dr.xenapi.PBD.get_all()) == pbds_before
    assert task not in dr.xenapi.DR_task.get_all()


def test_recovery_clears_introduced_by_so_destroy_keeps_the_sr(
    mini: SimHandle, promoted: list[dict]
) -> None:
    """After a VM is recovered from it, the SR survives DR_task.destroy, still attached."""
    dr = login(mini, "dr")
    task = introduce(dr, _row(promoted, "Gold"))
    sr = dr.xenapi.DR_task.get_introduced_SRs(task)[0]
    db = dr.xenapi.VDI.open_database(latest_metadata_vdis(dr)[0])
    vm = raw(dr, "VM.get_by_name_label", db, "app-01")["Value"][0]
    assert raw(dr, "VM.recover", db, vm, dr._session, False)["Status"] == "Success"
    raw(dr, "session.logout", db)
    assert dr.xenapi.SR.get_introduced_by(sr) == "OpaqueRef:NULL"
    dr.xenapi.DR_task.destroy(task)
    assert sr in dr.xenapi.SR.get_all()
    assert any(dr.xenapi.PBD.get_currently_attached(p) for p in dr.xenapi.SR.get_PBDs(sr))


def test_fibre_channel_dr_task_finds_the_lun_by_scsi_id(
    mini: SimHandle, promoted: list[dict]
) -> None:
    """DR_task.create of type lvmohba needs only the SCSIid of the promoted mirror."""
    dr = login(mini, "dr")
    row = _row(promoted, "Gold")
    task = dr.xenapi.DR_task.create(
        "lvmohba", {"SCSIid": row["mirror_device_config"]["SCSIid"]}, [row["sr_uuid"]]
    )
    srs = dr.xenapi.DR_task.get_introduced_SRs(task)
    assert [dr.xenapi.SR.get_uuid(s) for s in srs] == [row["sr_uuid"]]
    assert dr.xenapi.SR.get_type(srs[0]) == "lvmohba"
