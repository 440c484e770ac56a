"""Planning is read-only, and a pool drbot cannot use is not a lost site.

The split-brain guard lets an unplanned failover through only when the source is proven down. A
wrong password, or any other refusal, proves nothing about the VMs running there.
"""

from __future__ import annotations

import pytest
from pydantic import SecretStr

from engine.planner import PlanOptions, Site, plan
from engine.xapi import XapiClient
from tests.engine.estate import build_estate

# What a plan may call: reads, the event feed, its own sessions, and the read-only foreign
# database session of VDI.open_database (reference §2.2: a read-only role, logged out after).
READ_METHODS = {
    "session.login_with_password",
    "session.logout",
    "session.get_record",
    "event.from",
    # Takes the inventory's starting token: touches the pool record, changes no field.
    "event.inject",
    "VDI.open_database",
    "VDI.read_database_pool_uuid",
}


def _is_read(method: str) -> bool:
    name = method.split(".", 1)[-1]
    return method in READ_METHODS or name.startswith(("get_", "assert_"))


def _open(world, pool: str, **update) -> Site:
    endpoint = world.config.pool(pool).model_copy(update=update)
    client_box: list[XapiClient] = []

    def connect() -> XapiClient:
        client_box.append(XapiClient.connect(endpoint))
        world.clients.append(client_box[-1])
        return client_box[-1]

    return Site.open(pool, connect, site=endpoint.site)


def _last_seq(world) -> int:
    calls = world.calls()
    return calls[-1]["seq"] if calls else 0


def test_every_kind_of_plan_makes_only_read_calls(sim):
    """The simulator's call log shows no write while every kind of run is planned."""
    world = sim("demo")
    since = _last_seq(world)
    prod, dr = _open(world, "prod"), _open(world, "dr")
    storage = world.storage()
    for kind, options in (
        ("test-failover", PlanOptions(disable_ha=True)),
        ("failover", PlanOptions()),
        ("failover", PlanOptions(planned=True)),
    ):
        plan(kind, "all", source=prod, dest=dr, storage=storage, options=options)
    plan("failback", "all", source=dr, dest=prod, storage=storage)
    methods = {c["method"] for c in world.calls(since)}
    assert "VM.get_all_records" in methods  # the log did record the planning
    assert {m for m in methods if not _is_read(m)} == set()


def test_a_source_refusing_the_login_blocks_an_unplanned_failover(sim):
    """A wrong password at the running source is a blocker naming the fix, never a lost site."""
    world = sim("mini")
    prod = _open(world, "prod", password=SecretStr("not-the-password"))
    assert prod.error is not None
    assert prod.unusable
    p = plan("failover", "all", source=prod, dest=_open(world, "dr"), storage=world.storage())
    blockers = {c.name: c.message for c in p.blockers}
    assert "source-unusable" in blockers
    assert "username and password" in blockers["source-unusable"]


def test_a_refused_login_is_a_warning_for_a_test_failover(sim):
    """A test failover with an unusable source plans on, with a warning saying why."""
    world = sim("mini")
    prod = _open(world, "prod", password=SecretStr("not-the-password"))
    p = plan(
        "test-failover",
        "all",
        source=prod,
        dest=_open(world, "dr"),
        storage=world.storage(),
        options=PlanOptions(disable_ha=True),
    )
    assert "source-unusable" in {c.name for c in p.warnings}
    assert "source-unusable" not in {c.name for c in p.blockers}


def test_a_source_that_does_not_answer_still_allows_a_failover(sim):
    """A failed primary site is unreachable, not unusable: the unplanned failover may go ahead."""
    world = sim("mini")
    world.control("POST", "/sites/primary/fail")
    prod = _open(world, "prod")
    assert prod.error is not None
    assert not prod.unusable
    p = plan("failover", "all", source=prod, dest=_open(world, "dr"), storage=world.storage())
    assert "source-unusable" not in {c.name for c in p.checks}
    assert "split-brain" not in {c.name for c in p.blockers}


def test_a_dest_refusing_the_login_says_what_to_fix(sim):
    """A wrong password at the DR pool blocks with XAPI's reason, not 'does not answer'."""
    world = sim("mini")
    dr = _open(world, "dr", password=SecretStr("not-the-password"))
    p = plan("test-failover", "all", source=_open(world, "prod"), dest=dr, storage=world.storage())
    (blocker,) = [c for c in p.blockers if c.name == "dest-reachable"]
    assert "does not answer" not in blocker.message
    assert "username and password" in blocker.message


