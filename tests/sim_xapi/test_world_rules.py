"""sim/xapi's world (storage, lifecycle, vApps, RBAC) against XAPI's rules, one rule a test.

Each test names the rule and the reference section it holds the world to; where a rule comes
from the xen-api source rather than the reference text, the docstring or a comment says which
file.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest
import XenAPI

from sim.xapi.serve import SimHandle
from tests.sim_xapi.task_waits import task_outcome, wait_until
from tests.sim_xapi.world_support import (
    DENIED_TEXT,
    Ctl,
    failure,
    introduce,
    login,
    open_failover,
    value,
    with_sites,
)

EIGHT_PLUS_ONE = """
$primary_site
[[sites.pools]]
name = "prod"
hosts = [{{ name = "a" }}]
srs = [
{srs}
]
$dr_site
[[sites.pools]]
name = "dr"
hosts = [{{ name = "b" }}]
"""

NO_ROOM = with_sites(
    """
$primary_site
[[sites.pools]]
name = "prod"
hosts = [{ name = "a", memory_gb = 16 }, { name = "b", memory_gb = 16 }]
srs = [{ name = "NFS", type = "nfs", kind = "shared" }]
[[sites.pools.vms]]
name = "big"
memory_gb = 32
power = "Halted"
disks = [{ sr = "NFS" }]
"""
)

SUSPENDED = with_sites(
    """
