"""Secrets in a dump are never loaded, stored or shown: a search of everything the twin
serves (XenAPI on both sites, the control API) and writes (state, endpoints, configuration,
`drbot rehearse` in both forms) finds none of them."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import XenAPI
from typer.testing import CliRunner

from bot.cli import _mount, app
from bot.simconfig import write_config
from sim.xapi.serve import SimHandle
from sim.xapi.twin import load_dump
from tests.twin.conftest import make_twin
from tests.twin.data.make_data import SECRETS
from tests.twin.support import DATA

DUMP = DATA / "replicated_pool.xml"
CLASSES = [
    "VM", "VM_appliance", "VM_metrics", "VM_guest_metrics", "VBD", "VDI", "VIF", "SR", "PBD",
    "network", "PIF", "host", "host_metrics", "pool", "SM", "task",
]  # fmt: skip


def _found(text: str) -> list[str]:
    return [name for name, value in SECRETS.items() if value in text]


def test_the_fixture_really_holds_every_kind_of_secret() -> None:
    """The dump the other tests search from carries each secret (so the search can fail)."""
    assert sorted(_found(DUMP.read_text())) == sorted(SECRETS)


def test_no_secret_enters_the_loaded_dump_or_the_scenario() -> None:
    """Neither the PoolDump nor the scenario built from it contains any secret."""
    dump = load_dump(DUMP)
    assert _found(repr(dump)) == []
    twin = make_twin("replicated_pool.xml")
    assert _found(twin.scenario.model_dump_json()) == []
    assert _found(" ".join(twin.notes) + " ".join(map(str, twin.problems))) == []


def _served_text(handle: SimHandle) -> str:
    parts = []
    for info in handle.endpoints["sites"].values():
        session = XenAPI.Session(info["coordinator"])
        session.xenapi.login_with_password(*info["users"]["pool-admin"], "1.0", "scrub-test")
        try:
            for cls in CLASSES:
                records = getattr(session.xenapi, cls).get_all_records()
                parts.append(json.dumps(records, default=str))
        finally:
            session.xenapi.session.logout()
            session("close")()
    for path in ("/state", "/replication", "/endpoints", "/faults", "/calls"):
        from urllib.request import urlopen

        with urlopen(handle.control_url + path, timeout=30) as resp:
            parts.append(resp.read().decode())
    return "\n".join(parts)


def test_nothing_the_twin_serves_or_writes_holds_a_secret(
    serve_twin: Callable[..., SimHandle], tmp_path: Path
) -> None:
    """No secret in XenAPI records of both sites, the control API, saved state or written files."""
    state, endpoints = tmp_path / "state", tmp_path / "endpoints.json"
    handle = serve_twin(
        make_twin("replicated_pool.xml", dr="small_vms.xml"),
        state_dir=state,
        endpoints_path=endpoints,
    )
    served = _served_text(handle)
    assert "Gold iSCSI" in served  # the search looks at the twin's real content
    assert _found(served) == []
    write_config(handle.endpoints, tmp_path / "drbot.toml", Path("drbot.db"))
    handle.save()
    written = [p for p in tmp_path.rglob("*") if p.is_file()]
    assert any(p.parent == state for p in written)
    for path in written:
        assert _found(path.read_bytes().decode("utf-8", "replace")) == [], path


def test_drbot_rehearse_shows_no_secret_in_text_or_json() -> None:
    """Both outputs of a rehearsal of the dump with secrets name none of them."""
    _mount()
    for extra in ([], ["--json"]):
        result = CliRunner().invoke(app, ["rehearse", str(DUMP), *extra])
        assert "Verdict" in result.output or '"verdict"' in result.output
        assert _found(result.output) == []
