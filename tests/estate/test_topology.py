"""Topology: any number of pools per site and sites per estate, in the simulator's endpoints
file, the configuration written for it, and the engine's configuration (pairs derived from where
each pool's LUNs replicate, and checked against it when written by hand)."""

from __future__ import annotations

from typing import Any

import pytest
import XenAPI
from typer.testing import CliRunner

from bot.cli_sim import app as sim_cli
from bot.settings import load_settings
from bot.simconfig import from_sim_endpoints, write_config
from engine import readiness
from engine.config import from_dict
from engine.errors import ConfigError
from engine.protection import Site
from sim.xapi.scenario import parse_scenario
from sim.xapi.serve import start_sim

PAIRS = [("east-a", "dr"), ("east-b", "dr"), ("west", "dr"), ("north", "dr2")]


def test_every_pool_of_a_two_pool_site_has_its_own_endpoint_that_answers(estate):
    """The endpoints file lists both pools of site east, each with a coordinator serving it."""
    pools = estate.handle.endpoints["pools"]
    assert [n for n, p in pools.items() if p["site"] == "east"] == ["east-a", "east-b"]
    for name in ("east-a", "east-b"):
        session = XenAPI.Session(pools[name]["coordinator"])
        session.xenapi.login_with_password(*pools[name]["users"]["pool-admin"], "1.0", "test")
        try:
            pool_ref = session.xenapi.pool.get_all()[0]
            assert session.xenapi.pool.get_name_label(pool_ref) == name
        finally:
            session.xenapi.session.logout()
            session("close")()


def test_pairs_follow_where_each_pools_srs_replicate(estate):
    """The configuration pairs each protected pool with the pool of the site its SRs replicate
    to: north with dr2, not with the first DR site."""
    assert [(p.protected, p.dr) for p in estate.config.pairs] == PAIRS
    assert estate.config.pools["east-b"].site == "east"
    assert estate.config.pools["east-b"].urls[0] != estate.config.pools["east-a"].urls[0]


def test_the_written_configuration_keeps_every_pool_and_pair(estate, tmp_path):
    """`drbot sim serve --config`'s file loads with all six pools and the four derived pairs."""
    path = tmp_path / "drbot.toml"
    write_config(estate.handle.endpoints, path, tmp_path / "drbot.db")
    engine = load_settings(path).engine
    assert sorted(engine.pools) == ["dr", "dr2", "east-a", "east-b", "north", "west"]
    assert [(p.protected, p.dr) for p in engine.pairs] == PAIRS


def test_north_is_ready_into_dr2_and_its_lun_table_holds_only_its_own_luns(estate):
    """north assessed against dr2 finds its LUN replicating; east-a's table does not list
    east-b's LUN although both pools are at site east."""
    cfg = estate.config
    adapter = estate.storage()

    def assess(protected: str, dr: str) -> readiness.Readiness:
        return readiness.assess(
            cfg.pair_for(f"{protected}:{dr}"),
            protected=Site.open(
                protected, lambda: estate.client(protected), site=cfg.pools[protected].site
            ),
            dr=Site.open(dr, lambda: estate.client(dr), site=cfg.pools[dr].site),
            storage=adapter,
        )

    north = assess("north", "dr2")
    assert north.protected_count == 3
    assert [lun.sr_name for lun in north.replication] == ["Gold"]
    east_a = assess("east-a", "dr")
    luns = {lun.lun for lun in adapter.state() if lun.source_site == "east"}
    assert len(luns) == 2
    assert len(east_a.replication) == 1
    assert east_a.replication[0].lun in luns


def test_a_hand_written_pair_whose_luns_go_elsewhere_is_not_ready_naming_them(estate):
    """Pairing north with dr (its LUN goes to dr2) is found by readiness, which names the LUN
    and the site it replicates to (only the pools and the array know which LUN is north's)."""
    cfg = estate.config
    north_lun = next(lun.lun for lun in estate.storage().state() if lun.source_site == "north")
    result = readiness.assess(
        cfg.pairs[0].model_copy(update={"protected": "north", "dr": "dr"}),
        protected=Site.open("north", lambda: estate.client("north"), site="north"),
        dr=Site.open("dr", lambda: estate.client("dr"), site="dr"),
        storage=estate.storage(),
    )
    assert result.verdict == "not-ready"
    found = [r.message for r in result.reasons if north_lun in r.message]
    assert found
    assert "dr2" in found[0]


