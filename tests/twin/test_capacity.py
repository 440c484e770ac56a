"""A twin served with a smaller DR pool: readiness and the plan give one memory figure."""

from __future__ import annotations

from bot.simconfig import from_sim_endpoints
from engine.capacity import start_need
from engine.inventory import Inventory
from engine.planner import PlanOptions, Site, plan
from engine.readiness import assess
from engine.storage.sim import SimStorageAdapter
from engine.xapi import XapiClient
from tests.twin.conftest import make_twin


def test_readiness_and_plan_need_the_same_memory_at_dr_capacity_0_6(serve_twin) -> None:
    """With `--dr-capacity 0.6`, readiness's need is the plan's: the VMs the failover would
    start (its vApp left out whole with its scratch disk), each at static max + overhead."""
    handle = serve_twin(make_twin("replicated_pool.xml", dr_capacity=0.6))
    config = from_sim_endpoints(handle.endpoints)
    pair = config.pairs[0]
    prod, dr = (
        XapiClient.connect(config.pool(pair.protected)),
        XapiClient.connect(config.pool(pair.dr)),
    )
    try:
        src = Site(pair.protected, Inventory.load(prod, pair.protected), prod)
        dst = Site(pair.dr, Inventory.load(dr, pair.dr), dr)
        storage = SimStorageAdapter(handle.control_url)
        ready = assess(pair, protected=src, dr=dst, storage=storage)
        p = plan("failover", "all", source=src, dest=dst, options=PlanOptions(), storage=storage)
    finally:
        prod.close()
        dr.close()
    need, largest = start_need(p.vms)
    assert ready.capacity is not None
    assert (ready.capacity.needed_bytes, ready.capacity.largest_vm_bytes) == (need, largest)
    (blocker,) = [c for c in p.checks if c.name == "capacity"]
    short = [r for r in ready.reasons if "free memory or recover less" in r.message]
    assert [r.message for r in short] == [blocker.message]
