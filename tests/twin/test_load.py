"""Loading XAPI database dumps: every sample loads, counts match through XenAPI, bad files
get one clear line, unusable rows are reported and never stop the load."""

from __future__ import annotations

import contextlib
import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from xml.etree import ElementTree as ET

import pytest
import XenAPI
from typer.testing import CliRunner

from bot.cli import _mount, app
from sim.xapi.serve import SimHandle
from sim.xapi.twin import DumpError, load_dump
from tests.twin.conftest import make_twin
from tests.twin.support import DATA, SAMPLES, expected_counts, rows

GiB = 1024**3


@contextlib.contextmanager
def _login(handle: SimHandle, site: str = "primary") -> Iterator[Any]:
    """A read-only XenAPI session on the site's coordinator, logged out and closed after."""
    info = handle.endpoints["sites"][site]
    session = XenAPI.Session(info["coordinator"])
    session.xenapi.login_with_password(*info["users"]["read-only"], "1.0", "twin-tests")
    try:
        yield session.xenapi
    finally:
        session.xenapi.session.logout()
        session("close")()


@pytest.mark.parametrize("name", SAMPLES)
def test_each_sample_loads_every_row_the_twin_models(name: str) -> None:
    """The loader keeps as many hosts, networks, SRs, vApps and guest VMs as the XML has."""
    dump = load_dump(DATA / name)
    want = expected_counts(DATA / name)
    assert len(dump.guests) == want["VM"]
    assert len(dump.appliances) == want["VM_appliance"]
    assert len(dump.srs) == want["SR"]
    assert len(dump.networks) == want["network"]
    assert len(dump.hosts) == want["host"]
    assert dump.row_counts["VM"] == len(rows(DATA / name, "VM"))
    assert dump.problems == []


@pytest.mark.parametrize("name", SAMPLES)
def test_served_twin_counts_match_the_dump_through_xenapi(
    name: str, serve_twin: Callable[..., SimHandle]
) -> None:
    """Guest VMs, vApps, SRs, networks and hosts read through XenAPI are the dump's rows."""
    want = expected_counts(DATA / name)
    with _login(serve_twin(name)) as x:
        got = _counts(x)
    assert got == want


def _counts(x: Any) -> dict[str, int]:
    vms = [
        r
        for r in x.VM.get_all_records().values()
        if not (r["is_a_template"] or r["is_a_snapshot"] or r["is_control_domain"])
    ]
    return {
        "VM": len(vms),
        "VM_appliance": len(x.VM_appliance.get_all()),
        "SR": len(x.SR.get_all()),
        "network": len(x.network.get_all()),
        "host": len(x.host.get_all()),
    }


def test_vm_memory_order_delays_and_names_survive_to_the_served_twin(
    serve_twin: Callable[..., SimHandle],
) -> None:
    """Memory to the byte, vCPUs, power, vApp order and delay, disks and names serve as dumped."""
    path = DATA / "replicated_pool.xml"
    dump_vms = {
        r["name__label"]: r
        for r in rows(path, "VM")
        if "true" not in (r["is_a_template"], r["is_control_domain"], r["is_a_snapshot"])
    }
    with _login(serve_twin("replicated_pool.xml")) as x:
        _check_details(x, path, dump_vms)


def _check_details(x: Any, path: Path, dump_vms: dict[str, dict[str, str]]) -> None:
    served = {
        r["name_label"]: r
        for r in x.VM.get_all_records().values()
        if not (r["is_a_template"] or r["is_control_domain"] or r["is_a_snapshot"])
    }
    apps = {ref: r["name_label"] for ref, r in x.VM_appliance.get_all_records().items()}
    dump_apps = {r["ref"]: r["name__label"] for r in rows(path, "VM_appliance")}
    assert set(served) == set(dump_vms)
    for name, want in dump_vms.items():
        got = served[name]
        assert int(got["memory_static_max"]) == int(want["memory__static_max"])
        assert int(got["VCPUs_max"]) == int(want["VCPUs__max"])
        assert got["power_state"] == want["power_state"]
        assert int(got["order"]) == int(want["order"])
        assert int(got["start_delay"]) == int(want["start_delay"])
        assert apps[got["appliance"]] == dump_apps[want["appliance"]]
    assert int(served["payments-db"]["start_delay"]) == 30
    srs = {r["name_label"] for r in x.SR.get_all_records().values()}
    assert {"Gold iSCSI", "Scratch NFS"} <= srs  # written Gold%.iSCSI in the dump
    assert x.pool.get_all_records().popitem()[1]["name_label"] == "Boston Production"
    disks = {r["name_label"]: int(r["virtual_size"]) for r in x.VDI.get_all_records().values()}
    assert disks["report data"] == 100 * GiB


def test_twin_keeps_the_dumps_traps_local_disks_and_vapp_membership() -> None:
    """A VM on local storage is pinned to the host holding its disk; vApps keep members."""
    twin = make_twin("xapidb_app.xml")
    pool = twin.scenario.sites[0].pools[0]
    local = [vm for vm in pool.vms if vm.disks and vm.disks[0].sr == "Local storage"]
    assert len(local) == 4
    assert all(vm.host in {"dt17", "dt18"} for vm in local)
    assert {vm.appliance for vm in pool.vms} == {"vApp1", "vApp2"}


def _edit(path: Path, old: str, new: str, count: int = 1) -> None:
    text = path.read_text()
    assert old in text
    path.write_text(text.replace(old, new, count))


