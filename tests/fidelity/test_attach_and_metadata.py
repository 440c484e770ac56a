"""What attaching the replicated SRs and re-arming metadata must survive on today's xapi
(docs/xapi-behaviours.md §2, §3, §7)."""

from __future__ import annotations

from collections.abc import Callable

from sim.xapi.scenario import parse_scenario
from store import VMOutcome
from store.records import RunRecord
from tests.engine.runs_support import Harness
from tests.sim_xapi.world_support import with_sites


def _outcomes(run: RunRecord) -> dict[str, VMOutcome]:
    return {o.name: o for o in run.outcome.vms.values()}


TWO_LUNS = with_sites(
    """
$primary_site
[[sites.pools]]
name = "prod"
metadata_srs = ["Gold"]
hosts = [{ name = "a" }]
networks = [{ name = "net", bridge = "xenbr0" }]
srs = [
  { name = "Gold", kind = "replicated", replicate_to = "dr", lag_seconds = 0 },
  { name = "Silver", kind = "replicated", replicate_to = "dr", lag_seconds = 0 },
]
[[sites.pools.vms]]
name = "on-gold"
disks = [{ sr = "Gold" }]
nics = ["net"]
[[sites.pools.vms]]
name = "on-silver"
disks = [{ sr = "Silver" }]
nics = ["net"]
$dr_site
[[sites.pools]]
name = "dr"
hosts = [{ name = "b" }, { name = "c" }]
networks = [{ name = "net", bridge = "xenbr0" }]
"""
)


def test_a_dr_task_that_attached_nothing_fails_its_lun_and_is_destroyed(
    runs: Callable[..., Harness],
) -> None:
    """§2: the array presents, under Silver's mirror, a LUN holding another SR: DR_task.create
    succeeds with nothing introduced; the run fails that LUN naming it, the SR it wanted and
    what the probe found, destroys the empty DR_task, and recovers the rest."""
    h = runs(parse_scenario(TWO_LUNS))
    plan = h.plan("test-failover", "all")
    silver = next(lun for lun in plan.luns if lun.sr_name == "Silver")
    mirror = h.world.handle.world.storage.links[silver.lun].mirror
    mirror.content = mirror.content.copy()
    mirror.content.sr_uuid = "5f1e0d3c-0000-4000-8000-000000000042"
    run = h.run(plan)
    outcomes = _outcomes(run)
    assert outcomes["on-gold"].status == "started-paused", run.error
    assert outcomes["on-silver"].status == "not-run"
    why = str(outcomes["on-silver"].error)
    assert silver.lun in why
    assert silver.sr_uuid in why
    assert "5f1e0d3c-0000-4000-8000-000000000042" in why
    assert h.uuids("dr", "DR_task") == set()


def test_a_dr_task_left_by_a_failed_create_is_destroyed(runs: Callable[..., Harness]) -> None:
    """§2: a DR_task.create whose plug fails on a host leaves its DR_task behind in xapi; the
    run finds it (DR_task.get_all before and after) and destroys it."""
    h = runs(parse_scenario(TWO_LUNS))
    plan = h.plan("test-failover", "all")
    h.world.control("POST", f"/hosts/{h.world.handle.world.pools['dr'].hosts[1].address}/fail")
    run = h.run(plan)
    assert run.state == "failed"
    calls = h.world.calls()
    creates = [c for c in calls if c["method"] == "Async.DR_task.create"]
    assert creates
    assert all(c.get("task_outcome") == "HOST_OFFLINE" for c in creates)
    assert h.uuids("dr", "DR_task") == set()
    assert any(c["method"] == "DR_task.destroy" for c in calls)


METADATA_LUN = with_sites(
    """
$primary_site
[[sites.pools]]
name = "prod"
metadata_srs = ["Meta"]
hosts = [{ name = "a" }]
networks = [{ name = "net", bridge = "xenbr0" }]
srs = [
  { name = "Gold", kind = "replicated", replicate_to = "dr", lag_seconds = 0 },
  { name = "Meta", kind = "replicated", replicate_to = "dr", lag_seconds = 0, size_gb = 8 },
]
[[sites.pools.vms]]
name = "app-{n}"
count = 2
disks = [{ sr = "Gold" }]
nics = ["net"]
$dr_site
[[sites.pools]]
name = "dr"
hosts = [{ name = "b" }, { name = "c" }]
networks = [{ name = "net", bridge = "xenbr0" }]
"""
)


def test_a_metadata_only_lun_is_kept_and_re_armed_after_a_failover(
    runs: Callable[..., Harness],
) -> None:
    """§3: the metadata lives on a LUN of its own, which DR_task.destroy forgets after the
    recovery; the failover brings it back and turns the DR pool's metadata replication on it."""
    h = runs(parse_scenario(METADATA_LUN))
    h.plan("failover", "all")
    h.world.control("POST", "/sites/primary/fail")
    plan = h.plan("failover", "all", source_up=False)
    assert {lun.sr_name for lun in plan.luns if lun.holds_metadata} == {"Meta"}
    run = h.run(plan)
    assert run.state == "succeeded", run.error
    dr = h.client("dr")
    (meta,) = dr.call("SR.get_by_name_label", "Meta")
    assert all(dr.call("PBD.get_currently_attached", p) for p in dr.call("SR.get_PBDs", meta))
    pool = dr.call("pool.get_all")[0]
    on_meta = [
        v for v in dr.call("pool.get_metadata_VDIs", pool) if dr.call("VDI.get_SR", v) == meta
    ]
    assert len(on_meta) == 1
    assert dr.call("VDI.get_metadata_latest", on_meta[0]) is True
