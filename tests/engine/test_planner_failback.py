"""Failback plans: from the DR pool back to the original pool, after a failover."""

from __future__ import annotations

from engine.planner import PlanOptions, Site, plan
from tests.engine.estate import build_estate


def _after_failover(estate, names=("vm-00003", "vm-00004")):
    """Make the DR pool look as a failover leaves it: the mirror SR attached, the VMs running
    there with their version bumped, and the DR pool's own metadata replicated onto that SR."""
    prod_db, dr_db = estate.prod.db, estate.dr.db
    sr_rec = prod_db.get("SR", estate.prod.refs["shared_sr"])
    sr = dr_db.create(
        "SR",
        {
            "uuid": sr_rec["uuid"],
            "name_label": sr_rec["name_label"],
            "type": "lvmoiscsi",
            "shared": True,
        },
    )
    for host in estate.dr.refs["hosts"]:
        dr_db.create("PBD", {"SR": sr, "host": host, "currently_attached": True})
    net = estate.dr.refs["networks"][0]
    for name in names:
        rec = prod_db.get("VM", estate.vm(name))
        vm = dr_db.create(
            "VM",
            {
                "uuid": rec["uuid"],
                "name_label": name,
                "version": rec["version"] + 1,
                "power_state": "Running",
                "memory_static_max": rec["memory_static_max"],
            },
        )
        vdi = dr_db.create("VDI", {"name_label": f"{name} disk", "SR": sr})
        dr_db.create("VBD", {"VM": vm, "VDI": vdi, "type": "Disk"})
        dr_db.create("VIF", {"VM": vm, "network": net, "device": "0"})
    dr_db.create(
        "VDI",
        {
            "name_label": "Metadata for DR",
            "type": "metadata",
            "SR": sr,
            "metadata_of_pool": estate.dr.refs["pool"],
            "metadata_latest": True,
        },
    )
    prod_db.set("VM", estate.vm("vm-00003"), power_state="Halted")
    promoted = [estate.luns[0].model_copy(update={"state": "promoted"})]
    return promoted


def _failback(estate, luns, **opts):
    estate.reload()
    return plan(
        "failback",
        "all",
        source=Site("dr", estate.dr_inv, site="dr"),
        dest=Site("prod", estate.prod_inv, site="prod"),
        storage=luns,
        options=PlanOptions(**opts),
    )


def test_failback_brings_back_only_the_failed_over_vms(core_sim):
    """The DR pool's own VMs stay; the failed-over ones go back with the LUN reversed."""
    estate = build_estate(core_sim)
    luns = _after_failover(estate)
    p = _failback(estate, luns)
    assert sorted(vm.name for vm in p.vms) == ["vm-00003", "vm-00004"]
    assert [(lun.lun, lun.action) for lun in p.luns] == [("lun-1", "reverse")]
    assert p.power_after == "start"
    assert p.metadata_vdis[0].pool_name == "dr"


def test_failback_applies_the_version_rule_to_the_original_copies(core_sim):
    """The halted originals (older) are replaced; one running at the primary blocks."""
    estate = build_estate(core_sim)
    luns = _after_failover(estate)
    p = _failback(estate, luns)
    by_name = {vm.name: vm for vm in p.vms}
    assert by_name["vm-00003"].existing_in_dest == "older"
    blockers = {(c.name, c.subject) for c in p.blockers}
    assert ("existing-running", "vm-00004") in blockers
    assert ("existing-replaced", "vm-00003") in {(c.name, c.subject) for c in p.warnings}


def test_failback_needs_promoted_luns_and_dr_metadata(core_sim):
    """A LUN still replicating toward DR, or a DR pool without metadata, blocks a failback."""
    estate = build_estate(core_sim)
    luns = _after_failover(estate)
    still = [luns[0].model_copy(update={"state": "replicating"})]
    assert any(c.name == "lun-state" for c in _failback(estate, still).blockers)
    for ref in estate.dr.db.where("VDI", type="metadata"):
        estate.dr.db.delete("VDI", ref)
    assert any(c.name == "metadata" for c in _failback(estate, luns).blockers)
