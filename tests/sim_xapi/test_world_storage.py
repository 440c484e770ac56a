"""Storage arrays, LUN replication and the SR / PBD calls, through XenAPI and the control API."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Callable

import pytest
import XenAPI

from sim.xapi.serve import SimHandle
from tests.sim_xapi.world_support import (
    OLDER,
    RELEASES,
    ControlError,
    Ctl,
    at_release,
    introduce,
    latest_metadata_vdis,
    login,
    raw,
    value,
    with_sites,
)


def _probe(session: XenAPI.Session, device_config: dict, metadata: bool = True) -> str:
    host = session.xenapi.pool.get_master(session.xenapi.pool.get_all()[0])
    sm = {"metadata": "true"} if metadata else {}
    return session.xenapi.SR.probe(host, device_config, "lvmoiscsi", sm)


def _code(exc: pytest.ExceptionInfo) -> str:
    return exc.value.details[0]


def _foreign_vm_names(session: XenAPI.Session) -> set[str]:
    db = session.xenapi.VDI.open_database(latest_metadata_vdis(session)[0])
    try:
        vms = value(raw(session, "VM.get_all_records", db))
    finally:
        raw(session, "session.logout", db)
    return {v["name_label"] for v in vms.values()}


def test_mirror_cannot_be_probed_or_attached_while_replicating(mini: SimHandle, ctl: Ctl) -> None:
    """A replicating mirror gives SR_BACKEND_FAILURE_47 to SR.probe and to DR_task.create."""
    dr = login(mini, "dr")
    row = ctl.lun("Gold")
    assert row["state"] == "replicating"
    with pytest.raises(XenAPI.Failure) as exc:
        _probe(dr, row["mirror_device_config"])
    assert _code(exc) == "SR_BACKEND_FAILURE_47"
    assert exc.value.details[1] == ""
    with pytest.raises(XenAPI.Failure) as exc:
        introduce(dr, row)
    assert _code(exc) == "SR_BACKEND_FAILURE_47"


def test_promoted_mirror_probes_as_lvm_srlist_with_metadata(mini: SimHandle, ctl: Ctl) -> None:
    """After promote, SR.probe returns the <SRlist> XML with the SR's uuid and metadata found."""
    ctl("POST", f"/replication/{ctl.lun('Gold')['lun']}/promote")
    row = ctl.lun("Gold")
    xml = _probe(login(mini, "dr"), row["mirror_device_config"])
    srs = ET.fromstring(xml).findall("SR")  # noqa: S314 - our own server's answer
    assert [s.findtext("UUID") for s in srs] == [row["sr_uuid"]]
    assert srs[0].findtext("pool_metadata_detected") == "true"
    assert srs[0].findtext("name_label") == "Gold"


def test_vm_created_inside_the_lag_is_missing_at_the_dr_site(mini: SimHandle, ctl: Ctl) -> None:
    """Without a sync, the disaster loses late-vm: the DR copy of the metadata lacks it."""
    assert ctl.lun("Gold")["pending_writes"] > 0
    row = ctl.disaster("primary")[0]
    dr = login(mini, "dr")
    introduce(dr, next(r for r in ctl("GET", "/replication") if r["lun"] == row["lun"]))
    names = _foreign_vm_names(dr)
    assert "app-01" in names
    assert "late-vm" not in names


def test_sync_before_the_disaster_brings_the_late_vm_over(mini: SimHandle, ctl: Ctl) -> None:
    """After `sync`, the mirror has every write, so late-vm is in the DR copy."""
    lun = ctl.lun("Gold")["lun"]
    shipped = ctl("POST", f"/replication/{lun}/sync")
    assert shipped["shipped"] > 0
    assert shipped["pending_writes"] == 0
    ctl.disaster("primary")
    dr = login(mini, "dr")
    introduce(dr, ctl.lun("Gold"))
    assert "late-vm" in _foreign_vm_names(dr)


def test_test_copy_has_its_own_scsi_id_and_the_same_sr(mini: SimHandle, ctl: Ctl) -> None:
    """A test copy is attachable while replication runs, under its own SCSIid, with the SR uuid."""
    lun = ctl.lun("Gold")["lun"]
    row = ctl("POST", f"/replication/{lun}/test-copy")
    copy, mirror = row["test_copy_device_config"], row["mirror_device_config"]
    assert copy["SCSIid"] != mirror["SCSIid"]
    assert row["state"] == "replicating"
    dr = login(mini, "dr")
    xml = _probe(dr, copy)
    assert ET.fromstring(xml).find("SR").findtext("UUID") == row["sr_uuid"]  # noqa: S314
    task = introduce(dr, row, "test_copy")
    with pytest.raises(ControlError) as refused:
        ctl("DELETE", f"/replication/{lun}/test-copy")
    assert refused.value.status == 409
    dr.xenapi.DR_task.destroy(task)
    ctl("DELETE", f"/replication/{lun}/test-copy")
    with pytest.raises(XenAPI.Failure) as exc:
        _probe(dr, copy)
    assert _code(exc) == "SR_BACKEND_FAILURE_107"


