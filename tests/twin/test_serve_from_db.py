"""`drbot sim serve --from-db`: the twin is served like any scenario, with the control API,
faults and `--config`."""

from __future__ import annotations

import json
import urllib.request
from pathlib import Path

import pytest
import XenAPI

from bot.settings import load_settings
from tests.sim_serve import sim_serve
from tests.twin.support import DATA, expected_counts


@pytest.fixture
def served(tmp_path: Path):
    """`drbot sim serve --from-db` of the replicated pool, stopped with Ctrl-C at the end."""
    endpoints, config = tmp_path / "endpoints.json", tmp_path / "drbot.toml"
    with sim_serve(
        ["--from-db", str(DATA / "replicated_pool.xml"), "--dr-capacity", "0.5", "--no-slack"],
        endpoints,
        config,
    ) as (_proc, printed, endpoints_data):
        yield printed, endpoints_data, config


def test_serve_from_db_prints_assumptions_and_serves_the_dumps_estate(served) -> None:
    """Assumptions are printed; the dump's VMs and hosts are served; the config pairs both sites."""
    output, endpoints, config = served
    assert "replicated SR (mirror at the DR site, same uuid): Gold iSCSI" in output
    assert "0.5 x the memory" in output
    want = expected_counts(DATA / "replicated_pool.xml")
    primary = XenAPI.Session(endpoints["sites"]["primary"]["coordinator"])
    primary.xenapi.login_with_password(*endpoints["sites"]["primary"]["users"]["read-only"])
    try:
        vms = [
            r
            for r in primary.xenapi.VM.get_all_records().values()
            if not (r["is_a_template"] or r["is_control_domain"] or r["is_a_snapshot"])
        ]
        assert len(vms) == want["VM"]
        assert len(primary.xenapi.host.get_all()) == want["host"]
    finally:
        primary.xenapi.session.logout()
        primary("close")()
    assert len(endpoints["sites"]["dr"]["members"]) + 1 == want["host"]
    settings = load_settings(config)
    assert [(p.protected, p.dr) for p in settings.engine.pairs] == [("Boston Production", "dr")]


def test_serve_from_db_takes_faults_on_the_control_api(served) -> None:
    """A VM of the dump can be given a start fault through the control API, as in any scenario."""
    _, endpoints, _ = served
    body = json.dumps({"kind": "vm_start", "vm": "payments-db", "error": ["VM_CRASHED"]})
    req = urllib.request.Request(
        endpoints["control"] + "/faults",
        data=body.encode(),
        method="POST",
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(req, timeout=30):
        pass
    with urllib.request.urlopen(endpoints["control"] + "/faults", timeout=30) as resp:
        faults = json.load(resp)
    assert "payments-db" in json.dumps(faults)
