"""Metadata replication (reference §2.1-§2.2): enable / disable, limits, licence, write-through,
and metadata_latest by database generation."""

from __future__ import annotations

from collections.abc import Callable

import pytest
import XenAPI

from sim.xapi.serve import SimHandle
from tests.sim_xapi.world_support import (
    OLDER,
    Ctl,
    at_release,
    introduce,
    latest_metadata_vdis,
    login,
    raw,
    value,
    with_sites,
)

NINE_SRS = """
[replication]
lag_seconds = 600
$primary_site
[[sites.pools]]
name = "prod"
licensed_dr = {licensed}
hosts = [{{ name = "a" }}, {{ name = "b" }}]
srs = [
{srs}
  {{ name = "NFS", type = "nfs", kind = "shared" }},
]
$dr_site
[[sites.pools]]
name = "dr"
licensed_dr = {licensed}
hosts = [{{ name = "c" }}]
"""


def _nine(licensed: bool = True) -> str:
    srs = "\n".join(
        f'  {{ name = "LUN {i}", kind = "replicated", replicate_to = "dr", '
        f"lag_seconds = {0 if i == 1 else 600} }},"
        for i in range(1, 10)
    )
    return with_sites(NINE_SRS.format(srs=srs, licensed=str(licensed).lower()))


def test_enable_creates_the_metadata_vdi_as_xapi_does(mini: SimHandle) -> None:
    """The metadata VDI: name, size, raw sm_config, own pool, latest, and an RW VBD on dom0."""
    prod = login(mini, "primary")
    pool = prod.xenapi.pool.get_all()[0]
    silver = prod.xenapi.SR.get_by_name_label("Silver")[0]
    prod.xenapi.SR.assert_supports_database_replication(silver)
    prod.xenapi.SR.enable_database_replication(silver)
    prod.xenapi.SR.enable_database_replication(silver)  # already replicating: nothing happens
    vdis = [v for v in prod.xenapi.SR.get_VDIs(silver) if prod.xenapi.VDI.get_type(v) == "metadata"]
    assert len(vdis) == 1
    rec = prod.xenapi.VDI.get_record(vdis[0])
    assert rec["name_label"] == "Metadata for DR"
    assert rec["virtual_size"] == "3988783104"
    assert rec["sm_config"] == {"type": "raw"}
    assert rec["metadata_of_pool"] == pool
    assert rec["metadata_latest"] is True
    vbd = prod.xenapi.VBD.get_record(rec["VBDs"][0])
    assert vbd["mode"] == "RW"
    assert prod.xenapi.VM.get_is_control_domain(vbd["VM"]) is True
    assert vdis[0] in prod.xenapi.pool.get_metadata_VDIs(pool)
    assert prod.xenapi.VDI.read_database_pool_uuid(vdis[0]) == ""


def test_disable_destroys_the_metadata_vdi(mini: SimHandle) -> None:
    """SR.disable_database_replication deletes the metadata VDI and its VBD."""
    prod = login(mini, "primary")
    gold = prod.xenapi.SR.get_by_name_label("Gold")[0]
    before = set(prod.xenapi.VBD.get_all())
    prod.xenapi.SR.disable_database_replication(gold)
    assert not [
        v for v in prod.xenapi.SR.get_VDIs(gold) if prod.xenapi.VDI.get_type(v) == "metadata"
    ]
    assert prod.xenapi.pool.get_metadata_VDIs(prod.xenapi.pool.get_all()[0]) == []
    assert len(before - set(prod.xenapi.VBD.get_all())) == 1


def test_unsupported_or_partly_attached_srs_are_refused(mini: SimHandle) -> None:
    """NFS gives SR_OPERATION_NOT_SUPPORTED; an SR with an unplugged PBD gives SR_NO_PBDS."""
    prod = login(mini, "primary")
    nfs = prod.xenapi.SR.get_by_name_label("Scratch NFS")[0]
    with pytest.raises(XenAPI.Failure) as exc:
        prod.xenapi.SR.enable_database_replication(nfs)
    assert exc.value.details == ["SR_OPERATION_NOT_SUPPORTED", nfs]
    silver = prod.xenapi.SR.get_by_name_label("Silver")[0]
    prod.xenapi.PBD.unplug(prod.xenapi.SR.get_PBDs(silver)[1])
    with pytest.raises(XenAPI.Failure) as exc:
        prod.xenapi.SR.assert_supports_database_replication(silver)
    assert exc.value.details == ["SR_NO_PBDS", silver]


def test_at_most_eight_targets(sim_factory: Callable[..., SimHandle]) -> None:
    """With 8 targets active, any further enable gives NO_MORE_REDO_LOGS_ALLOWED."""
    sim = sim_factory(_nine())
    prod = login(sim, "primary")
    srs = [prod.xenapi.SR.get_by_name_label(f"LUN {i}")[0] for i in range(1, 10)]
    for sr in srs[:8]:
        prod.xenapi.SR.enable_database_replication(sr)
    with pytest.raises(XenAPI.Failure) as exc:
        prod.xenapi.SR.enable_database_replication(srs[8])
    assert exc.value.details == ["NO_MORE_REDO_LOGS_ALLOWED"]
    with pytest.raises(XenAPI.Failure) as exc:  # counted before "already replicating"
        prod.xenapi.SR.enable_database_replication(srs[0])
    assert exc.value.details == ["NO_MORE_REDO_LOGS_ALLOWED"]


