"""The control API, the endpoints file, `--state-dir` resume, and `drbot sim` commands."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest
from typer.testing import CliRunner

from bot.cli_sim import app as sim_cli
from sim.xapi.scenario import parse_scenario
from sim.xapi.serve import SimHandle
from tests.sim_xapi.world_support import ControlError, Ctl, login


def test_state_lists_sites_hosts_and_vms(mini: SimHandle, ctl: Ctl) -> None:
    """GET /state shows every site, its hosts with liveness and its VMs with power states."""
    state = ctl("GET", "/state")
    assert set(state["sites"]) == {"primary", "dr"}
    prod = state["sites"]["primary"]["pools"]["prod"]
    assert [h["up"] for h in prod["hosts"]] == [True, True]
    vms = {v["name"]: v for v in prod["vms"]}
    assert vms["shop-db"]["appliance"] == "shop"
    assert vms["halted-vm"]["power_state"] == "Halted"
    assert state["sites"]["dr"]["pools"]["dr"]["ha_enabled"] is True


@pytest.mark.parametrize(
    ("verb", "path", "body", "status", "says"),
    [
        ("GET", "/nope", None, 404, "no such endpoint"),
        ("POST", "/replication/nope/promote", {}, 404, "known LUNs"),
        ("POST", "/sites/nowhere/fail", {}, 404, "sites: primary, dr"),
        ("POST", "/faults", {"kind": "flood"}, 400, "vm_start, lun"),
        ("POST", "/faults", {"kind": "vm_start"}, 400, "'vm'"),
        ("POST", "/faults", {"kind": "vm_start", "vm": "x", "error": "VM_CRASHED"}, 400, "list"),
        ("GET", "/calls?since=x", None, 400, "whole number"),
    ],
)
def test_bad_control_requests_get_a_4xx_that_says_what_to_do(
    ctl: Ctl, verb: str, path: str, body: dict | None, status: int, says: str
) -> None:
    """Unknown routes, LUNs, sites and fault kinds answer 4xx with an explanatory error."""
    with pytest.raises(ControlError) as exc:
        ctl(verb, path, body)
    assert exc.value.status == status
    assert says in exc.value.body["error"]


def test_promote_twice_is_a_conflict(ctl: Ctl) -> None:
    """Promoting an already promoted LUN answers 409."""
    lun = ctl.lun("Gold")["lun"]
    ctl("POST", f"/replication/{lun}/promote")
    with pytest.raises(ControlError) as exc:
        ctl("POST", f"/replication/{lun}/promote")
    assert exc.value.status == 409


def test_call_log_counts_what_a_client_did(mini: SimHandle, ctl: Ctl) -> None:
    """GET /calls?since=N lists each call after N with host, user, method and outcome."""
    since = ctl("GET", "/calls")[-1]["seq"] if ctl("GET", "/calls") else 0
    prod = login(mini, "primary")
    prod.xenapi.VM.get_all()
    calls = ctl("GET", f"/calls?since={since}")
    assert [c["method"] for c in calls] == ["session.login_with_password", "VM.get_all"]
    assert calls[1]["user"] == "operator"
    assert calls[1]["outcome"] == "Success"
    assert calls[0]["args"][1] != "operator-pw"


def test_endpoints_file_names_coordinators_members_users_and_control(
    sim_factory: Callable[..., SimHandle], tmp_path: Path
) -> None:
    """The endpoints file has sites.<site>.coordinator/members/users/storage and control."""
    path = tmp_path / "ep.json"
    sim = sim_factory("mini", endpoints_path=path)
    data = json.loads(path.read_text())
    assert data == sim.endpoints
    site = data["sites"]["primary"]
    assert site["coordinator"].startswith("http://127.0.1.1:")
    assert len(site["members"]) == 1
    assert site["users"]["read-only"] == ["viewer", "viewer-pw"]
    assert site["storage"]["targetIQN"]
    assert data["control"] == sim.control_url


def test_state_dir_resumes_the_world_where_it_was(
    sim_factory: Callable[..., SimHandle], tmp_path: Path
) -> None:
    """Stopped and started again with --state-dir, the simulator keeps objects, LUNs and faults."""
    first = sim_factory("mini", state_dir=tmp_path)
    ctl = Ctl(first.control_url)
    prod = login(first, "primary")
    prod.xenapi.VM_appliance.create({"name_label": "kept", "name_description": ""})
    lun = ctl.lun("Silver")["lun"]
    ctl("POST", f"/replication/{lun}/promote")
    ctl("POST", "/hosts/127.0.2.2/fail")
    ctl("POST", "/faults", {"kind": "vm_start", "vm": "halted-vm"})
    pending = ctl.lun("Gold")["pending_writes"]
    first.stop()

    second = sim_factory("mini", state_dir=tmp_path)
    ctl = Ctl(second.control_url)
    prod = login(second, "primary")
    assert prod.xenapi.VM_appliance.get_by_name_label("kept")
    assert ctl.lun("Silver")["state"] == "promoted"
    assert ctl.lun("Gold")["pending_writes"] >= pending
    assert ctl("GET", "/faults")["vm_start"][0]["vm"] == "halted-vm"
    hosts = ctl("GET", "/state")["sites"]["dr"]["pools"]["dr"]["hosts"]
    assert [h["up"] for h in hosts] == [True, False]
    ctl("POST", f"/replication/{ctl.lun('Gold')['lun']}/sync")
    ctl.disaster("primary")
    dr = login(second, "dr")
    task = dr.xenapi.DR_task.create("lvmoiscsi", ctl.lun("Gold")["mirror_device_config"], [])
    assert dr.xenapi.DR_task.get_introduced_SRs(task) == []


def test_tls_serves_https_with_a_certificate_in_the_endpoints(
    sim_factory: Callable[..., SimHandle],
) -> None:
    """With tls=True the coordinators speak HTTPS and the endpoints carry the certificate."""
    sim = sim_factory("mini", tls=True)
    assert sim.endpoints["sites"]["dr"]["coordinator"].startswith("https://")
    assert "BEGIN CERTIFICATE" in sim.endpoints["tls_certificate"]


def test_cli_ctl_shows_replication_and_drives_the_array(mini: SimHandle) -> None:
    """`drbot sim ctl` prints the LUNs, promotes one and reads the call log."""
    runner = CliRunner()
    base = ["ctl", "--control", mini.control_url]
    out = runner.invoke(sim_cli, [*base, "replication"], env={"COLUMNS": "200"})
    assert out.exit_code == 0, out.output
    assert "prod-gold" in out.output
    out = runner.invoke(sim_cli, [*base, "promote", "prod-gold"])
    assert out.exit_code == 0, out.output
    assert "promoted" in out.output
    out = runner.invoke(sim_cli, [*base, "promote", "prod-gold"])
    assert out.exit_code == 1
    assert "already promoted" in out.output
    assert runner.invoke(sim_cli, [*base, "state"]).exit_code == 0
    assert runner.invoke(sim_cli, [*base, "calls"]).exit_code == 0


def test_cli_ctl_without_a_simulator_says_how_to_start_one(tmp_path: Path) -> None:
    """With no endpoints file, `drbot sim ctl state` exits 2 and names `drbot sim serve`."""
    out = CliRunner().invoke(sim_cli, ["ctl", "--endpoints", str(tmp_path / "x.json"), "state"])
    assert out.exit_code == 2
    assert "drbot sim serve" in out.output


def test_cli_generate_writes_a_scenario(tmp_path: Path) -> None:
    """`drbot sim generate --vms 120 -o FILE` writes a scenario with 120 VMs."""
    path = tmp_path / "big.toml"
    out = CliRunner().invoke(sim_cli, ["generate", "--vms", "120", "-o", str(path)])
    assert out.exit_code == 0, out.output
    assert len(parse_scenario(path.read_text()).sites[0].pools[0].vms) == 120
