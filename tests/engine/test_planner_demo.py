"""Plans of the demo estate (sim/xapi's scenario with its traps), through the real client."""

from __future__ import annotations

from engine.inventory import Inventory
from engine.planner import PlanOptions, Site, plan


def _sites(world, *, source_reachable=None):
    prod = Inventory.load(world.client("prod"))
    dr = Inventory.load(world.client("dr"))
    return (
        Site("prod", prod, site="primary", reachable=source_reachable),
        Site("dr", dr, site="dr"),
    )


def _plan(world, kind="test-failover", target="all", sites=None, **opts):
    src, dst = sites or _sites(world)
    return plan(
        kind, target, source=src, dest=dst, storage=world.storage(), options=PlanOptions(**opts)
    )


def _names(p, status):
    return {(c.name, c.subject) for c in p.checks if c.status == status}


def test_demo_test_failover_plan_shows_every_trap(sim):
    """The demo's plan leaves out local/NFS VMs, flags the missing VLAN and blocks on HA."""
    world = sim("demo")
    p = _plan(world)
    assert len(p.appliances) == 6
    assert ("storage-local-storage", "build-cache") in _names(p, "warning")
    assert ("storage-not-replicated", "report-01") in _names(p, "warning")
    assert ("network-missing", "Backup VLAN 300") in _names(p, "warning")
    assert ("network-bridge", "VM Network") in _names(p, "ok")
    assert [c.name for c in p.blockers] == ["ha"]
    assert _plan(world, disable_ha=True).blockers == []


def test_demo_payments_vapp_has_three_order_groups_with_delays(sim):
    """payments: databases, then the API tier, then the web tier, with their start delays."""
    world = sim("demo")
    p = _plan(world, target="app:payments", disable_ha=True)
    (app,) = p.appliances
    assert [[vm.name for vm in group] for group in app.order_groups] == [
        ["pay-db-01", "pay-db-02"],
        ["pay-app-01", "pay-app-02", "pay-app-03", "pay-app-04"],
        ["pay-web-01", "pay-web-02"],
    ]
    assert [max(vm.start_delay for vm in g) for g in app.order_groups] == [30, 10, 0]
    assert [(lun.sr_name, lun.action) for lun in p.luns] == [("Gold iSCSI 01", "present_test_copy")]


def test_demo_failover_refuses_split_brain_until_the_site_is_down(sim):
    """An unplanned failover of a live site is refused; after the site fails it is allowed."""
    world = sim("demo")
    live = _plan(world, "failover", target="jump-01")
    assert ("split-brain", "jump-01") in _names(live, "blocker")
    sites = _sites(world)
    world.control("POST", "/sites/primary/fail")
    sites[0].reachable = None  # ask again: the site is gone now
    after = _plan(world, "failover", target="jump-01", sites=sites)
    assert after.blockers == []
    assert not after.source_reachable
    assert after.standalone_vms[0].record_source == "source-pool"


def test_metadata_read_at_the_destination_shows_vms_inside_the_lag(sim):
    """With the test copy attached at DR, the plan reads the replicated metadata itself."""
    world = sim("demo")
    adapter = world.storage()
    gold = next(lun for lun in adapter.state() if lun.name == "Gold iSCSI 01")
    copy = adapter.present_test_copy(gold.lun)
    dr = world.client("dr")
    sr_type = "lvmoiscsi"
    dr_task = dr.run("DR_task.create", sr_type, copy.test_copy_device_config, [gold.sr_uuid])
    for sr in dr.call("DR_task.get_introduced_SRs", dr_task):
        dr.call("SR.scan", sr)  # today's xapi does not scan on plug (docs/xapi-behaviours.md)
    try:
        p = _plan(world, target="app:payments", disable_ha=True)
        assert p.metadata_vdis[0].read
        assert {vm.record_source for vm in p.vms} == {"metadata-vdi"}
        names = {vm.name for vm in p.vms}
        assert "pay-db-01" in names
        assert "pay-app-04" not in names
        assert any(
            c.name == "missing-from-metadata" and c.subject == "pay-app-04" for c in p.warnings
        )
    finally:
        dr.call("DR_task.destroy", dr_task)
        adapter.remove_test_copy(gold.lun)
