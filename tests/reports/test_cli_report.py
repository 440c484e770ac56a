"""`drbot report drill`: the report written locally (PNG, CSV, self-contained HTML), and clear
refusals for a bad request."""

from __future__ import annotations

import csv
import io

import pytest
import typer
from typer.testing import CliRunner

from bot import cli_report
from store import open_store
from tests.reports.synthetic import record_drill

CONFIG = """store_path = "drbot.db"

[engine.pools.prod]
site = "primary"
urls = ["https://127.0.0.1:9"]
username = "root"
password = "x"

[engine.pools.dr]
site = "recovery"
urls = ["https://127.0.0.1:9"]
username = "root"
password = "x"

[[engine.pairs]]
protected = "prod"
dr = "dr"

[engine.storage]
adapter = "manual"

[reports]
rto_target_seconds = 600
"""


@pytest.fixture
def app() -> typer.Typer:
    app = typer.Typer()
    app.add_typer(cli_report.app, name="report")
    return app


@pytest.fixture
def config(tmp_path):
    path = tmp_path / "drbot.toml"
    path.write_text(CONFIG)
    return path


def _invoke(app, *args):
    return CliRunner().invoke(app, [str(a) for a in args], catch_exceptions=False)


def test_report_drill_last_writes_png_csv_and_html(app, config, tmp_path, clock):
    """--last writes both charts, the CSV (one row per VM) and one HTML page with the charts
    inlined and nothing fetched from elsewhere."""
    with open_store(tmp_path / "drbot.db", now=clock.now) as store:
        written = record_drill(store, clock, vms=50, apps=5, failures=3)
    out = tmp_path / "out"
    result = _invoke(app, "report", "drill", "--last", "--out", out, "--config", config)
    assert result.exit_code == 0, result.output
    run = written.run_id
    for name in (f"drill-{run}-rto.png", f"drill-{run}-rpo.png"):
        assert (out / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    rows = list(csv.DictReader(io.StringIO((out / f"drill-{run}-vms.csv").read_text())))
    assert len(rows) == 50
    assert {r["vm"] for r in rows if r["status"] == "start-failed"} == set(written.failed)
    page = (out / f"drill-{run}.html").read_text()
    assert page.count('src="data:image/png;base64,') == 2
    assert "http://" not in page
    assert "https://" not in page
    assert f"DR drill #{run}: FAILED" in page


def test_report_drill_refuses_what_it_cannot_do(app, config, tmp_path, clock):
    """No drill yet, an unknown run, and RUN with --last each exit 2 with what to do."""
    none = _invoke(app, "report", "drill", "--config", config)
    assert none.exit_code == 2
    assert "No drill in the store yet" in none.output
    with open_store(tmp_path / "drbot.db", now=clock.now) as store:
        record_drill(store, clock, vms=10, apps=2)
    unknown = _invoke(app, "report", "drill", "99", "--config", config)
    assert unknown.exit_code == 2
    assert "There is no run 99" in unknown.output
    both = _invoke(app, "report", "drill", "1", "--last", "--config", config)
    assert both.exit_code == 2
    assert "not both" in both.output


def test_example_configuration_has_the_reports_section():
    """deploy/drbot.example.toml's [reports] loads: zone, channels, the weekly drill's time and
    grace, and a rotating sample."""
    from pathlib import Path

    from bot.settings import load_settings

    example = Path(__file__).resolve().parents[2] / "deploy" / "drbot.example.toml"
    reports = load_settings(example).reports
    assert reports.timezone == "Europe/Paris"
    assert reports.channel == "C0DRREPORT"
    drill = reports.schedules["drill"]
    assert (drill.cron, drill.misfire_grace_seconds) == ("0 2 * * 1", 21600)
    assert reports.schedules["audit-digest"].misfire_grace_seconds == 4 * 3600
    assert (reports.drill.scope, reports.drill.sample_size) == ("sample", 3)