$primary_site
[[sites.pools]]
name = "prod"
metadata_srs = ["Gold"]
hosts = [{ name = "a" }]
networks = [{ name = "net", bridge = "xenbr0" }]
srs = [{ name = "Gold", kind = "replicated", replicate_to = "dr", lag_seconds = 0 }]
[[sites.pools.vms]]
name = "sleeper"
power = "Suspended"
disks = [{ sr = "Gold" }]
nics = ["net"]
$dr_site
[[sites.pools]]
name = "dr"
hosts = [{ name = "b" }]
networks = [{ name = "net", bridge = "xenbr0" }]
"""
)


def _eight_plus_one() -> str:
    srs = "\n".join(
        f'  {{ name = "LUN {i}", kind = "replicated", replicate_to = "dr" }},' for i in range(9)
    )
    return with_sites(EIGHT_PLUS_ONE.format(srs=srs))


def test_with_eight_targets_even_an_existing_one_gives_no_more_redo_logs(
    sim_factory: Callable[..., SimHandle],
) -> None:
    """§2.1: with 8 active targets, enabling one of them again gives NO_MORE_REDO_LOGS_ALLOWED."""
    sim = sim_factory(_eight_plus_one())
    prod = login(sim, "primary")
    srs = [prod.xenapi.SR.get_by_name_label(f"LUN {i}")[0] for i in range(8)]
    for sr in srs:
        prod.xenapi.SR.enable_database_replication(sr)
    with pytest.raises(XenAPI.Failure) as exc:
        prod.xenapi.SR.enable_database_replication(srs[0])
    assert exc.value.details == ["NO_MORE_REDO_LOGS_ALLOWED"]


def test_set_appliance_recomputes_the_appliances_allowed_operations(mini: SimHandle) -> None:
    """§3.2: a Halted VM put into an empty vApp makes `start` allowed on it at once."""
    # xapi_vm.set_appliance updates the old and the new appliance's allowed_operations.
    prod = login(mini, "primary")
    app = prod.xenapi.VM_appliance.create({"name_label": "new", "name_description": ""})
    vm = prod.xenapi.VM.get_by_name_label("halted-vm")[0]
    prod.xenapi.VM.set_appliance(vm, app)
    assert prod.xenapi.VM_appliance.get_allowed_operations(app) == ["start"]
    prod.xenapi.VM.set_appliance(vm, "OpaqueRef:NULL")
    assert prod.xenapi.VM_appliance.get_allowed_operations(app) == []


def test_the_database_session_as_session_to_is_denied_by_rbac(mini: SimHandle, ctl: Ctl) -> None:
    """§2.6: VM.recover with session_to = the read-only DB session: the RBAC recovery error."""
    ctl.disaster_after_sync()
    fo = open_failover(mini, ctl, ["Gold", "Silver"])
    assert failure(fo.recover("app-01", session_to=fo.db)) == [
        "RBAC_PERMISSION_DENIED",
        "VM.recover",
        DENIED_TEXT,
    ]


def test_vm_shutdown_does_not_sleep_the_shutdown_delay(mini: SimHandle) -> None:
    """§3.3: VM.shutdown of a running VM returns once it is Halted, whatever its shutdown_delay."""
    prod = login(mini, "primary")
    vm = prod.xenapi.VM.get_by_name_label("app-01")[0]
    prod.xenapi.VM.set_shutdown_delay(vm, "100000000")
    task = prod.xenapi.Async.VM.shutdown(vm)
    # 2 s bounds a wait that takes milliseconds once fixed (a 15 s shutdown at FAST speed).
    ended = wait_until(
        prod, [f"task/{task}"], lambda: prod.xenapi.task.get_status(task) != "pending", 2.0
    )
    assert ended
    assert prod.xenapi.VM.get_power_state(vm) == "Halted"


def test_start_without_room_anywhere_is_not_enough_free_memory(
    sim_factory: Callable[..., SimHandle],
) -> None:
    """§1.8: a VM bigger than every host: VM.start gives HOST_NOT_ENOUGH_FREE_MEMORY."""
    # xapi_vm_helpers.choose_host_for_vm_no_wlb retries placement ignoring memory, and the
    # chosen host's memory check then fails.
    sim = sim_factory(NO_ROOM)
    prod = login(sim, "primary")
    vm = prod.xenapi.VM.get_by_name_label("big")[0]
    with pytest.raises(XenAPI.Failure) as exc:
        prod.xenapi.VM.start(vm, False, False)
    assert exc.value.details[0] == "HOST_NOT_ENOUGH_FREE_MEMORY"
    assert int(exc.value.details[1]) > int(exc.value.details[2])


def test_a_suspended_vm_has_a_suspend_vdi_and_is_recovered_suspended(
    sim_factory: Callable[..., SimHandle],
) -> None:
    """§2.6: a Suspended VM on a replicated SR is recovered Suspended with its suspend VDI."""
    sim = sim_factory(SUSPENDED)
    ctl = Ctl(sim.control_url)
    prod = login(sim, "primary")
    src = prod.xenapi.VM.get_by_name_label("sleeper")[0]
    assert prod.xenapi.VM.get_suspend_VDI(src) != "OpaqueRef:NULL"
    ctl.disaster_after_sync()
    fo = open_failover(sim, ctl, ["Gold"])
    value(fo.recover("sleeper"))
    vm = fo.dr.xenapi.VM.get_by_name_label("sleeper")[0]
    assert fo.dr.xenapi.VM.get_power_state(vm) == "Suspended"
    assert fo.dr.xenapi.VM.get_suspend_VDI(vm) != "OpaqueRef:NULL"
    # §7.13: starting a recovered suspended VM (as XenCenter does) is a power-state error.
    with pytest.raises(XenAPI.Failure) as exc:
        fo.dr.xenapi.VM.start(vm, False, False)
    assert exc.value.details == ["VM_BAD_POWER_STATE", vm, "halted", "suspended"]


def test_an_attached_sr_does_not_allow_forget(mini: SimHandle) -> None:
    """§5.3: `forget` is not allowed while a PBD is attached, and is once all are unplugged."""
    prod = login(mini, "primary")
    silver = prod.xenapi.SR.get_by_name_label("Silver")[0]
    assert "forget" not in prod.xenapi.SR.get_allowed_operations(silver)
    for pbd in prod.xenapi.SR.get_PBDs(silver):
        prod.xenapi.PBD.unplug(pbd)
    assert "forget" in prod.xenapi.SR.get_allowed_operations(silver)


def test_templates_snapshots_and_dom0_cannot_join_a_vapp(mini: SimHandle) -> None:
    """xapi_vm.set_appliance: OPERATION_NOT_ALLOWED for dom0, templates and snapshots."""
    # From xen-api ocaml/xapi/xapi_vm.ml set_appliance; the reference does not spell it out.
    prod = login(mini, "primary")
    app = prod.xenapi.VM_appliance.get_by_name_label("shop")[0]
    records = prod.xenapi.VM.get_all_records()
    dom0 = next(r for r, v in records.items() if v["is_control_domain"])
    template = next(r for r, v in records.items() if v["is_a_template"])
    for vm in (dom0, template):
        with pytest.raises(XenAPI.Failure) as exc:
            prod.xenapi.VM.set_appliance(vm, app)
        assert exc.value.details == [
            "OPERATION_NOT_ALLOWED",
            "Control domains, templates and snapshots cannot be assigned to appliances.",
        ]


def test_a_detached_required_sr_is_named_by_the_target_pools_ref(mini: SimHandle, ctl: Ctl) -> None:
    """xapi_vm_helpers: VM_REQUIRES_SR for a present but detached SR carries the local SR ref."""
    # ocaml/xapi/xapi_vm_helpers.ml assert_can_be_recovered looks the SR up with session_to;
    # reference §2.7 says foreign refs in both cases (an erratum; XenCenter's 2022 fix for
    # "the required SR is present in the pool but detached" fits the source).
    ctl.disaster_after_sync()
    fo = open_failover(mini, ctl, ["Gold"])
    dr = fo.dr
    gold = dr.xenapi.SR.get_by_name_label("Gold")[0]
    for pbd in dr.xenapi.SR.get_PBDs(gold):
        dr.xenapi.PBD.unplug(pbd)
    vm = fo.vms["app-01"]
    assert failure(fo.call("VM.assert_can_be_recovered", vm, dr._session)) == [
        "VM_REQUIRES_SR",
        vm,
        gold,
    ]


def test_vapp_create_and_destroy_have_async_forms(mini: SimHandle) -> None:
    """§1.7: Async.VM_appliance.create returns a task whose result is the new vApp's ref."""
    prod = login(mini, "primary")
    task = prod.xenapi.Async.VM_appliance.create({"name_label": "a", "name_description": ""})
    rec = task_outcome(prod, task)
    assert rec["status"] == "success"
    app = rec["result"].removeprefix("<value>").removesuffix("</value>")
    assert prod.xenapi.VM_appliance.get_name_label(app) == "a"
    assert task_outcome(prod, prod.xenapi.Async.VM_appliance.destroy(app))["status"] == "success"


