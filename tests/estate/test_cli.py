"""The operator CLI over an estate: `drbot run test-failover site:east` runs both pools of the
site one after another and prints one summary; `drbot runs` names each run's protected pool."""

from __future__ import annotations

import json

import typer
from typer.testing import CliRunner

from bot import cli_ops
from bot.ops.output import terminal_width
from bot.simconfig import write_config


def _app() -> typer.Typer:
    app = typer.Typer()
    cli_ops.register(app)
    return app


def test_a_site_drill_from_the_cli_prints_each_pool_and_one_summary(estate, tmp_path):
    """Exit 0; the JSON summary is `finished` with east-a and east-b succeeded into dr; `runs`
    lists both runs with their protected pools, and `runs --pool east-b` only east-b's."""
    config = tmp_path / "drbot.toml"
    write_config(estate.handle.endpoints, config, tmp_path / "drbot.db")
    app = _app()
    out = CliRunner().invoke(
        app, ["run", "test-failover", "site:east", "--json", "--config", str(config)]
    )
    assert out.exit_code == 0, out.output
    summary = json.loads(out.stdout)
    assert summary["phase"] == "finished"
    assert [(i["protected"], i["dr"], i["state"]) for i in summary["items"]] == [
        ("east-a", "dr", "succeeded"),
        ("east-b", "dr", "succeeded"),
    ]
    with terminal_width(80):
        runs = CliRunner().invoke(app, ["runs", "--config", str(config)])
    assert runs.exit_code == 0, runs.output
    assert "protected" in runs.output
    assert "east-a" in runs.output
    assert "east-b" in runs.output
    only = CliRunner().invoke(app, ["runs", "--pool", "east-b", "--json", "--config", str(config)])
    assert [r["protected_pool"] for r in json.loads(only.stdout)] == ["east-b"]


def test_a_run_without_pool_among_several_pairs_exits_2_with_the_choices(estate, tmp_path):
    """`drbot plan test-failover all` with four pairs and no --pool: exit 2 naming them."""
    config = tmp_path / "drbot.toml"
    write_config(estate.handle.endpoints, config, tmp_path / "drbot.db")
    out = CliRunner().invoke(_app(), ["plan", "test-failover", "all", "--config", str(config)])
    assert out.exit_code == 2
    assert "east-a:dr" in out.output
    assert "north:dr2" in out.output
