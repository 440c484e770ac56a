"""The operator CLI against a running simulator, with a real configuration file and store."""

from __future__ import annotations

import json

import pytest
import typer
from typer.testing import CliRunner

from bot import cli_ops
from store import open_store


@pytest.fixture
def app() -> typer.Typer:
    app = typer.Typer()
    cli_ops.register(app)
    return app


@pytest.fixture
def config(tmp_path):
    """A drbot.toml pointing at a fresh demo simulator (started and stopped here)."""
    from bot.simconfig import from_sim_endpoints
    from sim.xapi.serve import start_sim

    handle = start_sim("demo", speed=1000.0)
    cfg = from_sim_endpoints(handle.endpoints)
    lines = ['store_path = "drbot.db"', ""]
    for name, pool in cfg.pools.items():
        lines += [
            f"[engine.pools.{name}]",
            f"urls = {json.dumps(pool.urls)}",
            f'username = "{pool.username}"',
            f'password = "{pool.password.get_secret_value()}"',
            f'site = "{pool.site}"',
            "allow_plaintext = true",  # the simulator on loopback
            "",
        ]
    for pair in cfg.pairs:
        lines += ["[[engine.pairs]]", f'protected = "{pair.protected}"', f'dr = "{pair.dr}"', ""]
    lines += ["[engine.storage]", 'adapter = "sim"', f'control_url = "{handle.control_url}"']
    path = tmp_path / "drbot.toml"
    path.write_text("\n".join(lines) + "\n")
    yield path
    handle.stop()


def _invoke(app, *args):
    return CliRunner().invoke(app, [str(a) for a in args], catch_exceptions=False)


def test_failover_from_the_cli_needs_break_glass_and_a_reason(app, config):
    """A failover without --break-glass, or without a reason, is refused and nothing runs."""
    refused = _invoke(app, "run", "failover", "all", "--config", config)
    assert refused.exit_code == 2
    assert "--break-glass" in refused.output
    no_reason = _invoke(app, "run", "failover", "all", "--break-glass", "--config", config)
    assert no_reason.exit_code == 2
    assert "--reason" in no_reason.output
    store = open_store(config.parent / "drbot.db")
    assert store.runs.list() == []
    store.close()


def test_plan_shows_blockers_as_json(app, config):
    """`drbot plan --json` prints the plan; a blocker (HA on at the DR pool) exits 1."""
    result = _invoke(app, "plan", "test-failover", "payments", "--json", "--config", config)
    assert result.exit_code == 1
    plan = json.loads(result.stdout)
    assert plan["kind"] == "test-failover"
    assert len(plan["hash"]) == 64
    assert [c["name"] for c in plan["checks"] if c["status"] == "blocker"] == ["ha"]


def test_run_refuses_a_blocked_plan_and_names_the_blockers(app, config):
    """`drbot run` on a plan with blockers exits 2 and lists them."""
    result = _invoke(app, "run", "test-failover", "payments", "--config", config)
    assert result.exit_code == 2
    assert "ha" in result.output


def test_test_failover_then_runs_and_runs_show(app, config):
    """Test failovers run to the end (JSON and human); `runs` and `runs show` report them."""
    run = _invoke(
        app, "run", "test-failover", "web-shop", "--disable-ha", "--json", "--config", config
    )
    assert run.exit_code == 0, run.output
    ended = json.loads(run.stdout)
    assert ended["state"] == "succeeded"
    listed = json.loads(_invoke(app, "runs", "--json", "--config", config).stdout)
    assert [r["id"] for r in listed] == [ended["id"]]
    shown = json.loads(
        _invoke(app, "runs", "show", ended["id"], "--json", "--config", config).stdout
    )
    assert shown["history"][-1]["to_state"] == "succeeded"
    assert any(s["key"].startswith("recover:app:") for s in shown["steps"])
    assert {o["status"] for o in shown["outcome"]["vms"].values()} == {"started-paused"}
    table = _invoke(app, "runs", "show", ended["id"], "--config", config)
    assert table.exit_code == 0
    assert "shop-db" in table.output
    human = _invoke(app, "run", "test-failover", "crm", "--disable-ha", "--config", config)
    assert human.exit_code == 0, human.output
    assert "ended succeeded" in human.output


def test_break_glass_failover_is_recorded_in_the_audit_trail(app, config):
    """A planned break-glass failover runs, and its reason is in the verified audit trail."""
    result = _invoke(
        app,
        "run",
        "failover",
        "web-shop",
        "--planned",
        "--break-glass",
        "--reason",
        "Slack is down, DC power work",
        "--json",
        "--config",
        config,
    )
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["state"] == "succeeded"
    store = open_store(config.parent / "drbot.db")
    entries = store.audit.entries()
    glass = [e for e in entries if e["event_type"] == "BreakGlass"]
    assert glass[0]["payload"]["reason"] == "Slack is down, DC power work"
    assert glass[0]["actor"].startswith("cli:")
    assert store.audit.verify()
    store.close()


def test_status_reports_readiness_and_replication(app, config):
    """`drbot status --json` gives each pair's verdict with reasons, and every replicated LUN."""
    result = _invoke(app, "status", "--json", "--config", config)
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    (pair,) = report["pairs"]
    assert pair["readiness"]["verdict"] in ("ready", "degraded", "not-ready")
    assert pair["readiness"]["reasons"]
    assert report["replication"]
    assert _invoke(app, "status", "--config", config).exit_code == 0