@pytest.mark.parametrize("kind", ["test-failover", "failover"])
def test_missing_network_warning_names_the_network_the_pool_and_the_pair(sim, kind):
    """The network-missing check names the network, the pool and the pair whose map fixes it."""
    world = sim("mini")
    p = plan(
        kind,
        "backup-proxy",
        source=_open(world, "prod"),
        dest=_open(world, "dr"),
        storage=world.storage(),
        options=PlanOptions(disable_ha=True, planned=kind == "failover"),
    )
    (check,) = [c for c in p.checks if c.name == "network-missing"]
    assert "'Backup'" in check.message
    assert "pool 'dr'" in check.message
    assert "protected = 'prod'" in check.message
    assert "[]" not in check.message
    assert "{" not in check.message


@pytest.mark.parametrize("state", ["Paused", "Suspended"])
def test_a_paused_or_suspended_copy_at_the_source_is_a_live_copy(core_sim, state):
    """XenCenter's source check counts Paused and Suspended as running: the guard blocks them."""
    estate = build_estate(core_sim)
    estate.prod.db.set("VM", estate.vm("vm-00001"), power_state=state)
    src, dst = estate.sites()
    p = plan("failover", "vm-00001", source=src, dest=dst, storage=estate.luns)
    (guard,) = [c for c in p.blockers if c.name == "split-brain" and c.subject == "vm-00001"]
    assert guard.message.startswith(f"{state} in pool 'prod'")
    planned = plan(
        "failover",
        "vm-00001",
        source=src,
        dest=dst,
        storage=estate.luns,
        options=PlanOptions(planned=True),
    )
    assert "split-brain" not in {c.name for c in planned.checks}


def test_failback_maps_networks_back_through_the_pairs_map(core_sim):
    """The pair's map (protected -> DR name) is read backwards when the VMs go home."""
    from tests.engine.test_planner_failback import _after_failover, _failback

    estate = build_estate(core_sim)
    luns = _after_failover(estate)
    estate.dr.db.set(
        "network", estate.dr.refs["networks"][0], name_label="DR LAN", bridge="xenbr-dr"
    )
    estate.prod.db.set(
        "network", estate.prod.refs["networks"][0], name_label="Prod LAN", bridge="xenbr-prod"
    )
    p = _failback(estate, luns, network_map={"Prod LAN": "DR LAN"})
    (mapping,) = [n for n in p.network_map if n.source_name == "DR LAN"]
    assert (mapping.matched_by, mapping.dest_name) == ("map", "Prod LAN")


def test_a_near_miss_target_suggests_the_names_that_exist(core_sim):
    """A wrong case or a typo in a VM name is refused with the close names to use instead."""
    from engine.errors import TargetNotFound

    estate = build_estate(core_sim)
    src, dst = estate.sites()
    with pytest.raises(TargetNotFound) as err:
        plan("test-failover", "VM-00001", source=src, dest=dst, storage=estate.luns)
    assert "Did you mean 'vm-00001'" in str(err.value)
    with pytest.raises(TargetNotFound) as far:
        plan("test-failover", "nothing-like-it", source=src, dest=dst, storage=estate.luns)
    assert "Did you mean" not in str(far.value)


def test_failing_over_part_of_a_lun_warns_of_the_vms_left_on_it(sim):
    """A planned failover of one VM names the live VMs sharing its LUN; a lost site names none."""
    world = sim("mini")
    prod, dr = _open(world, "prod"), _open(world, "dr")
    options = PlanOptions(planned=True)
    p = plan("failover", "app-01", source=prod, dest=dr, storage=world.storage(), options=options)
    (shared,) = [c for c in p.warnings if c.name == "lun-shared"]
    assert shared.subject == "Gold"
    assert "shop-db" in shared.message
    assert "app-01" not in shared.message
    everything = plan(
        "failover", "all", source=prod, dest=dr, storage=world.storage(), options=options
    )
    (left,) = [c for c in everything.warnings if c.name == "lun-shared"]
    assert "report" in left.message  # its NFS disk keeps it out; its Gold disk shares the fate
    world.control("POST", "/sites/primary/fail")
    lost = _open(world, "prod")
    after = plan("failover", "app-01", source=lost, dest=dr, storage=world.storage())
    assert "lun-shared" not in {c.name for c in after.checks}


def test_two_names_for_one_pool_are_refused(sim):
    """A configuration whose DR entry reaches the protected pool itself is refused, saying so."""
    from engine.errors import TargetNotFound

    world = sim("mini")
    prod = _open(world, "prod")
    also_prod = Site.open("dr", lambda: world.client("prod"), site=world.config.pool("dr").site)
    with pytest.raises(TargetNotFound, match="same pool"):
        plan("test-failover", "all", source=prod, dest=also_prod, storage=world.storage())
