"""On sim/xapi's small scenario, every readiness element is reported, and
the verdict carries every reason, in words that say what to do."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from pydantic import SecretStr

from engine.planner import Site
from engine.readiness import assess
from engine.xapi import XapiClient


def _open(world, pool: str, **update) -> Site:
    endpoint = world.config.pool(pool).model_copy(update=update)

    def connect() -> XapiClient:
        world.clients.append(XapiClient.connect(endpoint))
        return world.clients[-1]

    return Site.open(pool, connect, site=endpoint.site)


def _assess(world, prod: Site | None = None, dr: Site | None = None, **kw):
    return assess(
        world.config.pairs[0],
        protected=prod or _open(world, "prod"),
        dr=dr or _open(world, "dr"),
        storage=world.storage(),
        **kw,
    )


def test_every_readiness_element_of_the_mini_estate(sim):
    """Protection per VM and vApp, metadata, lag, capacity, networks, HA, licence, last drill."""
    world = sim("mini")
    drilled = datetime.now(UTC) - timedelta(days=2)
    r = _assess(
        world,
        last_drill=lambda pool: [{"at": drilled, "outcome": "succeeded", "rto_seconds": 120.0}],
    )
    unprotected = {v.name: " ".join(v.reasons) for v in r.unprotected}
    # late-vm was made inside the replication lag (in the same second as the last sync).
    assert set(unprotected) == {"local-vm", "report", "late-vm"}
    assert "not in the replicated metadata yet" in unprotected["late-vm"]
    assert "local storage" in unprotected["local-vm"]
    assert "not replicated" in unprotected["report"]
    assert [(a.name, a.protected) for a in r.appliances] == [("shop", True)]
    (target,) = r.metadata_targets
    assert (target.sr_name, target.latest, target.replicated) == ("Gold", True, True)
    assert r.metadata_limit == 8
    assert {s.sr_name for s in r.replication} == {"Gold", "Silver"}
    assert r.rpo_seconds == 600.0
    assert r.capacity is not None
    assert r.capacity.fits
    assert r.capacity.needed_bytes > 0
    assert {n.source_name: n.matched_by for n in r.networks}["Backup"] == "none"
    assert r.ha_enabled is True
    assert r.dr_licensed is True
    assert r.last_drill is not None
    assert (r.last_drill.outcome, r.last_drill.rto_seconds) == ("succeeded", 120.0)
    assert r.verdict == "degraded"
    by_subject = {reason.subject: reason for reason in r.reasons}
    assert "protected = 'prod'" in by_subject["Backup"].message
    assert "local-vm, report" in by_subject["prod"].message
    assert by_subject["Gold"].severity == "degraded"


def test_a_dr_pool_refusing_the_login_is_not_ready_with_the_fix(sim):
    """A wrong DR password makes the verdict not-ready with the credentials named, not 'down'."""
    world = sim("mini")
    r = _assess(world, dr=_open(world, "dr", password=SecretStr("not-the-password")))
    assert r.verdict == "not-ready"
    (reason,) = [x for x in r.reasons if x.subject == "dr" and x.severity == "not-ready"]
    assert "username and password" in reason.message
    assert "does not answer" not in reason.message


def test_a_protected_pool_refusing_the_login_is_not_ready_with_the_fix(sim):
    """A wrong password at the protected pool is not mistaken for a site that is down."""
    world = sim("mini")
    r = _assess(world, prod=_open(world, "prod", password=SecretStr("not-the-password")))
    assert r.verdict == "not-ready"
    messages = " ".join(x.message for x in r.reasons if x.subject == "prod")
    assert "username and password" in messages
    assert "does not answer" not in messages


def test_the_last_drill_is_the_test_failover_the_runner_recorded_at_dr(sim, tmp_path):
    """Readiness reads the drills the runner recorded for the protected pool (from the run's
    plan) and skips real failovers."""
    from store import open_store

    world = sim("mini")
    store = open_store(tmp_path / "drbot.db")
    pools = {"source_pool": "prod", "dest_pool": "dr"}
    drill = store.runs.create("test-failover", "all", "dr", "h1", pools, "U1")
    real = store.runs.create("failover", "all", "dr", "h2", pools, "U1")
    store.drills.record(drill, "test-failover", "dr", 95.0, "succeeded", {})
    store.drills.record(real, "failover", "dr", 40.0, "failed", {})
    r = _assess(world, last_drill=store.drills.recent)
    store.close()
    assert r.last_drill is not None
    assert (r.last_drill.kind, r.last_drill.rto_seconds) == ("test-failover", 95.0)
    assert "drills" not in {reason.subject for reason in r.reasons}