@pytest.mark.parametrize("release", RELEASES)
def test_reverse_replicates_the_dr_site_back_to_the_primary(
    sim_factory: Callable[..., SimHandle], release: str
) -> None:
    """After promote and reverse, what the DR pool writes on the LUN reaches the primary LUN
    (its metadata VDI appears there once the SR is scanned; read at plug only before
    CA-379112)."""
    mini = sim_factory(at_release("mini", release))
    ctl = Ctl(mini.control_url)
    lun = ctl.lun("Gold")["lun"]
    with pytest.raises(ControlError) as refused:
        ctl("POST", f"/replication/{lun}/reverse")
    assert refused.value.status == 409
    ctl.disaster("primary")
    dr = login(mini, "dr")
    task = introduce(dr, ctl.lun("Gold"))
    gold = dr.xenapi.DR_task.get_introduced_SRs(task)[0]
    dr.xenapi.SR.enable_database_replication(gold)
    assert ctl("POST", f"/replication/{lun}/reverse")["state"] == "reversed"
    ctl("POST", "/sites/primary/restore")
    dr.xenapi.pool.get_all()  # a write on the DR pool after the reverse
    dr.xenapi.VM_appliance.create({"name_label": "written-at-dr", "name_description": ""})
    prod = login(mini, "primary")
    prod_gold = prod.xenapi.SR.get_by_name_label("Gold")[0]
    master = prod.xenapi.pool.get_master(prod.xenapi.pool.get_all()[0])
    pbds = sorted(
        prod.xenapi.SR.get_PBDs(prod_gold), key=lambda p: prod.xenapi.PBD.get_host(p) != master
    )
    assert not any(prod.xenapi.PBD.get_currently_attached(p) for p in pbds)
    with pytest.raises(XenAPI.Failure) as exc:
        prod.xenapi.PBD.plug(pbds[0])  # the primary LUN is now a read-only replication target
    assert _code(exc) == "SR_BACKEND_FAILURE_47"
    ctl("POST", f"/replication/{lun}/sync")
    ctl("POST", f"/replication/{lun}/promote")  # failback: break the mirror the other way
    for pbd in pbds:
        prod.xenapi.PBD.plug(pbd)
    prod.xenapi.SR.scan(prod_gold)
    dr_pool_uuid = dr.xenapi.pool.get_uuid(dr.xenapi.pool.get_all()[0])
    metadata = prod.xenapi.VDI.get_all_records_where('field "type"="metadata"')
    own = prod.xenapi.pool.get_all()[0]
    foreign = [r for r, v in metadata.items() if v["metadata_of_pool"] != own]
    assert len(foreign) == 1
    read_at_plug = release == OLDER
    assert prod.xenapi.VDI.read_database_pool_uuid(foreign[0]) == (
        dr_pool_uuid if read_at_plug else ""
    )
    assert prod.xenapi.VDI.get_metadata_latest(foreign[0]) is read_at_plug
    db = prod.xenapi.VDI.open_database(foreign[0])
    assert value(raw(prod, "pool.get_uuid", db, value(raw(prod, "pool.get_all", db))[0])) == (
        dr_pool_uuid
    )


def test_failed_lun_gives_backend_failure_47_until_faults_are_cleared(
    mini: SimHandle, ctl: Ctl
) -> None:
    """A `lun` fault on a promoted mirror makes probe fail with 47; clearing faults heals it."""
    lun = ctl.lun("Gold")["lun"]
    ctl("POST", f"/replication/{lun}/promote")
    ctl("POST", "/faults", {"kind": "lun", "lun": lun, "side": "mirror"})
    assert ctl.lun("Gold")["state"] == "failed"
    dr = login(mini, "dr")
    with pytest.raises(XenAPI.Failure) as exc:
        _probe(dr, ctl.lun("Gold")["mirror_device_config"])
    assert _code(exc) == "SR_BACKEND_FAILURE_47"
    ctl("DELETE", "/faults")
    assert ET.fromstring(_probe(dr, ctl.lun("Gold")["mirror_device_config"])).find("SR") is not None  # noqa: S314


def test_probe_errors_name_the_missing_device_config(mini: SimHandle, ctl: Ctl) -> None:
    """No SCSIid gives 107 with the LUN list, a wrong IQN 96, an unknown portal 141."""
    dr = login(mini, "dr")
    dc = dict(ctl.lun("Gold")["mirror_device_config"])
    without = {k: v for k, v in dc.items() if k != "SCSIid"}
    with pytest.raises(XenAPI.Failure) as exc:
        _probe(dr, without)
    assert _code(exc) == "SR_BACKEND_FAILURE_107"
    assert dc["SCSIid"] in exc.value.details[3]
    with pytest.raises(XenAPI.Failure) as exc:
        _probe(dr, {**dc, "targetIQN": "iqn.wrong"})
    assert _code(exc) == "SR_BACKEND_FAILURE_96"
    with pytest.raises(XenAPI.Failure) as exc:
        _probe(dr, {**dc, "target": "192.0.2.1"})
    assert _code(exc) == "SR_BACKEND_FAILURE_141"


