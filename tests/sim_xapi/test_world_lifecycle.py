"""VM power operations, placement, xenopsd's worker pool, and the faults of the world."""

from __future__ import annotations

from collections.abc import Callable

import pytest
import XenAPI

from sim.xapi.serve import SimHandle
from tests.sim_xapi.world_support import Ctl, client, failure, login, raw, with_sites

SMALL_HOSTS = """
[scenario]
xenopsd_workers = 2
[latency]
vm_start = 3000
$primary_site
[[sites.pools]]
name = "prod"
hosts = [{{ name = "a", memory_gb = {memory} }}]
srs = [{{ name = "NFS", type = "nfs", kind = "shared" }}]
[[sites.pools.vms]]
name = "vm-{{n}}"
count = {count}
memory_gb = {vm_memory}
power = "Halted"
disks = [{{ sr = "NFS" }}]
"""


def _small(memory: float = 64, count: int = 6, vm_memory: float = 2) -> str:
    return with_sites(SMALL_HOSTS.format(memory=memory, count=count, vm_memory=vm_memory))


def _wait_tasks(session: XenAPI.Session, tasks: list[str]) -> dict[str, str]:
    """Wait (event.from, bounded) until the tasks leave `pending`; -> status per task."""
    token = ""
    status = {t: "pending" for t in tasks}
    for _ in range(200):
        if all(s != "pending" for s in status.values()):
            return status
        events = getattr(session.xenapi.event, "from")(["task"], token, 5.0)
        token = events["token"]
        for ev in events["events"]:
            if ev["ref"] in status and "snapshot" in ev:
                status[ev["ref"]] = ev["snapshot"]["status"]
    raise AssertionError(f"tasks still pending: {status}")


def test_start_places_the_vm_and_takes_its_memory(mini: SimHandle) -> None:
    """VM.start runs a Halted VM on a live host and its memory leaves host_metrics.memory_free."""
    prod = login(mini, "primary")
    vm = prod.xenapi.VM.get_by_name_label("halted-vm")[0]
    free_before = {
        h: int(prod.xenapi.host_metrics.get_memory_free(prod.xenapi.host.get_metrics(h)))
        for h in prod.xenapi.host.get_all()
    }
    prod.xenapi.VM.start(vm, False, False)
    rec = prod.xenapi.VM.get_record(vm)
    assert rec["power_state"] == "Running"
    host = rec["resident_on"]
    assert vm in prod.xenapi.host.get_resident_VMs(host)
    free = int(prod.xenapi.host_metrics.get_memory_free(prod.xenapi.host.get_metrics(host)))
    assert free_before[host] - free == int(rec["memory_static_max"]) + int(rec["memory_overhead"])
    assert all(prod.xenapi.VBD.get_currently_attached(b) for b in rec["VBDs"])


def test_power_state_errors_use_xapis_words(mini: SimHandle) -> None:
    """Starting a running VM, cleanly stopping a halted one, destroying a running one fail."""
    prod = login(mini, "primary")
    running = prod.xenapi.VM.get_by_name_label("app-01")[0]
    halted = prod.xenapi.VM.get_by_name_label("halted-vm")[0]
    with pytest.raises(XenAPI.Failure) as exc:
        prod.xenapi.VM.start(running, False, False)
    assert exc.value.details == ["VM_BAD_POWER_STATE", running, "halted", "running"]
    with pytest.raises(XenAPI.Failure) as exc:
        prod.xenapi.VM.clean_shutdown(halted)
    assert exc.value.details == ["VM_BAD_POWER_STATE", halted, "running", "halted"]
    with pytest.raises(XenAPI.Failure) as exc:
        prod.xenapi.VM.destroy(running)
    assert exc.value.details == ["VM_BAD_POWER_STATE", running, "halted", "running"]
    template = next(r for r, v in prod.xenapi.VM.get_all_records().items() if v["is_a_template"])
    with pytest.raises(XenAPI.Failure) as exc:
        prod.xenapi.VM.start(template, False, False)
    assert exc.value.details == ["VM_IS_TEMPLATE", template]


