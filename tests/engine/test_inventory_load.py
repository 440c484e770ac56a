"""The inventory: a typed snapshot in constant round trips, kept current by event.from."""

from __future__ import annotations

from engine.inventory import Inventory


def test_round_trips_do_not_grow_with_the_pool(core_sim):
    """A 5-VM and a 300-VM pool are both read in the same number of round trips."""
    sims = core_sim(small=5, large=300)
    small = Inventory.load(sims.client("small"))
    large = Inventory.load(sims.client("large"))
    assert len(large.real_vms()) == 300
    assert len(small.real_vms()) == 5
    assert small.round_trips == large.round_trips <= 15


def test_records_are_typed(core_sim):
    """Ints, bools, null refs and sets arrive as Python values; templates are not real VMs."""
    sims = core_sim(**{"site-a": 4})
    site = sims["site-a"]
    inv = Inventory.load(sims.client("site-a"))
    vm = inv.vms[site.refs["vms"][0]]
    assert vm.memory_static_max == 2 * 1024**3
    assert vm.vcpus_max == 2
    assert vm.appliance == site.refs["appliance"]
    assert vm.start_delay == 10
    assert inv.vms[site.refs["vms"][3]].appliance is None
    names = {v.name_label for v in inv.real_vms()}
    assert "Debian Bookworm 12" not in names
    assert not any(n.startswith("Control domain") for n in names)
    assert all(h.memory_total > 0 and h.live for h in inv.hosts.values())
    assert inv.pool.uuid
    assert inv.pool.master in inv.hosts
    disks = inv.vm_disks(vm)
    assert [d.virtual_size for d in disks] == [40 * 1024**3]


def test_follow_applies_adds_changes_and_deletes(core_sim):
    """While following, a rename, a new VM and a deleted VM show up in memory."""
    sims = core_sim(**{"site-a": 3})
    site = sims["site-a"]
    inv = Inventory.load(sims.client("site-a")).follow(poll_seconds=0.5)
    try:
        db = site.db
        renamed = site.refs["vms"][1]
        db.set("VM", renamed, name_label="renamed-vm")
        added = db.create("VM", {"name_label": "brand-new", "power_state": "Halted"})
        db.delete("VM", site.refs["vms"][2])
        assert inv.wait_for(
            lambda i: (
                i.vms.get(renamed) is not None
                and i.vms[renamed].name_label == "renamed-vm"
                and added in i.vms
                and site.refs["vms"][2] not in i.vms
            ),
            timeout=10,
        )
    finally:
        inv.stop()
    assert not inv.following


def test_follow_survives_session_expiry(core_sim):
    """After every session expired, the follower logs in again and keeps applying changes."""
    sims = core_sim(**{"site-a": 2})
    site = sims["site-a"]
    inv = Inventory.load(sims.client("site-a")).follow(poll_seconds=0.5)
    try:
        sims.servers.sessions.expire_all()
        site.db.set("VM", site.refs["vms"][0], name_label="after-expiry")
        assert inv.wait_for(
            lambda i: i.vms[site.refs["vms"][0]].name_label == "after-expiry", timeout=10
        )
    finally:
        inv.stop()


def test_metrics_changes_reach_their_host(core_sim):
    """A change to host_metrics (free memory) is reflected on the host model."""
    sims = core_sim(**{"site-a": 1})
    site = sims["site-a"]
    inv = Inventory.load(sims.client("site-a")).follow(poll_seconds=0.5)
    try:
        host = site.refs["hosts"][0]
        metrics = site.db.get("host", host)["metrics"]
        site.db.set("host_metrics", metrics, memory_free=12345)
        assert inv.wait_for(lambda i: i.hosts[host].memory_free == 12345, timeout=10)
    finally:
        inv.stop()


def test_gc_pause_nests_and_restores_the_collector_as_it_was():
    """The collector is off inside nested pauses and back to its former state after the last."""
    import gc

    from engine.inventory import gc_paused

    was = gc.isenabled()
    try:
        for start in (True, False):
            (gc.enable if start else gc.disable)()
            with gc_paused():
                with gc_paused():
                    assert not gc.isenabled()
                assert not gc.isenabled()
            assert gc.isenabled() is start
    finally:
        (gc.enable if was else gc.disable)()