def test_unlicensed_pool_cannot_enable_or_create_dr_tasks(
    sim_factory: Callable[..., SimHandle],
) -> None:
    """Without the DR feature: LICENCE_RESTRICTION ["DR"] from enable and DR_task.create."""
    sim = sim_factory(_nine(licensed=False))
    prod = login(sim, "primary")
    sr = prod.xenapi.SR.get_by_name_label("LUN 1")[0]
    with pytest.raises(XenAPI.Failure) as exc:
        prod.xenapi.SR.enable_database_replication(sr)
    assert exc.value.details == ["LICENCE_RESTRICTION", "DR"]
    dr = login(sim, "dr")
    row = Ctl(sim.control_url).lun("LUN 1")
    with pytest.raises(XenAPI.Failure) as exc:
        introduce(dr, row)
    assert exc.value.details == ["LICENCE_RESTRICTION", "DR"]


def test_every_write_goes_through_to_the_metadata_lun(
    sim_factory: Callable[..., SimHandle],
) -> None:
    """A change on the primary reaches the DR copy of its database (zero-lag LUN)."""
    sim = sim_factory(_nine())
    ctl = Ctl(sim.control_url)
    prod = login(sim, "primary")
    sr = prod.xenapi.SR.get_by_name_label("LUN 1")[0]
    prod.xenapi.SR.enable_database_replication(sr)
    prod.xenapi.VM_appliance.create({"name_label": "made-after-enable", "name_description": ""})
    ctl.disaster("primary")
    dr = login(sim, "dr")
    introduce(dr, ctl.lun("LUN 1"))
    db = dr.xenapi.VDI.open_database(latest_metadata_vdis(dr)[0])
    names = {a["name_label"] for a in value(raw(dr, "VM_appliance.get_all_records", db)).values()}
    assert "made-after-enable" in names


def test_metadata_latest_marks_the_copy_with_the_highest_generation(
    sim_factory: Callable[..., SimHandle],
) -> None:
    """Two copies of one pool's metadata: only the one with the newer generation is latest
    (what a plug reads on a release whose plug scans)."""
    sim = sim_factory(at_release(_nine(), OLDER))
    ctl = Ctl(sim.control_url)
    prod = login(sim, "primary")
    fast, slow = (prod.xenapi.SR.get_by_name_label(n)[0] for n in ("LUN 1", "LUN 2"))
    prod.xenapi.SR.enable_database_replication(fast)
    prod.xenapi.SR.enable_database_replication(slow)
    ctl("POST", f"/replication/{ctl.lun('LUN 2')['lun']}/sync")
    prod.xenapi.VM_appliance.create({"name_label": "newer", "name_description": ""})
    pool_uuid = prod.xenapi.pool.get_uuid(prod.xenapi.pool.get_all()[0])
    ctl.disaster("primary")
    dr = login(sim, "dr")
    introduce(dr, ctl.lun("LUN 1"))
    introduce(dr, ctl.lun("LUN 2"))
    records = dr.xenapi.VDI.get_all_records_where('field "type"="metadata"')
    latest = {dr.xenapi.SR.get_name_label(r["SR"]): r["metadata_latest"] for r in records.values()}
    assert latest == {"LUN 1": True, "LUN 2": False}
    assert {dr.xenapi.VDI.read_database_pool_uuid(r) for r in records} == {pool_uuid}


def test_a_broken_metadata_lun_is_not_latest_and_raises_alerts(mini: SimHandle, ctl: Ctl) -> None:
    """While the source LUN fails, the own VDI is not latest (METADATA_LUN_BROKEN); then heals."""
    prod = login(mini, "primary")
    gold = prod.xenapi.SR.get_by_name_label("Gold")[0]
    vdi = next(
        v for v in prod.xenapi.SR.get_VDIs(gold) if prod.xenapi.VDI.get_type(v) == "metadata"
    )
    ctl("POST", "/faults", {"kind": "lun", "lun": ctl.lun("Gold")["lun"], "side": "source"})
    prod.xenapi.VM_appliance.create({"name_label": "a write", "name_description": ""})
    assert prod.xenapi.VDI.get_metadata_latest(vdi) is False
    ctl("DELETE", "/faults")
    prod.xenapi.VM_appliance.create({"name_label": "another", "name_description": ""})
    assert prod.xenapi.VDI.get_metadata_latest(vdi) is True
    names = [m["name"] for m in prod.xenapi.message.get_all_records().values()]
    assert names == ["METADATA_LUN_BROKEN", "METADATA_LUN_HEALTHY"]