def test_unusable_rows_are_reported_with_the_reason_and_the_rest_loads(
    dump_copy: Callable[[str], Path],
) -> None:
    """Unusable rows are left out, each with its reason and no value; every other row loads."""
    path = dump_copy("xapidb_app.xml")
    tree = ET.parse(path)  # noqa: S314 - our own fixture
    tables = {t.get("name"): t for t in tree.getroot().findall("table")}
    guests = [
        r
        for r in tables["VM"].findall("row")
        if "true" not in (r.get("is_a_template"), r.get("is_control_domain"))
    ]
    bad_mem, bad_power = guests[0].get("ref"), guests[1].get("ref")
    guests[0].set("memory__static_max", "lots")
    guests[1].set("power_state", "Exploded")
    ET.SubElement(tables["VBD"], "row", {"name__label": "orphan", "type": "Disk"})
    ET.SubElement(
        tables["VBD"],
        "row",
        {"ref": "OpaqueRef:dangling", "VM": "OpaqueRef:gone", "VDI": "OpaqueRef:NULL"},
    )
    tree.write(path, encoding="unicode")
    dump = load_dump(path)
    reasons = {(p.table, p.ref): p.reason for p in dump.problems}
    assert "memory__static_max" in reasons[("VM", bad_mem)]
    assert "power_state" in reasons[("VM", bad_power)]
    assert "ref" in reasons[("VBD", "")]
    assert "OpaqueRef:gone" in reasons[("VBD", "OpaqueRef:dangling")]
    assert "lots" not in " ".join(str(p) for p in dump.problems)  # values are never echoed
    assert len(dump.guests) == len(guests) - 2
    assert len(dump.hosts) == 2


def _damaged(kind: str, path: Path) -> None:
    text = path.read_text()
    if kind == "malformed":
        path.write_text(text.replace("</table>", "</tabel>", 1))
    elif kind == "truncated":
        path.write_text(text[: len(text) // 2])
    elif kind == "unknown-version":
        _edit(path, '"schema_major_vsn" value="5"', '"schema_major_vsn" value="6"')
    elif kind == "too-old":
        _edit(path, '"schema_minor_vsn" value="63"', '"schema_minor_vsn" value="19"')
    elif kind == "not-a-dump":
        path.write_text("<html><body>not a dump</body></html>")
    elif kind == "entities":
        path.write_text('<!DOCTYPE d [<!ENTITY a "aaaa">]>' + text)
    elif kind == "no-manifest":
        path.write_text(re.sub(r"<manifest>.*?</manifest>", "", text, count=1, flags=re.S))


ERRORS = {
    "malformed": "not well-formed XML",
    "truncated": "truncated",
    "unknown-version": "unknown XAPI database schema version 6.63",
    "too-old": "unknown XAPI database schema version 5.19",
    "not-a-dump": "not an XAPI database dump",
    "entities": "DTD",
    "no-manifest": "no <manifest>",
}


@pytest.mark.parametrize("kind", sorted(ERRORS))
def test_a_bad_file_gets_one_clear_line(kind: str, dump_copy: Callable[[str], Path]) -> None:
    """Each kind of bad file raises DumpError with one line naming the file, problem and fix."""
    path = dump_copy("small_vms.xml")
    _damaged(kind, path)
    with pytest.raises(DumpError) as exc:
        load_dump(path)
    message = str(exc.value)
    assert "\n" not in message
    assert message.startswith(str(path))
    assert ERRORS[kind] in message


@pytest.mark.parametrize("kind", ["malformed", "truncated", "unknown-version"])
@pytest.mark.parametrize("command", ["rehearse", "serve"])
def test_the_cli_refuses_a_bad_dump_with_exit_code_2(
    kind: str, command: str, dump_copy: Callable[[str], Path]
) -> None:
    """`drbot rehearse` and `drbot sim serve --from-db` print the one line and exit 2."""
    path = dump_copy("small_vms.xml")
    _damaged(kind, path)
    _mount()
    args = (
        ["rehearse", str(path)]
        if command == "rehearse"
        else ["sim", "serve", "--from-db", str(path), "--no-slack"]
    )
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 2
    assert ERRORS[kind] in result.output
    assert "Traceback" not in result.output


def test_a_missing_file_is_refused_in_one_line(tmp_path: Path) -> None:
    """A path that is not a file says so and what to give instead."""
    with pytest.raises(DumpError, match="no such file"):
        load_dump(tmp_path / "nope.xml")


def test_uuids_snapshots_and_the_mirror_keep_what_the_dump_says(
    serve_twin: Callable[..., SimHandle],
) -> None:
    """VM and SR uuids, the snapshot and the mirror's SR uuid are served as the dump has them."""
    path = DATA / "replicated_pool.xml"
    vm_rows = rows(path, "VM")
    guests = {
        r["uuid"]
        for r in vm_rows
        if "true" not in (r["is_a_template"], r["is_control_domain"], r["is_a_snapshot"])
    }
    snaps = [r for r in vm_rows if r["is_a_snapshot"] == "true"]
    of = {r["ref"]: r["uuid"] for r in vm_rows}
    gold = next(r["uuid"] for r in rows(path, "SR") if r["type"] == "lvmoiscsi")
    handle = serve_twin("replicated_pool.xml")
    with _login(handle) as x:
        records = x.VM.get_all_records()
        served = {
            r["uuid"]
            for r in records.values()
            if not (r["is_a_template"] or r["is_control_domain"] or r["is_a_snapshot"])
        }
        served_snaps = [r for r in records.values() if r["is_a_snapshot"]]
        srs = {r["uuid"] for r in x.SR.get_all_records().values()}
    assert served == guests
    assert len(served_snaps) == len(snaps) == 1
    assert records[served_snaps[0]["snapshot_of"]]["uuid"] == of[snaps[0]["snapshot_of"]]
    assert gold in srs
    from urllib.request import urlopen

    with urlopen(handle.control_url + "/replication", timeout=30) as resp:
        import json

        luns = json.load(resp)
    assert [lun["sr_uuid"] for lun in luns] == [gold]
