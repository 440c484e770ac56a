"""Runs against sim/xapi where today's xapi decides differently from what a naive client
expects (docs/xapi-behaviours.md §4, §6, §8, §9)."""

from __future__ import annotations

import itertools
from collections.abc import Callable
from typing import Any

from engine.xapi import XapiClient
from sim.xapi.scenario import parse_scenario
from store.records import RunRecord
from tests.engine.runs_support import Harness
from tests.sim_xapi.world_support import with_sites


def _outcomes(run: RunRecord) -> dict[str, str]:
    return {o.name: o.status for o in run.outcome.vms.values()}


def test_a_network_the_dr_pool_lacks_is_made_once_before_recovery(
    runs: Callable[..., Harness],
) -> None:
    """§4: the run makes the missing "Backup" network once, before the first recovery (the
    import would be refused making it with the source's bridge); the VM on it starts, and the
    test failover's cleanup removes the network again."""
    h = runs("mini")
    plan = h.plan("test-failover", "all", disable_ha=True)
    assert [nm.source_name for nm in plan.network_map if nm.matched_by == "none"] == ["Backup"]
    before = h.uuids("dr", "network")
    run = h.run(plan)
    assert _outcomes(run)["backup-proxy"] == "started-paused", run.error
    calls = h.world.calls()
    made = [c for c in calls if c["method"] == "network.create"]
    assert [c["args"][0]["name_label"] for c in made] == ["Backup"]
    recovers = [c["seq"] for c in calls if "recover" in c["method"] and c["method"][0] == "A"]
    assert made[0]["seq"] < min(recovers)
    assert h.uuids("dr", "network") == before


PRIMARY_DOWN = "/sites/primary/fail"


def test_a_vm_with_a_start_delay_is_started_with_vm_start(runs: Callable[..., Harness]) -> None:
    """§6: VM.start_on would sleep the delay twice: a VM with a start_delay (shop-db, 30 s) is
    started with VM.start, so its delay is slept once; the others may be placed with
    VM.start_on."""
    h = runs("mini")
    h.plan("failover", "all")
    h.world.control("POST", PRIMARY_DOWN)
    plan = h.plan("failover", "app:shop", source_up=False)
    sleeps = h.world.handle.world.clock.named_sleeps
    sleeps.clear()
    run = h.run(plan)
    assert set(_outcomes(run).values()) == {"started"}, run.error
    dr = h.client("dr")
    refs = {rec["name_label"]: ref for ref, rec in dr.get_all_records("VM").items()}
    starts = {
        c["args"][0]: c["method"].removeprefix("Async.")
        for c in h.world.calls()
        if c["method"] in ("Async.VM.start", "Async.VM.start_on")
    }
    assert starts[refs["shop-db"]] == "VM.start"
    assert [s for s in sleeps if s[1] == 30.0] == [("start_delay", 30.0)]


def test_the_inventory_follows_from_now_not_from_the_pools_last_change(
    sim: Callable[..., Any],
) -> None:
    """§8: the starting token is taken with event.inject, so following from it returns no
    VM changes made before it (a token from event.from on the pool object would replay
    every VM created after the pool record)."""
    world = sim("mini")
    client = world.client("prod")
    token = client.current_token()
    events, _ = client.events(["vm"], token, 0.0)
    assert events == []
    assert [c["method"] for c in world.calls() if c["method"].startswith("event.")][-1] == (
        "event.from"
    )
    assert any(c["method"] == "event.inject" for c in world.calls())


IPV6_COORDINATOR = with_sites(
    """
$primary_site
[[sites.pools]]
name = "prod"
hosts = [{ name = "a", address = "::1" }, { name = "b" }]
"""
)


def test_a_member_naming_an_ipv6_coordinator_is_followed(sim: Callable[..., Any]) -> None:
    """§9: HOST_IS_SLAVE names the coordinator by its bare IPv6 address; the client puts it
    in brackets and logs in there."""
    world = sim(parse_scenario(IPV6_COORDINATOR))
    member = world.handle.url(world.handle.world.pools["prod"].hosts[1].address)
    endpoint = world.config.pool("prod").model_copy(update={"urls": [member]})
    client = XapiClient.connect(endpoint)
    world.clients.append(client)
    assert str(client.url).startswith("http://[::1]:")
    assert len(client.call("host.get_all")) == 2


def test_replicated_srs_are_attached_one_at_a_time(runs: Callable[..., Harness]) -> None:
    """§9: as XenCenter, one DR_task.create at a time: no two attach steps overlap."""
    h = runs("demo")
    plan = h.plan("test-failover", "all", disable_ha=True)
    assert len(plan.luns) >= 3
    run = h.run(plan)
    steps = sorted(
        (s.started_at, s.finished_at)
        for s in h.store.steps.for_run(run.id)
        if s.key.startswith("attach:")
    )
    assert len(steps) == len(plan.luns)
    for (_, finished), (started, _) in itertools.pairwise(steps):
        assert started >= finished
