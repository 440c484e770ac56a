"""What a plan recovers: targets, vApps with their order groups, standalone VMs, power action."""

from __future__ import annotations

import pytest

from engine.errors import TargetNotFound
from engine.planner import PlanOptions, plan
from tests.engine.estate import build_estate


def _plan(estate, kind="test-failover", target="all", **opts):
    src, dst = estate.sites()
    return plan(
        kind, target, source=src, dest=dst, storage=estate.luns, options=PlanOptions(**opts)
    )


def test_all_plans_every_vapp_in_order_groups_and_every_standalone_vm(core_sim):
    """'all' recovers the vApp with one group per order (ascending) and the standalone VMs."""
    estate = build_estate(core_sim, prod_vms=6)
    p = _plan(estate)
    assert [a.name for a in p.appliances] == ["vApp payments"]
    groups = p.appliances[0].order_groups
    assert [[vm.name for vm in g] for g in groups] == [["vm-00000"], ["vm-00001"], ["vm-00002"]]
    assert groups[0][0].start_delay == 10
    assert sorted(v.name for v in p.standalone_vms) == ["vm-00003", "vm-00004", "vm-00005"]
    assert p.blockers == []


def test_power_action_defaults_per_kind_and_can_be_chosen(core_sim):
    """Test failover starts paused by default, failover starts, and leave-off is honoured."""
    estate = build_estate(core_sim)
    assert _plan(estate).power_after == "start-paused"
    assert _plan(estate, "failover", planned=True).power_after == "start"
    chosen = _plan(estate, power_after="leave-off")
    assert chosen.power_after == "leave-off"
    assert all(vm.power_after == "leave-off" for vm in chosen.vms)


def test_a_named_vm_and_a_named_vapp_are_planned_alone(core_sim):
    """Naming a standalone VM and the vApp plans exactly those."""
    estate = build_estate(core_sim)
    p = _plan(estate, target="vm:vm-00004, app:vApp payments")
    assert [v.name for v in p.standalone_vms] == ["vm-00004"]
    assert [a.name for a in p.appliances] == ["vApp payments"]


def test_naming_a_vapp_member_recovers_its_whole_vapp(core_sim):
    """A member VM cannot be recovered alone: its vApp is planned and a warning says so."""
    estate = build_estate(core_sim)
    p = _plan(estate, target="vm-00001")
    assert [a.name for a in p.appliances] == ["vApp payments"]
    assert p.standalone_vms == []
    assert any(c.name == "vapp-whole" and "vApp payments" in c.message for c in p.warnings)


def test_unknown_target_says_how_to_list_what_exists(core_sim):
    """A target naming nothing raises TargetNotFound pointing at `drbot status`."""
    estate = build_estate(core_sim)
    with pytest.raises(TargetNotFound) as err:
        _plan(estate, target="no-such-vm")
    assert "no-such-vm" in str(err.value)
    assert "drbot status" in str(err.value)


def test_ambiguous_name_asks_for_the_uuid(core_sim):
    """Two VMs with one name are refused with a request for the uuid."""
    estate = build_estate(core_sim)
    estate.prod.db.set("VM", estate.vm("vm-00005"), name_label="vm-00004")
    with pytest.raises(TargetNotFound) as err:
        _plan(estate, target="vm-00004")
    assert "uuid" in str(err.value)


def test_empty_target_and_unknown_kind_are_refused(core_sim):
    """An empty target and an unknown kind each get a message saying what to use."""
    estate = build_estate(core_sim)
    with pytest.raises(TargetNotFound, match="all"):
        _plan(estate, target=" , ")
    with pytest.raises(TargetNotFound, match="test-failover"):
        _plan(estate, kind="failsideways")


def test_vm_by_uuid(core_sim):
    """A VM can be named by its uuid."""
    estate = build_estate(core_sim)
    uuid = estate.prod.db.get("VM", estate.vm("vm-00003"))["uuid"]
    p = _plan(estate, target=uuid)
    assert [v.uuid for v in p.standalone_vms] == [uuid]


def test_halted_vms_stay_off_when_mirroring_power_state(core_sim):
    """With mirror_power_state, a VM halted at the source is planned leave-off; others start."""
    estate = build_estate(core_sim)  # build_pool: vm-00002 and vm-00005 are Halted
    p = _plan(estate, "failover", planned=True, mirror_power_state=True)
    power = {vm.name: vm.power_after for vm in p.vms}
    assert power["vm-00005"] == "leave-off"
    assert power["vm-00003"] == "start"
    default = _plan(estate, "failover", planned=True)
    assert {vm.power_after for vm in default.vms} == {"start"}


def test_suspended_vms_are_left_suspended(core_sim):
    """A VM suspended at the source is not started after recovery, and a warning says so."""
    estate = build_estate(core_sim)
    estate.prod.db.set("VM", estate.vm("vm-00004"), power_state="Suspended")
    p = _plan(estate, "failover", planned=True)
    vm = next(v for v in p.vms if v.name == "vm-00004")
    assert vm.power_after == "leave-off"
    assert any(c.name == "suspended" and c.subject == "vm-00004" for c in p.warnings)
