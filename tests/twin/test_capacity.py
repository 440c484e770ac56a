"""A twin of a pool with a vApp that cannot come back, served with a smaller DR pool:
readiness and the plan agree on the memory needed and on which VMs are left out."""

from __future__ import annotations

from bot.simconfig import from_sim_endpoints
from engine.capacity import start_need
from engine.inventory import Inventory
from engine.planner import PlanOptions, Site, plan
from engine.readiness import assess
from engine.storage.sim import SimStorageAdapter
from engine.xapi import XapiClient
from tests.twin.conftest import make_twin


def _readiness_and_plan(serve_twin):
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
    return ready, p


def test_readiness_and_plan_need_the_same_memory_at_dr_capacity_0_6(serve_twin) -> None:
    """With `--dr-capacity 0.6`, readiness's need is the plan's: the VMs the failover would
    start (its vApp left out whole with its scratch disk), each at static max + overhead."""
    ready, p = _readiness_and_plan(serve_twin)
    need, largest = start_need(p.vms)
    assert ready.capacity is not None
    assert (ready.capacity.needed_bytes, ready.capacity.largest_vm_bytes) == (need, largest)
    (blocker,) = [c for c in p.checks if c.name == "capacity"]
    short = [r for r in ready.reasons if "free memory or recover less" in r.message]
    assert [r.message for r in short] == [blocker.message]


def test_readiness_leaves_out_the_vapp_mate_the_plan_leaves_out(serve_twin) -> None:
    """The vApp member whose own disks are replicated is not protected in readiness either,
    and its reason names the member that keeps the vApp out."""
    ready, p = _readiness_and_plan(serve_twin)
    planned = {vm.name for vm in p.vms}
    protected = {r.name for r in ready.vms if r.protected}
    assert protected == planned
    (mate,) = [r for r in ready.vms if r.recoverable and not r.protected]
    assert "its member payments-db cannot be recovered" in " ".join(mate.reasons)
