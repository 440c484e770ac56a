"""The event-fed inventory heals by itself when its pool comes back."""

from __future__ import annotations

from engine.inventory import Inventory


def test_the_follower_resumes_after_the_site_comes_back(sim):
    """After a site outage the follower clears its error and sees changes made since."""
    world = sim("mini")
    inv = Inventory.load(world.client("prod"), "prod").follow(poll_seconds=0.5)
    try:
        world.control("POST", "/sites/primary/fail")
        assert inv.wait_for(lambda i: i.last_error is not None, timeout=10)
        world.control("POST", "/sites/primary/restore")
        writer = world.client("prod")
        vm = writer.call("VM.get_by_name_label", "app-01")[0]
        writer.call("VM.set_name_label", vm, "app-01-renamed")
        assert inv.wait_for(lambda i: i.vms[vm].name_label == "app-01-renamed", timeout=30)
        assert inv.last_error is None
    finally:
        inv.stop()


def test_an_unreadable_record_is_skipped_and_the_rest_applied(core_sim):
    """A record the inventory cannot convert is noted and skipped; the batch's others apply."""
    sims = core_sim(**{"site-a": 2})
    client = sims.client("site-a")
    inv = Inventory.load(client, "site-a")
    ref, rec = next((r, v) for r, v in client.get_all_records("VM").items() if v["name_label"])
    good = {"class": "VM", "ref": ref, "operation": "mod", "snapshot": {**rec, "name_label": "x"}}
    bad = {"class": "VM", "ref": "OpaqueRef:bad", "operation": "add", "snapshot": "garbled"}
    inv.apply([bad, good])
    assert inv.vms[ref].name_label == "x"
    assert "OpaqueRef:bad" in inv.unreadable
    assert "OpaqueRef:bad" not in inv.vms