def test_bad_configuration_and_unknown_runs_get_clear_errors(app, config, tmp_path):
    """A missing or invalid config, an unknown run or target: each says what to do (exit 2)."""
    missing = _invoke(app, "runs", "--config", tmp_path / "nope.toml")
    assert missing.exit_code == 2
    assert "does not exist" in missing.output
    bad = tmp_path / "bad.toml"
    bad.write_text("[engine]\npools = 3\n")
    invalid = _invoke(app, "runs", "--config", bad)
    assert invalid.exit_code == 2
    assert "invalid" in invalid.output.lower()
    unknown = _invoke(app, "resume", "99", "--config", config)
    assert unknown.exit_code == 2
    assert "drbot runs" in unknown.output
    target = _invoke(app, "plan", "test-failover", "no-such-app", "--config", config)
    assert target.exit_code == 2
    assert "no-such-app" in target.output


def test_manual_storage_steps_pause_until_confirmed_from_the_cli(app, config, tmp_path):
    """With the manual adapter a run pauses at each storage step; resume --storage-done goes on."""
    import tomllib

    from engine.storage.sim import SimStorageAdapter

    raw = tomllib.loads(config.read_text())
    array = SimStorageAdapter(raw["engine"]["storage"]["control_url"])
    text = config.read_text().replace('adapter = "sim"', 'adapter = "manual"')
    for lun in array.state():
        text += (
            (
                "\n[[engine.storage.luns]]\n"
                f'lun = "{lun.lun}"\nsr_uuid = "{lun.sr_uuid}"\nname = "{lun.name}"\n'
                f'source_site = "{lun.source_site}"\ntarget_site = "{lun.target_site}"\n'
                f"mirror_device_config = {json.dumps(lun.mirror_device_config)}\n"
            )
            .replace('": "', '" = "')
            .replace('{"', '{ "')
            .replace('"}', '" }')
        )
    manual = tmp_path / "manual.toml"
    manual.write_text(text)

    first = _invoke(
        app,
        "run",
        "failover",
        "web-shop",
        "--planned",
        "--break-glass",
        "--reason",
        "array",
        "--json",
        "--config",
        manual,
    )
    assert first.exit_code == 0, first.output
    run = json.loads(first.stdout)
    assert run["state"] == "paused"
    refused = _invoke(app, "resume", run["id"], "--config", manual)
    assert refused.exit_code == 2
    assert "--storage-done" in refused.output

    store = open_store(tmp_path / "drbot.db")
    for _ in range(12):  # one pause per storage step and LUN
        step = store.runs.get(run["id"]).paused_step
        if step is None:
            break
        getattr(array, step.action)(step.lun)  # the storage team does it
        resumed = _invoke(app, "resume", run["id"], "--storage-done", "--json", "--config", manual)
        assert resumed.exit_code == 0, resumed.output
    final = store.runs.get(run["id"])
    assert final.state == "succeeded", final.error
    confirmed = [e for e in store.audit.entries() if e["event_type"] == "StorageStepConfirmed"]
    assert {e["payload"]["action"] for e in confirmed} == {"sync", "promote"}
    store.close()


def _lines(output: str) -> list[str]:
    return [line.rstrip() for line in output.splitlines()]


def test_status_and_plan_are_readable_at_80_columns(app, config):
    """At 80 columns no line is wider, no text is cut, and each reason reads as a sentence."""
    from bot.ops.output import terminal_width

    with terminal_width(80):
        status = _invoke(app, "status", "--config", config)
        plan = _invoke(app, "plan", "test-failover", "web-shop", "--config", config)
    assert status.exit_code == 0, status.output
    assert plan.exit_code == 1, plan.output  # the HA blocker
    for output in (status.output, plan.output):
        assert max(len(line) for line in _lines(output)) <= 80
        assert "\u2026" not in output  # folded, never cut with an ellipsis
    assert any(
        "degraded Gold iSCSI 01: Replication is 900 s behind" in ln for ln in _lines(status.output)
    )
    assert any("prod-silver-iscsi-03" in line for line in _lines(status.output))
    plan_lines = _lines(plan.output)
    assert any(line.startswith("blocker ha dr: HA is on in the DR pool") for line in plan_lines)
    assert any("shop-cache-01" in line and "source-pool" in line for line in plan_lines)
    assert any("test copy" in line for line in plan_lines)


def test_status_and_plan_use_the_width_of_a_wide_terminal(app, config):
    """At 160 columns status shows reasons beside the verdict and plan shows more VM columns."""
    from bot.ops.output import terminal_width

    with terminal_width(160):
        status = _invoke(app, "status", "--config", config)
        plan = _invoke(app, "plan", "test-failover", "web-shop", "--config", config)
    for output in (status.output, plan.output):
        assert max(len(line) for line in _lines(output)) <= 160
        assert "\u2026" not in output
    status_lines = _lines(status.output)
    assert max(len(line) for line in status_lines) > 120
    header = next(line for line in status_lines if "verdict" in line)
    assert "reasons" in header
    assert any(
        "degraded" in ln and "Replication is 900 s behind (limit 300 s)" in ln
        for ln in status_lines
    )
    plan_lines = _lines(plan.output)
    assert any("power at source" in line and "vCPUs" in line for line in plan_lines)
    assert any(
        "shop-db" in line and "Running" in line and "16.0 GiB" in line for line in plan_lines
    )
    message = "HA is on in the DR pool: it could restart test copies on the network."
    assert any("blocker" in line and message in line for line in plan_lines)
