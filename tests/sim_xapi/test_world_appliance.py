"""vApps (reference §3): allowed operations, order groups, delays, partial failure, licence."""

from __future__ import annotations

from collections.abc import Callable

import pytest
import XenAPI

from sim.xapi.serve import SimHandle
from tests.sim_xapi.world_support import Ctl, login, with_sites

UNLICENSED_VAPP = with_sites(
    """
$primary_site
[[sites.pools]]
name = "prod"
licensed_vapp_start = false
hosts = [{ name = "a" }]
srs = [{ name = "NFS", type = "nfs", kind = "shared" }]
appliances = [{ name = "app" }]
[[sites.pools.vms]]
name = "v"
power = "Halted"
appliance = "app"
disks = [{ sr = "NFS" }]
"""
)


def _shop(session: XenAPI.Session) -> tuple[str, dict[str, str]]:
    app = session.xenapi.VM_appliance.get_by_name_label("shop")[0]
    members = {
        session.xenapi.VM.get_name_label(v): v for v in session.xenapi.VM_appliance.get_VMs(app)
    }
    return app, members


def _op_generation(sim: SimHandle, vm: str) -> int:
    """The database generation of the VM's last write (its power operation's end)."""
    return sim.world.pools["prod"].db.mtime("VM", vm)


def test_shutdown_runs_groups_descending_and_start_ascending(mini: SimHandle) -> None:
    """clean_shutdown stops order 1 before order 0; start brings order 0 up before order 1."""
    prod = login(mini, "primary")
    app, vms = _shop(prod)
    assert prod.xenapi.VM_appliance.get_allowed_operations(app) == [
        "clean_shutdown",
        "hard_shutdown",
        "shutdown",
    ]
    prod.xenapi.VM_appliance.clean_shutdown(app)
    assert {prod.xenapi.VM.get_power_state(v) for v in vms.values()} == {"Halted"}
    db_done = _op_generation(mini, vms["shop-db"])
    assert all(_op_generation(mini, vms[w]) < db_done for w in ("shop-web-01", "shop-web-02"))
    assert prod.xenapi.VM_appliance.get_allowed_operations(app) == ["start"]
    prod.xenapi.VM_appliance.start(app, False)
    assert {prod.xenapi.VM.get_power_state(v) for v in vms.values()} == {"Running"}
    db_done = _op_generation(mini, vms["shop-db"])
    assert all(_op_generation(mini, vms[w]) > db_done for w in ("shop-web-01", "shop-web-02"))


def test_start_with_nothing_halted_is_not_allowed(mini: SimHandle) -> None:
    """VM_appliance.start when every member runs gives OPERATION_NOT_ALLOWED with XAPI's text."""
    prod = login(mini, "primary")
    app, _ = _shop(prod)
    with pytest.raises(XenAPI.Failure) as exc:
        prod.xenapi.VM_appliance.start(app, False)
    assert exc.value.details == [
        "OPERATION_NOT_ALLOWED",
        "There are no halted VMs in this appliance.",
    ]
    empty = prod.xenapi.VM_appliance.create({"name_label": "empty", "name_description": ""})
    with pytest.raises(XenAPI.Failure) as exc:
        prod.xenapi.VM_appliance.start(empty, False)
    assert exc.value.details == ["OPERATION_NOT_ALLOWED", "Appliance has no VMs."]
    prod.xenapi.VM_appliance.destroy(empty)
    assert prod.xenapi.VM_appliance.get_by_name_label("empty") == []


def test_a_member_that_fails_to_start_gives_partial_failure(mini: SimHandle, ctl: Ctl) -> None:
    """One member's start error: the others run, the call fails OPERATION_PARTIALLY_FAILED."""
    prod = login(mini, "primary")
    app, vms = _shop(prod)
    prod.xenapi.VM_appliance.hard_shutdown(app)
    ctl("POST", "/faults", {"kind": "vm_start", "vm": "shop-web-01", "error": ["VM_CRASHED"]})
    with pytest.raises(XenAPI.Failure) as exc:
        prod.xenapi.VM_appliance.start(app, False)
    assert exc.value.details == [
        "OPERATION_PARTIALLY_FAILED",
        "VM_appliance.start",
        vms["shop-web-01"],
    ]
    assert prod.xenapi.VM.get_power_state(vms["shop-db"]) == "Running"
    assert prod.xenapi.VM.get_power_state(vms["shop-web-02"]) == "Running"
    assert prod.xenapi.VM.get_power_state(vms["shop-web-01"]) == "Halted"
    assert prod.xenapi.VM_appliance.get_current_operations(app) == {}


def test_start_paused_leaves_members_paused(mini: SimHandle) -> None:
    """VM_appliance.start(paused=true) brings every member to Paused."""
    prod = login(mini, "primary")
    app, vms = _shop(prod)
    prod.xenapi.VM_appliance.shutdown(app)
    prod.xenapi.VM_appliance.start(app, True)
    assert {prod.xenapi.VM.get_power_state(v) for v in vms.values()} == {"Paused"}


def test_vapp_start_needs_its_licence_feature(sim_factory: Callable[..., SimHandle]) -> None:
    """Without VM_appliance_start: LICENCE_RESTRICTION ["VM_appliance_start"]."""
    sim = sim_factory(UNLICENSED_VAPP)
    prod = login(sim, "primary")
    app = prod.xenapi.VM_appliance.get_by_name_label("app")[0]
    with pytest.raises(XenAPI.Failure) as exc:
        prod.xenapi.VM_appliance.start(app, False)
    assert exc.value.details == ["LICENCE_RESTRICTION", "VM_appliance_start"]