def test_pbd_and_sr_lifecycle_rules(mini: SimHandle) -> None:
    """PBD.destroy needs it unplugged, SR.forget no attached PBD; introduce refuses known uuids."""
    prod = login(mini, "primary")
    silver = prod.xenapi.SR.get_by_name_label("Silver")[0]
    pbd = prod.xenapi.SR.get_PBDs(silver)[0]
    with pytest.raises(XenAPI.Failure) as exc:
        prod.xenapi.PBD.destroy(pbd)
    assert exc.value.details == ["OPERATION_NOT_ALLOWED", "PBD is currently attached"]
    with pytest.raises(XenAPI.Failure) as exc:
        prod.xenapi.SR.forget(silver)
    assert exc.value.details == ["SR_HAS_PBD", silver]
    uuid = prod.xenapi.SR.get_uuid(silver)
    with pytest.raises(XenAPI.Failure) as exc:
        prod.xenapi.SR.introduce(uuid, "x", "", "lvmoiscsi", "", True, {})
    assert exc.value.details == ["SR_UUID_EXISTS", uuid]
    rec = prod.xenapi.PBD.get_record(pbd)
    with pytest.raises(XenAPI.Failure) as exc:
        prod.xenapi.PBD.create(
            {"host": rec["host"], "SR": silver, "device_config": rec["device_config"]}
        )
    assert exc.value.details[0] == "PBD_EXISTS"
    for p in prod.xenapi.SR.get_PBDs(silver):
        prod.xenapi.PBD.unplug(p)
    assert not any(
        prod.xenapi.PBD.get_currently_attached(p) for p in prod.xenapi.SR.get_PBDs(silver)
    )
    prod.xenapi.PBD.plug(pbd)
    assert prod.xenapi.PBD.get_currently_attached(pbd) is True


def test_unplug_refuses_while_a_running_vm_uses_the_sr(mini: SimHandle) -> None:
    """PBD.unplug of Gold on a host running a VM from it gives VDI_IN_USE."""
    prod = login(mini, "primary")
    vm = prod.xenapi.VM.get_by_name_label("app-01")[0]
    host = prod.xenapi.VM.get_resident_on(vm)
    gold = prod.xenapi.SR.get_by_name_label("Gold")[0]
    pbd = next(p for p in prod.xenapi.SR.get_PBDs(gold) if prod.xenapi.PBD.get_host(p) == host)
    with pytest.raises(XenAPI.Failure) as exc:
        prod.xenapi.PBD.unplug(pbd)
    assert exc.value.details[0] == "VDI_IN_USE"


def test_rpo_is_the_age_of_the_oldest_write_in_flight(mini: SimHandle, ctl: Ctl) -> None:
    """rpo_seconds is > 0 while writes are in flight, 0 after a sync; lag_seconds is the link's."""
    row = ctl.lun("Gold")
    assert row["lag_seconds"] == 600
    assert row["pending_writes"] > 0
    assert row["rpo_seconds"] >= 0
    synced = ctl("POST", f"/replication/{row['lun']}/sync")
    assert synced["rpo_seconds"] == 0
    assert synced["pending_writes"] == 0


CHAP = with_sites(
    """
$primary_site
[[sites.pools]]
name = "prod"
hosts = [{ name = "a" }]
srs = [{ name = "Gold", kind = "replicated", replicate_to = "dr" }]
[[sites]]
name = "dr"
address_prefix = "127.0.2"
array = { target = "10.20.1.50", iqn = "iqn.x:dr", chap_user = "drhost", chap_password = "s3cret" }
[[sites.pools]]
name = "dr"
hosts = [{ name = "b" }]
"""
)


def test_a_chap_protected_target_refuses_a_login_without_the_secret(
    sim_factory: Callable[..., SimHandle],
) -> None:
    """Wrong or missing CHAP credentials give SR_BACKEND_FAILURE_68; the right ones attach."""
    sim = sim_factory(CHAP)
    ctl = Ctl(sim.control_url)
    row = ctl.disaster("primary")[0]
    dc = row["mirror_device_config"]
    assert dc["chapuser"] == "drhost"
    dr = login(sim, "dr")
    without = {k: v for k, v in dc.items() if not k.startswith("chap")}
    with pytest.raises(XenAPI.Failure) as exc:
        dr.xenapi.DR_task.create("lvmoiscsi", without, [row["sr_uuid"]])
    assert _code(exc) == "SR_BACKEND_FAILURE_68"
    task = dr.xenapi.DR_task.create("lvmoiscsi", dc, [row["sr_uuid"]])
    assert len(dr.xenapi.DR_task.get_introduced_SRs(task)) == 1
    calls = ctl("GET", "/calls")
    assert "s3cret" not in str([c["args"] for c in calls])