def _config(pairs: list[dict[str, str]] | None, luns: list[dict[str, Any]]) -> Any:
    pool = {"urls": ["https://10.0.0.1"], "username": "root", "password": "x"}
    return from_dict(
        {
            "pools": {
                "east-a": {**pool, "site": "east"},
                "east-b": {**pool, "site": "east"},
                "north": {**pool, "site": "north"},
                "dr": {**pool, "site": "dr"},
                "dr2": {**pool, "site": "dr2"},
            },
            **({"pairs": pairs} if pairs is not None else {}),
            "storage": {"adapter": "manual", "luns": luns},
        }
    )


EAST = {"source_site": "east", "target_site": "dr"}
LUNS = [
    {"lun": "lun-ea", "sr_uuid": "u1", "pool": "east-a", **EAST},
    {"lun": "lun-eb", "sr_uuid": "u2", "pool": "east-b", **EAST},
    # north is alone at its site: its LUN need not name it.
    {"lun": "lun-n", "sr_uuid": "u3", "source_site": "north", "target_site": "dr2"},
]


def test_manual_luns_give_the_pairs_when_none_are_written():
    """Without [[pairs]], each pool is paired with the pool of the site its LUNs go to."""
    cfg = _config(None, LUNS)
    assert [(p.protected, p.dr) for p in cfg.pairs] == [
        ("east-a", "dr"),
        ("east-b", "dr"),
        ("north", "dr2"),
    ]


def test_a_written_pair_whose_luns_go_elsewhere_is_a_configuration_error_naming_them():
    """north -> dr is refused when read: north's LUN lun-n replicates to dr2."""
    with pytest.raises(ConfigError) as caught:
        _config([{"protected": "north", "dr": "dr"}], LUNS)
    assert "lun-n" in str(caught.value)
    assert "'dr2'" in str(caught.value)


def test_luns_into_a_site_of_several_pools_ask_for_a_written_pair():
    """LUNs replicating to a site with two pools cannot be paired alone: the error names both."""
    luns = [*LUNS, {"lun": "lun-x", "sr_uuid": "u4", "pool": "north", "target_site": "east"}]
    with pytest.raises(ConfigError) as caught:
        _config(None, luns)
    assert "lun-x" in str(caught.value)
    assert "'east-a', 'east-b'" in str(caught.value)


def test_generate_makes_sites_of_several_pools_into_several_dr_sites(tmp_path):
    """`drbot sim generate --sites 2 --pools-per-site 2 --dr-sites 2` writes four pools of N
    VMs replicating to the two DR sites in turn, and the served estate pairs them that way."""
    path = tmp_path / "estate.toml"
    out = CliRunner().invoke(
        sim_cli,
        ["generate", "--vms", "30", "--sites", "2", "--pools-per-site", "2", "--dr-sites", "2",
         "-o", str(path)],
    )  # fmt: skip
    assert out.exit_code == 0, out.output
    scenario = parse_scenario(path.read_text())
    pools = [p for s in scenario.sites for p in s.pools if p.vms]
    assert len(pools) == 4
    assert all(len(p.vms) == 30 for p in pools)
    with start_sim(scenario, speed=1000.0) as handle:
        pairs = [(p.protected, p.dr) for p in from_sim_endpoints(handle.endpoints).pairs]
    assert pairs == [
        ("site-01-p1", "dr"),
        ("site-01-p2", "dr-2"),
        ("site-02-p1", "dr"),
        ("site-02-p2", "dr-2"),
    ]


def test_generate_refuses_what_the_address_plan_cannot_hold(tmp_path):
    """Eight pools at one site do not fit its addresses: exit 2 with the limit."""
    out = CliRunner().invoke(
        sim_cli,
        ["generate", "--vms", "10", "--pools-per-site", "8", "-o", str(tmp_path / "x.toml")],
    )
    assert out.exit_code == 2
    assert "at most 7 pools" in out.output
