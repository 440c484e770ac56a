"""`drbot rehearse`: each sample rehearsed to a verdict, what would fail said for the real
estate, both RTOs, output readable at 80 columns, and bad requests refused with exit 2."""

from __future__ import annotations

import json
from typing import Any

import pytest
from typer.testing import CliRunner

from bot.cli import _mount, app
from tests.twin.support import DATA, rows


def _rehearse(*args: str) -> Any:
    _mount()
    return CliRunner().invoke(app, ["rehearse", *args], env={"COLUMNS": "80"})


def _guest_names(name: str) -> set[str]:
    return {
        r["name__label"]
        for r in rows(DATA / name, "VM")
        if "true" not in (r["is_a_template"], r["is_control_domain"], r["is_a_snapshot"])
    }


@pytest.mark.parametrize("name", ["small_vms.xml", "xapidb_app.xml"])
def test_each_sample_rehearses_to_a_verdict_naming_every_vm_that_would_fail(name: str) -> None:
    """Each sample ends not ready, with a reason per VM, in lines of at most 80 columns."""
    result = _rehearse(str(DATA / name))
    assert result.exit_code == 1, result.output
    lines = result.output.splitlines()
    assert lines[-1].startswith("Verdict: not ready")
    assert max(len(line) for line in lines) <= 80
    report = json.loads(_rehearse(str(DATA / name), "--json").output)
    assert report["verdict"].startswith("not ready")
    failing = {f["subject"] for f in report["findings"] if f["why"]}
    assert _guest_names(name) <= failing
    assert report["twin"]["vms"] == len(_guest_names(name))


def test_a_replicated_pool_drill_runs_and_names_the_vapp_a_scratch_disk_keeps_out() -> None:
    """The drill succeeds and names the vApp its unreplicated scratch disk keeps out, with RTOs."""
    report = json.loads(_rehearse(str(DATA / "replicated_pool.xml"), "--json").output)
    assert report["run"]["state"] == "succeeded"
    assert report["estimated_rto_seconds"] > 0
    assert report["run"]["rto_seconds"] > 0
    why = {f["subject"]: f["why"] for f in report["findings"]}
    assert "payments-db" in why
    assert "Scratch NFS" in why["payments-db"]
    came_up = {vm["name"] for vm in report["run"]["vms"].values()}
    assert came_up == _guest_names("replicated_pool.xml") - set(why)
    assert report["verdict"] == f"not ready: {len(why)} VM(s) of the estate would not come up"
    assert "Scratch NFS" in " ".join(report["twin"]["assumptions"])  # from the .twin.toml


def test_a_failover_rehearsal_fails_the_primary_and_reports_the_vapp_left_out() -> None:
    """A failover fails the primary first; planned from what was read of it before, it leaves
    the scratch vApp's VM out, naming the SR that is not replicated (never tried: no raw
    VM_REQUIRES_SR), and recovers the rest."""
    report = json.loads(
        _rehearse(str(DATA / "replicated_pool.xml"), "--kind", "failover", "--json").output
    )
    assert report["plan"]["source_reachable"] is False
    assert report["run"]["state"] == "succeeded"
    findings = {f["subject"]: f for f in report["findings"]}
    assert findings["payments-db"]["status"] == "left out"
    assert "'Scratch NFS', which is not replicated" in findings["payments-db"]["why"]
    assert "VM_REQUIRES_SR" not in findings["payments-db"]["why"]


def test_a_dr_dump_with_unlicensed_hosts_blocks_the_plan() -> None:
    """With --dr-db, the DR pool is the dump's: its free-edition host blocks the run."""
    result = _rehearse(
        str(DATA / "replicated_pool.xml"), "--dr-db", str(DATA / "small_vms.xml"), "--json"
    )
    report = json.loads(result.output)
    assert result.exit_code == 1
    assert report["run"] is None
    assert any("dt40" in f["why"] for f in report["findings"] if f["status"] == "blocker")


def test_a_small_generated_dr_pool_is_found_short_of_memory() -> None:
    """--dr-capacity scales the generated DR hosts; too little memory is a finding."""
    result = _rehearse(str(DATA / "replicated_pool.xml"), "--dr-capacity", "0.05", "--json")
    report = json.loads(result.output)
    checks = {c["name"]: c for c in report["plan"]["checks"]}
    assert checks["capacity"]["status"] != "ok"
    assert "0.05 x the memory" in " ".join(report["twin"]["assumptions"])


def test_dr_db_and_dr_capacity_together_are_refused() -> None:
    """A DR dump brings its own capacity: giving both exits 2 with the reason."""
    result = _rehearse(
        str(DATA / "small_vms.xml"),
        "--dr-db",
        str(DATA / "small_vms.xml"),
        "--dr-capacity",
        "0.5",
    )
    assert result.exit_code == 2
    assert "not both" in result.output


def test_a_vapp_mate_is_told_which_member_keeps_it_out() -> None:
    """The member whose own disks are replicated is left out with its vApp, and is told which
    member's disk keeps the vApp out, never of that disk as if it were its own."""
    report = json.loads(_rehearse(str(DATA / "replicated_pool.xml"), "--json").output)
    why = {f["subject"]: f["why"] for f in report["findings"]}
    (mate,) = [name for name in why if name != "payments-db"]
    assert why[mate].startswith("Left out with its vApp ")
    assert "its member payments-db has a disk on SR 'Scratch NFS'" in why[mate]
    assert why["payments-db"].startswith("A disk is on SR 'Scratch NFS'")