def test_shutdowns_and_destroy_keep_the_disks(mini: SimHandle) -> None:
    """clean_shutdown halts; destroy removes VM, VBDs and VIFs but leaves its VDIs."""
    prod = login(mini, "primary")
    vm = prod.xenapi.VM.get_by_name_label("app-01")[0]
    vdis = [
        prod.xenapi.VBD.get_VDI(b)
        for b in prod.xenapi.VM.get_VBDs(vm)
        if prod.xenapi.VBD.get_type(b) == "Disk"
    ]
    prod.xenapi.VM.clean_shutdown(vm)
    assert prod.xenapi.VM.get_power_state(vm) == "Halted"
    assert prod.xenapi.VM.get_resident_on(vm) == "OpaqueRef:NULL"
    prod.xenapi.VM.destroy(vm)
    assert prod.xenapi.VM.get_by_name_label("app-01") == []
    assert all(v in prod.xenapi.VDI.get_all() for v in vdis)
    web = prod.xenapi.VM.get_by_name_label("shop-web-01")[0]
    prod.xenapi.VM.hard_shutdown(web)
    assert prod.xenapi.VM.get_power_state(web) == "Halted"


def test_no_room_gives_not_enough_memory_and_no_storage_no_hosts(
    sim_factory: Callable[..., SimHandle],
) -> None:
    """Too big: HOST_NOT_ENOUGH_FREE_MEMORY; no storage: NO_HOSTS_AVAILABLE or VM_REQUIRES_SR."""
    sim = sim_factory(_small(memory=16, count=2, vm_memory=32))
    prod = login(sim, "primary")
    vm = prod.xenapi.VM.get_by_name_label("vm-01")[0]
    with pytest.raises(XenAPI.Failure) as exc:
        prod.xenapi.VM.start(vm, False, False)
    assert exc.value.details[0] == "HOST_NOT_ENOUGH_FREE_MEMORY"
    assert int(exc.value.details[1]) > int(exc.value.details[2])
    host = prod.xenapi.host.get_all()[0]
    with pytest.raises(XenAPI.Failure) as exc:
        prod.xenapi.VM.start_on(vm, host, False, False)
    assert exc.value.details[0] == "HOST_NOT_ENOUGH_FREE_MEMORY"
    nfs = prod.xenapi.SR.get_by_name_label("NFS")[0]
    for pbd in prod.xenapi.SR.get_PBDs(nfs):
        prod.xenapi.PBD.unplug(pbd)
    with pytest.raises(XenAPI.Failure) as exc:
        prod.xenapi.VM.start(vm, False, False)
    assert exc.value.details == ["NO_HOSTS_AVAILABLE"]
    with pytest.raises(XenAPI.Failure) as exc:
        prod.xenapi.VM.start_on(vm, host, False, False)
    assert exc.value.details == ["VM_REQUIRES_SR", vm, nfs]


def test_a_host_runs_at_most_its_xenopsd_workers_at_once(
    sim_factory: Callable[..., SimHandle],
) -> None:
    """Six concurrent starts on a host with 2 workers: never more than 2 boots at a time."""
    sim = sim_factory(_small(count=6), speed=10_000)
    prod = login(sim, "primary")
    tasks = [
        prod.xenapi.Async.VM.start(vm, False, False)
        for vm in prod.xenapi.VM.get_all()
        if prod.xenapi.VM.get_power_state(vm) == "Halted"
        and not prod.xenapi.VM.get_is_a_template(vm)
    ]
    assert len(tasks) == 6
    assert set(_wait_tasks(prod, tasks).values()) == {"success"}
    host = sim.world.pools["prod"].hosts[0]
    assert host.peak == 2
    assert host.busy == 0


def test_injected_start_failure_fails_with_the_chosen_error(mini: SimHandle, ctl: Ctl) -> None:
    """A vm_start fault makes VM.start fail with its error, `times` times, then starts work."""
    prod = login(mini, "primary")
    vm = prod.xenapi.VM.get_by_name_label("halted-vm")[0]
    ctl(
        "POST",
        "/faults",
        {"kind": "vm_start", "vm": "halted-vm", "error": ["VM_CRASHED", vm], "times": 1},
    )
    with pytest.raises(XenAPI.Failure) as exc:
        prod.xenapi.VM.start(vm, False, False)
    assert exc.value.details == ["VM_CRASHED", vm]
    assert prod.xenapi.VM.get_power_state(vm) == "Halted"
    prod.xenapi.VM.start(vm, False, False)
    assert prod.xenapi.VM.get_power_state(vm) == "Running"


