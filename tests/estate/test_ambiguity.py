"""A request that could mean more than one pair is refused with the choices, never guessed."""

from __future__ import annotations

import pytest

from commands.requests import PlanRequest, StatusRequest
from commands.results import PlanResult, Refused, StatusResult
from engine.errors import ConfigError
from tests.commands.conftest import OLIVIA


def test_pair_for_refuses_a_shared_dr_pool_with_the_choices(estate):
    """`--pool dr` (three pairs) is refused naming east-a:dr, east-b:dr and west:dr."""
    with pytest.raises(ConfigError) as caught:
        estate.config.pair_for("dr")
    for choice in ("east-a:dr", "east-b:dr", "west:dr"):
        assert choice in str(caught.value)
    assert "north:dr2" not in str(caught.value)


def test_pair_for_without_a_pool_refuses_when_there_are_several_pairs(estate):
    """No --pool among four pairs: refused with all four, none picked."""
    with pytest.raises(ConfigError) as caught:
        estate.config.pair_for(None)
    assert "east-a:dr, east-b:dr, west:dr, north:dr2" in str(caught.value)


def test_a_protected_pool_a_lone_dr_pool_or_an_exact_pair_is_one_pair(estate):
    """east-b, dr2 and west:dr each name exactly one pair; north:dr names none."""
    cfg = estate.config
    assert (cfg.pair_for("east-b").protected, cfg.pair_for("east-b").dr) == ("east-b", "dr")
    assert cfg.pair_for("dr2").protected == "north"
    assert cfg.pair_for("west:dr").protected == "west"
    with pytest.raises(ConfigError, match="not a pair"):
        cfg.pair_for("north:dr")


def test_the_service_refuses_an_ambiguous_plan_and_plans_a_named_one(estate_service):
    """A plan without --pool is refused with the choices; with --pool east-b it is east-b's."""
    svc = estate_service()
    refused = svc.dispatch(PlanRequest(kind="test-failover", target="all"), OLIVIA)
    assert isinstance(refused, Refused)
    assert "east-a:dr" in refused.reason
    assert "north:dr2" in refused.reason
    planned = svc.dispatch(PlanRequest(kind="test-failover", target="all", pool="east-b"), OLIVIA)
    assert isinstance(planned, PlanResult)
    assert (planned.plan.source_pool, planned.plan.dest_pool) == ("east-b", "dr")
    assert {vm.name for vm in planned.plan.vms} == {"east-b-db", "east-b-web-01", "east-b-web-02"}


def test_status_of_a_shared_dr_pool_is_refused_and_status_of_all_lists_every_pair(
    estate_service,
):
    """`status dr` is ambiguous (refused); `status` shows the four pairs."""
    svc = estate_service()
    assert isinstance(svc.dispatch(StatusRequest(pool="dr"), OLIVIA), Refused)
    report = svc.dispatch(StatusRequest(), OLIVIA)
    assert isinstance(report, StatusResult)
    assert [(p.protected, p.dr) for p in report.pairs] == [
        ("east-a", "dr"),
        ("east-b", "dr"),
        ("west", "dr"),
        ("north", "dr2"),
    ]


def test_a_pool_replicating_to_two_dr_sites_has_two_pairs_and_a_scope_asks_which():
    """A pool whose LUNs go to dr and dr2 gets a pair with each; `all pools` refuses it with
    both choices until --pool names one, and then plans that pair alone."""
    from engine import topology
    from engine.config import from_dict

    pool = {"urls": ["https://10.0.0.1"], "username": "root", "password": "x"}
    cfg = from_dict(
        {
            "pools": {
                "east": {**pool, "site": "east"},
                "dr": {**pool, "site": "dr"},
                "dr2": {**pool, "site": "dr2"},
            },
            "storage": {
                "adapter": "manual",
                "luns": [
                    {"lun": "l1", "sr_uuid": "u1", "source_site": "east", "target_site": "dr"},
                    {"lun": "l2", "sr_uuid": "u2", "source_site": "east", "target_site": "dr2"},
                ],
            },
        }
    )
    assert [(p.protected, p.dr) for p in cfg.pairs] == [("east", "dr"), ("east", "dr2")]
    with pytest.raises(ConfigError) as caught:
        topology.pairs_in_scope(cfg, None)
    assert "east:dr, east:dr2" in str(caught.value)
    chosen = topology.pairs_in_scope(cfg, "east", "dr2")
    assert [(p.protected, p.dr) for p in chosen] == [("east", "dr2")]
