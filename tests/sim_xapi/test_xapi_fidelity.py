"""sim/xapi against behaviours of today's xapi that are easy to get wrong
(docs/xapi-behaviours.md): each test says which."""

from __future__ import annotations

from collections.abc import Callable

import pytest
import XenAPI

from sim.xapi.serve import SimHandle
from tests.sim_xapi.world_support import (
    Ctl,
    client,
    failure,
    login,
    open_failover,
    raw,
    value,
    with_sites,
)


def test_recover_has_no_default_for_force(mini: SimHandle, ctl: Ctl) -> None:
    """§9: VM.recover and VM_appliance.recover with two arguments are a parameter count
    mismatch (force has no default in the datamodel)."""
    ctl.disaster_after_sync()
    fo = open_failover(mini, ctl, ["Gold", "Silver"])
    assert failure(raw(fo.dr, "VM.recover", fo.db, fo.vms["app-01"], fo.dr._session)) == [
        "MESSAGE_PARAMETER_COUNT_MISMATCH",
        "VM.recover",
        "3",
        "2",
    ]
    assert failure(raw(fo.dr, "VM_appliance.recover", fo.db, fo.apps["shop"], fo.dr._session)) == [
        "MESSAGE_PARAMETER_COUNT_MISMATCH",
        "VM_appliance.recover",
        "3",
        "2",
    ]


DELAYED = with_sites(
    """
$primary_site
[[sites.pools]]
name = "prod"
hosts = [{ name = "a" }, { name = "b" }]
srs = [{ name = "Shared", kind = "shared" }]
[[sites.pools.vms]]
name = "slow-{n}"
count = 2
power = "Halted"
start_delay = 60
disks = [{ sr = "Shared" }]
"""
)


def test_start_on_sleeps_the_start_delay_twice(sim_factory: Callable[..., SimHandle]) -> None:
    """§6: VM.start sleeps a VM's start_delay once; VM.start_on once more after it (xapi's
    message forwarding adds a second sleep)."""
    sim = sim_factory(DELAYED)
    s = login(sim, "primary")
    first, second = (s.xenapi.VM.get_by_name_label(f"slow-0{i}")[0] for i in (1, 2))
    sleeps = sim.world.clock.named_sleeps
    sleeps.clear()
    s.xenapi.VM.start(first, False, False)
    assert list(sleeps) == [("start_delay", 60.0)]
    sleeps.clear()
    s.xenapi.VM.start_on(second, s.xenapi.host.get_all()[1], False, False)
    assert list(sleeps) == [("start_delay", 60.0), ("start_delay", 60.0)]


def test_an_event_token_is_the_newest_change_of_what_was_asked(mini: SimHandle) -> None:
    """§8: event.from's token is the newest change among the subscribed objects, not the
    database's generation; event.inject gives the token just before its touch."""
    s = login(mini, "primary")
    pool = s.xenapi.pool.get_all()[0]
    from_pool = getattr(s.xenapi.event, "from")(["pool"], "", 0.0)["token"]
    vm = s.xenapi.VM.get_by_name_label("app-01")[0]
    s.xenapi.VM.set_name_description(vm, "changed after the pool's last change")
    again = getattr(s.xenapi.event, "from")(["pool"], "", 0.0)["token"]
    assert again == from_pool  # the VM's change does not move a pool-only token
    missed = getattr(s.xenapi.event, "from")(["vm"], from_pool, 0.0)["events"]
    assert vm in {e["ref"] for e in missed}  # a follower from it replays what came before
    now = s.xenapi.event.inject("pool", pool)
    assert now > from_pool
    after = getattr(s.xenapi.event, "from")(["pool", "vm"], now, 0.0)["events"]
    assert [(e["class"], e["ref"], e["operation"]) for e in after] == [("pool", pool, "mod")]


SNAPSHOTTED = with_sites(
    """
$primary_site
[[sites.pools]]
name = "prod"
metadata_srs = ["Gold"]
hosts = [{ name = "a" }]
srs = [
  { name = "Gold", kind = "replicated", replicate_to = "dr", lag_seconds = 0 },
  { name = "Silver", kind = "replicated", replicate_to = "dr", lag_seconds = 0 },
  { name = "Scratch", kind = "shared", type = "nfs" },
]
[[sites.pools.vms]]
name = "snap-on-silver"
disks = [{ sr = "Gold" }]
snapshots = ["before upgrade"]
snapshot_sr = "Silver"
[[sites.pools.vms]]
name = "snap-on-scratch"
disks = [{ sr = "Gold" }]
snapshots = ["nightly"]
snapshot_sr = "Scratch"
[[sites.pools.vms]]
name = "suspended"
power = "Suspended"
disks = [{ sr = "Gold" }]
suspend_sr = "Scratch"
$dr_site
[[sites.pools]]
name = "dr"
hosts = [{ name = "b" }]
"""
)