def test_start_with_storage_attached_nowhere_is_no_hosts_available(mini: SimHandle) -> None:
    """xapi placement: SR attached nowhere -> VM.start NO_HOSTS_AVAILABLE, start_on REQUIRES_SR."""
    # xapi_vm_placement.select_host swallows each host's own error (reference §7.13 lists
    # both codes without saying which call gives which).
    prod = login(mini, "primary")
    vm = prod.xenapi.VM.get_by_name_label("halted-vm")[0]
    silver = prod.xenapi.SR.get_by_name_label("Silver")[0]
    for pbd in prod.xenapi.SR.get_PBDs(silver):
        prod.xenapi.PBD.unplug(pbd)
    with pytest.raises(XenAPI.Failure) as exc:
        prod.xenapi.VM.start_on(vm, prod.xenapi.host.get_all()[0], False, False)
    assert exc.value.details == ["VM_REQUIRES_SR", vm, silver]
    with pytest.raises(XenAPI.Failure) as exc:
        prod.xenapi.VM.start(vm, False, False)
    assert exc.value.details == ["NO_HOSTS_AVAILABLE"]


def test_vapp_settings_of_a_vm_have_async_forms(mini: SimHandle) -> None:
    """datamodel_vm: Async.VM.set_order and its siblings return tasks that succeed."""
    prod = login(mini, "primary")
    vm = prod.xenapi.VM.get_by_name_label("halted-vm")[0]
    for call, value_ in (
        (prod.xenapi.Async.VM.set_order, "2"),
        (prod.xenapi.Async.VM.set_start_delay, "3"),
        (prod.xenapi.Async.VM.set_shutdown_delay, "4"),
        (prod.xenapi.Async.VM.set_appliance, "OpaqueRef:NULL"),
    ):
        assert task_outcome(prod, call(vm, value_))["status"] == "success"
    assert prod.xenapi.VM.get_order(vm) == "2"


def test_open_database_needs_the_sr_attached_on_the_coordinator(mini: SimHandle, ctl: Ctl) -> None:
    """§2.2: a metadata VDI on a detached SR cannot be opened: COULD_NOT_IMPORT_DATABASE."""
    ctl.disaster_after_sync()
    dr = login(mini, "dr")
    introduce(dr, ctl.lun("Gold"))
    gold = dr.xenapi.SR.get_by_name_label("Gold")[0]
    vdi = next(v for v in dr.xenapi.SR.get_VDIs(gold) if dr.xenapi.VDI.get_type(v) == "metadata")
    for pbd in dr.xenapi.SR.get_PBDs(gold):
        dr.xenapi.PBD.unplug(pbd)
    with pytest.raises(XenAPI.Failure) as exc:
        dr.xenapi.VDI.open_database(vdi)
    assert exc.value.details[0] == "COULD_NOT_IMPORT_DATABASE"
