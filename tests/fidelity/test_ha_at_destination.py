"""HA at the destination (docs/xapi-behaviours.md §5): XAPI refuses a start that would leave
HA unable to restart its protected VMs; the plan warns, the refusal is its own outcome."""

from __future__ import annotations

from collections.abc import Callable

from sim.xapi.scenario import parse_scenario
from store import VMStatus
from tests.engine.runs_support import Harness
from tests.sim_xapi.world_support import with_sites

# DR pool: two 64 GiB hosts, HA on (one failure tolerated), a protected 40 GiB VM running:
# after a 40 GiB start on the other host, a failed host's protected VM has nowhere to go.
HA_TIGHT_DR = with_sites(
    """
$primary_site
[[sites.pools]]
name = "prod"
metadata_srs = ["Gold"]
hosts = [{ name = "a", memory_gb = 128 }]
networks = [{ name = "net", bridge = "xenbr0" }]
srs = [{ name = "Gold", kind = "replicated", replicate_to = "dr", lag_seconds = 0 }]
[[sites.pools.vms]]
name = "big-app"
memory_gb = 40
disks = [{ sr = "Gold" }]
nics = ["net"]
$dr_site
[[sites.pools]]
name = "dr"
ha_enabled = true
hosts = [{ name = "b", memory_gb = 64 }, { name = "c", memory_gb = 64 }]
networks = [{ name = "net", bridge = "xenbr0" }]
srs = [{ name = "Local DR", kind = "shared", type = "nfs" }]
[[sites.pools.vms]]
name = "dr-guard"
memory_gb = 40
host = "b"
ha_restart_priority = "restart"
disks = [{ sr = "Local DR" }]
"""
)


def test_a_start_refused_by_ha_is_its_own_outcome_and_the_plan_warns(
    runs: Callable[..., Harness],
) -> None:
    """The plan warns that HA would refuse; the run's VM ends `ha-refused`, saying what to do."""
    h = runs(parse_scenario(HA_TIGHT_DR))
    h.plan("failover", "all")
    h.world.control("POST", "/sites/primary/fail")
    plan = h.plan("failover", "all", source_up=False)
    assert [c.name for c in plan.warnings if c.name == "ha-capacity"] == ["ha-capacity"]
    run = h.run(plan)
    (outcome,) = [o for o in run.outcome.vms.values() if o.name == "big-app"]
    assert outcome.status == VMStatus.HA_REFUSED
    assert "HA_OPERATION_WOULD_BREAK_FAILOVER_PLAN" in str(outcome.error)
    assert "ha_host_failures_to_tolerate" in str(outcome.error)