def test_stalled_task_stays_pending_until_cancelled(mini: SimHandle, ctl: Ctl) -> None:
    """A task_stall fault holds Async.VM.start; task.cancel ends it `cancelled`; clearing frees."""
    prod = login(mini, "primary")
    vm = prod.xenapi.VM.get_by_name_label("halted-vm")[0]
    ctl("POST", "/faults", {"kind": "task_stall", "method": "VM.start"})
    task = prod.xenapi.Async.VM.start(vm, False, False)
    assert prod.xenapi.task.get_status(task) == "pending"
    prod.xenapi.task.cancel(task)
    assert _wait_tasks(prod, [task]) == {task: "cancelled"}
    assert prod.xenapi.VM.get_power_state(vm) == "Halted"
    ctl("DELETE", "/faults")
    task = prod.xenapi.Async.VM.start(vm, False, False)
    assert _wait_tasks(prod, [task]) == {task: "success"}


def test_failed_host_and_site_refuse_connections(mini: SimHandle, ctl: Ctl) -> None:
    """A failed host refuses connections, a failed site too; restoring brings them back."""
    ep = mini.endpoints["sites"]["primary"]
    member = ep["members"][0]
    address = member.split("//")[1].split(":")[0]
    ctl("POST", f"/hosts/{address}/fail")
    with pytest.raises(ConnectionRefusedError):
        client(member).xenapi.login_with_password("root", "xenroot")
    ctl("POST", f"/hosts/{address}/restore")
    with pytest.raises(XenAPI.Failure) as exc:
        client(member).xenapi.login_with_password("root", "xenroot")
    assert exc.value.details[0] == "HOST_IS_SLAVE"
    prod = login(mini, "primary")
    metrics = {
        prod.xenapi.host.get_address(h): prod.xenapi.host.get_metrics(h)
        for h in prod.xenapi.host.get_all()
    }
    ctl("POST", "/sites/primary/fail")
    with pytest.raises(ConnectionRefusedError):
        client(ep["coordinator"]).xenapi.login_with_password("root", "xenroot")
    ctl("POST", "/sites/primary/restore")
    prod = login(mini, "primary")
    assert prod.xenapi.host_metrics.get_live(metrics[address]) is True


def test_expired_sessions_are_invalid(mini: SimHandle, ctl: Ctl) -> None:
    """After an expire_sessions fault the old session gives SESSION_INVALID."""
    prod = login(mini, "primary")
    old = prod._session
    assert ctl("POST", "/faults", {"kind": "expire_sessions", "pool": "prod"})["expired"] >= 1
    assert failure(raw(prod, "VM.get_all", old)) == ["SESSION_INVALID", old]


def test_negative_order_or_delay_is_invalid(mini: SimHandle) -> None:
    """VM.set_order / set_start_delay refuse negative values with INVALID_VALUE."""
    prod = login(mini, "primary")
    vm = prod.xenapi.VM.get_by_name_label("shop-db")[0]
    prod.xenapi.VM.set_start_delay(vm, "45")
    assert prod.xenapi.VM.get_start_delay(vm) == "45"
    for setter in (prod.xenapi.VM.set_order, prod.xenapi.VM.set_shutdown_delay):
        with pytest.raises(XenAPI.Failure) as exc:
            setter(vm, "-1")
        assert exc.value.details[0] == "INVALID_VALUE"