def test_recovery_needs_snapshot_and_suspend_disks_the_check_does_not(
    sim_factory: Callable[..., SimHandle],
) -> None:
    """§7: VM.recover imports snapshots and the suspend image too (VDI_CONTENT_ID_MISSING
    without their SR), while VM.assert_can_be_recovered looks only at the VM's own disks."""
    sim = sim_factory(SNAPSHOTTED)
    ctl = Ctl(sim.control_url)
    ctl.disaster_after_sync()
    fo = open_failover(sim, ctl, ["Gold"])
    for name in ("snap-on-scratch", "suspended", "snap-on-silver"):
        value(fo.call("VM.assert_can_be_recovered", fo.vms[name], fo.dr._session))
        assert failure(fo.recover(name)) == ["VDI_CONTENT_ID_MISSING"]
        assert fo.dr.xenapi.VM.get_by_name_label(name) == []


def test_recovery_keeps_only_the_srs_of_the_vms_own_disks(
    sim_factory: Callable[..., SimHandle],
) -> None:
    """§3: a recovery clears introduced_by on its VM's own disks' SR only: DR_task.destroy
    still forgets the SR that holds just a snapshot's disk."""
    sim = sim_factory(SNAPSHOTTED)
    ctl = Ctl(sim.control_url)
    ctl.disaster_after_sync()
    fo = open_failover(sim, ctl, ["Gold", "Silver"])
    dr = fo.dr
    value(fo.recover("snap-on-silver"))
    gold, silver = (dr.xenapi.SR.get_by_name_label(n)[0] for n in ("Gold", "Silver"))
    assert dr.xenapi.SR.get_introduced_by(gold) == "OpaqueRef:NULL"
    assert dr.xenapi.SR.get_introduced_by(silver) != "OpaqueRef:NULL"
    for task in fo.tasks:
        dr.xenapi.DR_task.destroy(task)
    assert {dr.xenapi.SR.get_name_label(sr) for sr in dr.xenapi.SR.get_all()} == {"Gold"}


HA_TIGHT = with_sites(
    """
$primary_site
[[sites.pools]]
name = "prod"
ha_enabled = true
hosts = [{ name = "a", memory_gb = 64 }, { name = "b", memory_gb = 64 }]
srs = [{ name = "Shared", kind = "shared" }]
[[sites.pools.vms]]
name = "guarded"
memory_gb = 40
host = "a"
ha_restart_priority = "restart"
disks = [{ sr = "Shared" }]
[[sites.pools.vms]]
name = "big"
memory_gb = 40
power = "Halted"
ha_restart_priority = "restart"
disks = [{ sr = "Shared" }]
[[sites.pools.vms]]
name = "small"
memory_gb = 4
power = "Halted"
disks = [{ sr = "Shared" }]
"""
)


def test_a_start_that_would_break_the_ha_plan_is_refused(
    sim_factory: Callable[..., SimHandle],
) -> None:
    """§5: with HA on and a plan for one failure, starting a 'restart' VM that would leave no
    room to restart the protected VMs of a failed host is refused; a small VM starts."""
    sim = sim_factory(HA_TIGHT)
    s = login(sim, "primary")
    big, small = (s.xenapi.VM.get_by_name_label(n)[0] for n in ("big", "small"))
    with pytest.raises(XenAPI.Failure) as exc:
        s.xenapi.VM.start(big, False, False)
    assert exc.value.details == ["HA_OPERATION_WOULD_BREAK_FAILOVER_PLAN"]
    assert s.xenapi.VM.get_power_state(big) == "Halted"
    s.xenapi.VM.start(small, False, False)
    pool = s.xenapi.pool.get_all()[0]
    guarded = s.xenapi.VM.get_by_name_label("guarded")[0]
    hypothetical = s.xenapi.pool.ha_compute_hypothetical_max_host_failures_to_tolerate
    assert hypothetical({guarded: "restart"}) == "1"
    assert hypothetical({guarded: "restart", big: "restart"}) == "0"
    with pytest.raises(XenAPI.Failure) as bad:
        hypothetical({big: "always"})
    assert bad.value.details == ["INVALID_VALUE", "ha_restart_priority", "always"]
    s.xenapi.pool.set_ha_allow_overcommit(pool, True)
    s.xenapi.VM.start(big, False, False)
    assert s.xenapi.VM.get_power_state(big) == "Running"


IPV6_COORDINATOR = with_sites(
    """
$primary_site
[[sites.pools]]
name = "prod"
hosts = [{ name = "a", address = "::1" }, { name = "b" }]
"""
)


def test_a_member_names_an_ipv6_coordinator_by_its_bare_address(
    sim_factory: Callable[..., SimHandle],
) -> None:
    """§9: HOST_IS_SLAVE carries the coordinator's address as stored: bare IPv6; the
    coordinator answers at the bracketed URL."""
    sim = sim_factory(IPV6_COORDINATOR)
    member = client(sim.url(sim.world.pools["prod"].hosts[1].address))
    with pytest.raises(XenAPI.Failure) as exc:
        member.xenapi.login_with_password("root", "xenroot", "1.0", "test")
    assert exc.value.details == ["HOST_IS_SLAVE", "::1"]
    assert sim.url("::1").startswith("http://[::1]:")
    coordinator = client(sim.url("::1"))
    coordinator.xenapi.login_with_password("root", "xenroot", "1.0", "test")
    assert len(coordinator.xenapi.host.get_all()) == 2
    coordinator.xenapi.session.logout()
