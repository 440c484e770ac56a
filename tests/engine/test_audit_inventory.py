"""Audit of issue 4 item 2: the event-fed inventory heals by itself when its pool comes back."""

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
