"""A dry run over many pools (`plan KIND all pools`, `plan KIND site:NAME`) shows each pool's
plan (VMs, vApps, SRs, checks, estimated RTO) even when a real run would be blocked, and says
what would block it without refusing: it is a preview. A real run of the same request is still
refused, naming each pool's blockers once (grouped), not once per VM."""

from __future__ import annotations

from pathlib import Path

import typer
from typer.testing import CliRunner

from bot import cli_ops
from bot.ops.output import terminal_width
from bot.simconfig import write_config
from commands.requests import FailoverRequest, PlanRequest
from commands.results import EstateResult, Refused
from tests.commands.conftest import CLI, OLIVIA

POOLS = ["east-a", "east-b", "west", "north"]


def test_a_failover_preview_of_all_pools_shows_every_plan_and_what_would_block(estate_service):
    """With every site up, `plan failover all pools` answers every pool's plan (not a refusal):
    each blocked by the split-brain guard, counted and carried whole, and `would_block` names
    each pool once with its three running VMs grouped in one line."""
    svc = estate_service()
    preview = svc.dispatch(PlanRequest(kind="failover", target="all pools"), OLIVIA)
    assert isinstance(preview, EstateResult), preview
    assert preview.phase == "planned"
    assert [i.protected for i in preview.items] == POOLS
    for item in preview.items:
        assert item.plan is not None
        assert (item.vms, item.vapps, item.srs) == (3, 1, 1)
        assert item.blockers == 3
        assert item.state == "blocked"
        assert item.note == "a run would be blocked: split-brain x3"
        assert item.estimated_rto_seconds
    assert len(preview.would_block) == 4
    for pool, line in zip(POOLS, preview.would_block, strict=True):
        assert line.startswith(f"{pool}: split-brain (3: {pool}-db, ")
        assert line.count("split-brain") == 1  # once, not once per VM
    assert not svc.wiring.store.runs.list()


def test_a_real_run_over_blocked_pools_is_refused_with_each_pools_blockers_once(estate_service):
    """The run itself is refused (one request, one decision), each pool named once with its
    split-brain blocker grouped over its three VMs."""
    svc = estate_service()
    refused = svc.dispatch(
        FailoverRequest(target="all pools", reason="drill", break_glass=True), CLI
    )
    assert isinstance(refused, Refused), refused
    assert "4 of 4 pools cannot run" in refused.reason
    for pool in POOLS:
        assert refused.reason.count(f"{pool}: split-brain (3: ") == 1
    assert not svc.wiring.store.runs.list()


def _app() -> typer.Typer:
    app = typer.Typer()
    cli_ops.register(app)
    return app


def test_the_cli_dry_run_of_all_pools_is_a_per_pool_plan_summary(estate, tmp_path: Path):
    """`drbot plan failover 'all pools'` at 80 columns: a row per pool with VMs, vApps, SRs,
    RTO and its checks, each pool's blockers grouped, and what would stop a real run, worded as
    a preview (exit 1, as a single plan with blockers); `plan test-failover` says a run would
    start (exit 0)."""
    config = tmp_path / "drbot.toml"
    write_config(estate.handle.endpoints, config, tmp_path / "drbot.db")
    with terminal_width(80):
        out = CliRunner().invoke(_app(), ["plan", "failover", "all pools", "--config", config])
    assert out.exit_code == 1, out.output
    text = out.output
    assert "failover of all pools: dry run, nothing started" in text
    assert all(len(line) <= 80 for line in text.splitlines())
    for pool in POOLS:
        row = next(line.split() for line in text.splitlines() if line.split()[:1] == [pool])
        assert row[3:6] == ["3", "1", "1"]  # VMs, vApps, SRs
        assert row[6].isdigit()  # estimated RTO, in seconds
        assert row[7] == "s"
        assert " ".join(row[8:]).startswith("3 blockers")  # and the warnings, if any
        assert f"blocker split-brain 3 VMs ({pool}-db," in " ".join(text.split())
    assert "A real run would not start" in text
    assert "4 of 4 pools have blockers (above): east-a, east-b, west, north" in " ".join(
        text.split()
    )
    for refusal in ("none starts", "refused", "cannot run"):
        assert refusal not in text
    with terminal_width(80):
        drill = CliRunner().invoke(
            _app(), ["plan", "test-failover", "all pools", "--config", config]
        )
    assert drill.exit_code == 0, drill.output
    assert "A real run would start" in drill.output
