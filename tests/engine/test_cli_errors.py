"""Through the operator CLI: bad targets and bad configuration get a
message saying what to do, never a traceback; a wrong password is not a lost site."""

from __future__ import annotations

import json

import pytest
import typer
from typer.testing import CliRunner

from bot import cli_ops


@pytest.fixture
def app() -> typer.Typer:
    app = typer.Typer()
    cli_ops.register(app)
    return app


@pytest.fixture
def write_config(sim, tmp_path):
    """Factory: a drbot.toml for a fresh mini simulator, with per-pool overrides."""
    world = sim("mini")

    def write(name: str = "drbot.toml", *, pools=None, pair=("prod", "dr")) -> str:
        lines = [f'store_path = "{tmp_path / "drbot.db"}"', ""]
        for pool_name, pool in world.config.pools.items():
            values = {
                "urls": pool.urls,
                "username": pool.username,
                "password": pool.password.get_secret_value(),
                "site": pool.site,
                "allow_plaintext": True,  # the simulator on loopback
                **(pools or {}).get(pool_name, {}),
            }
            lines.append(f"[engine.pools.{pool_name}]")
            lines += [f"{k} = {json.dumps(v)}" for k, v in values.items()]
            lines.append("")
        lines += ["[[engine.pairs]]", f'protected = "{pair[0]}"', f'dr = "{pair[1]}"', ""]
        lines += ["[engine.storage]", 'adapter = "sim"', f'control_url = "{world.control_url}"']
        path = tmp_path / name
        path.write_text("\n".join(lines) + "\n")
        return str(path)

    return write


def _invoke(app, *args):
    result = CliRunner().invoke(app, [str(a) for a in args])
    assert "Traceback" not in result.output
    assert not isinstance(result.exception, Exception) or isinstance(
        result.exception, SystemExit
    ), result.exception
    return result


def test_an_unknown_target_says_how_to_list_what_exists(app, write_config):
    """`drbot plan test-failover nosuchvm` exits 2 and points at `drbot status`."""
    result = _invoke(app, "plan", "test-failover", "nosuchvm", "--config", write_config())
    assert result.exit_code == 2
    assert "nosuchvm" in result.output
    assert "drbot status" in result.output


def test_an_unknown_kind_lists_the_kinds(app, write_config):
    """`drbot plan rollback all` exits 2 naming the three kinds."""
    result = _invoke(app, "plan", "rollback", "all", "--config", write_config())
    assert result.exit_code == 2
    assert "test-failover, failover or failback" in result.output


def test_an_unreachable_dr_pool_is_a_blocker_not_a_crash(app, write_config):
    """With the DR pool's URL refusing connections, the plan exits 1 with the dest blocker."""
    config = write_config(pools={"dr": {"urls": ["http://127.0.0.1:1"]}})
    result = _invoke(app, "plan", "test-failover", "all", "--json", "--config", config)
    assert result.exit_code == 1
    plan = json.loads(result.stdout)
    (blocker,) = [c for c in plan["checks"] if c["name"] == "dest-reachable"]
    assert "does not answer" in blocker["message"]


def test_a_pair_naming_a_missing_pool_names_the_known_pools(app, write_config):
    """A pair whose protected pool is not configured exits 2 and lists the configured pools."""
    result = _invoke(
        app, "plan", "test-failover", "all", "--config", write_config(pair=("prodx", "dr"))
    )
    assert result.exit_code == 2
    assert "'prodx'" in result.output
    assert "'dr', 'prod'" in result.output


def test_a_configuration_error_names_its_section_key_and_value(app, write_config):
    """The invalid-configuration message names the section and key it found the error in and
    the value that is wrong, whole (the CLI's printing eats no part of it)."""
    result = _invoke(
        app, "plan", "test-failover", "all", "--config", write_config(pair=("prodx", "dr"))
    )
    assert result.exit_code == 2
    assert "engine: pairs: protected pool 'prodx' is not a configured pool" in result.output


def test_a_wrong_source_password_blocks_an_unplanned_failover(app, write_config):
    """A failover plan with the source's password wrong has the source-unusable blocker."""
    config = write_config(pools={"prod": {"password": "not-the-password"}})
    result = _invoke(app, "plan", "failover", "all", "--json", "--config", config)
    plan = json.loads(result.stdout)
    blockers = {c["name"]: c["message"] for c in plan["checks"] if c["status"] == "blocker"}
    assert "username and password" in blockers["source-unusable"]


def test_a_wrong_dr_password_is_reported_as_such_by_status(app, write_config):
    """`drbot status --json` names the credentials when the DR pool refuses the login."""
    config = write_config(pools={"dr": {"password": "not-the-password"}})
    result = _invoke(app, "status", "--json", "--config", config)
    assert "username and password" in result.stdout


def test_status_shows_the_last_test_failover_past_a_newer_failover(app, write_config):
    """After a drill and then a real failover, status still reports the drill, no 'No drill'."""
    from store import open_store

    config = write_config()
    store = open_store(config.replace("drbot.toml", "drbot.db"))
    plan = {"source_pool": "prod", "dest_pool": "dr"}
    drill = store.runs.create("test-failover", "all", "dr", "h1", plan, "U1")
    real = store.runs.create("failover", "all", "dr", "h2", plan, "U1")
    store.drills.record(drill, "test-failover", "dr", 95.0, "succeeded", {})
    store.drills.record(real, "failover", "dr", 40.0, "succeeded", {})
    store.close()
    result = _invoke(app, "status", "--json", "--config", config)
    (pair,) = json.loads(result.stdout)["pairs"]
    assert not [r for r in pair["readiness"]["reasons"] if "No drill on record" in r]
    assert pair["last_drill"]["kind"] == "test-failover"