def test_vms_of_a_host_back_from_failure_are_halted(mini: SimHandle, ctl: Ctl) -> None:
    """A failed and restored site comes back with its guests Halted (the hosts rebooted)."""
    prod = login(mini, "primary")
    running = {
        v["name_label"]
        for v in prod.xenapi.VM.get_all_records().values()
        if v["power_state"] == "Running" and not v["is_control_domain"]
    }
    assert "app-01" in running
    ctl("POST", "/sites/primary/fail")
    ctl("POST", "/sites/primary/restore")
    prod = login(mini, "primary")
    states = {
        v["name_label"]: v["power_state"]
        for v in prod.xenapi.VM.get_all_records().values()
        if not v["is_control_domain"]
    }
    assert {states[n] for n in running} == {"Halted"}
    assert all(
        prod.xenapi.VM.get_power_state(d) == "Running"
        for d in prod.xenapi.VM.get_all()
        if prod.xenapi.VM.get_is_control_domain(d)
    )


HA_POOL = with_sites(
    """
$primary_site
[[sites.pools]]
name = "prod"
ha_enabled = true
hosts = [{ name = "a" }, { name = "b" }]
srs = [{ name = "NFS", type = "nfs", kind = "shared" }]
[[sites.pools.vms]]
name = "protected"
host = "b"
ha_restart_priority = "restart"
disks = [{ sr = "NFS" }]
[[sites.pools.vms]]
name = "unprotected"
host = "b"
disks = [{ sr = "NFS" }]
"""
)


def test_ha_restarts_protected_vms_of_a_failed_host(
    sim_factory: Callable[..., SimHandle],
) -> None:
    """HA on: a failed host's `restart` VMs run elsewhere; others need power_state_reset."""
    sim = sim_factory(HA_POOL)
    ctl = Ctl(sim.control_url)
    prod = login(sim, "primary")
    b = next(h for h in prod.xenapi.host.get_all() if prod.xenapi.host.get_name_label(h) == "b")
    ctl("POST", f"/hosts/{prod.xenapi.host.get_address(b)}/fail")
    protected = prod.xenapi.VM.get_by_name_label("protected")[0]
    unprotected = prod.xenapi.VM.get_by_name_label("unprotected")[0]
    assert prod.xenapi.VM.get_power_state(protected) == "Running"
    assert prod.xenapi.VM.get_resident_on(protected) != b
    assert prod.xenapi.VM.get_resident_on(unprotected) == b
    prod.xenapi.VM.power_state_reset(unprotected)
    assert prod.xenapi.VM.get_power_state(unprotected) == "Halted"
    with pytest.raises(XenAPI.Failure) as exc:
        prod.xenapi.VM.power_state_reset(protected)
    assert exc.value.details[0] == "VM_BAD_POWER_STATE"


def test_ha_off_and_on_again_as_it_was(mini: SimHandle) -> None:
    """disable_ha drops the statefile; enable_ha on the same SR and the failures to tolerate."""
    dr = login(mini, "dr")
    pool = dr.xenapi.pool.get_all()[0]
    rec = dr.xenapi.pool.get_record(pool)
    assert rec["ha_enabled"] is True
    assert dr.xenapi.VDI.get_type(rec["ha_statefiles"][0]) == "ha_statefile"
    heartbeat = dr.xenapi.VDI.get_SR(rec["ha_statefiles"][0])
    with pytest.raises(XenAPI.Failure) as exc:
        dr.xenapi.pool.enable_ha([heartbeat], {})
    assert exc.value.details == ["HA_IS_ENABLED"]
    dr.xenapi.pool.disable_ha()
    assert dr.xenapi.pool.get_ha_statefiles(pool) == []
    assert rec["ha_statefiles"][0] not in dr.xenapi.VDI.get_all()
    dr.xenapi.pool.enable_ha([heartbeat], {})
    dr.xenapi.pool.set_ha_host_failures_to_tolerate(pool, rec["ha_host_failures_to_tolerate"])
    after = dr.xenapi.pool.get_record(pool)
    assert after["ha_enabled"] is True
    assert after["ha_host_failures_to_tolerate"] == rec["ha_host_failures_to_tolerate"]
    assert dr.xenapi.VDI.get_SR(after["ha_statefiles"][0]) == heartbeat
    with pytest.raises(XenAPI.Failure) as exc:
        dr.xenapi.pool.set_ha_host_failures_to_tolerate(pool, "2")
    assert exc.value.details == ["HA_OPERATION_WOULD_BREAK_FAILOVER_PLAN"]
