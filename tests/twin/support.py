"""Shared pieces of the twin tests: the fixture dumps, and counts read straight from the XML.

The expected counts come from the XML with the standard library's parser, row by row, by
the loader's contract (VMs without templates, snapshots and control domains; vApps; SRs;
networks; hosts), never from the loader under test.
"""

from __future__ import annotations

from pathlib import Path
from xml.etree import ElementTree as ET

DATA = Path(__file__).parent / "data"
SAMPLES = ["small_vms.xml", "xapidb_app.xml", "replicated_pool.xml"]


def rows(path: Path, table: str) -> list[dict[str, str]]:
    """The attribute dicts of every row of `table` in the dump at `path`."""
    root = ET.parse(path).getroot()  # noqa: S314 - our own fixture files
    return [
        dict(row.attrib)
        for t in root.findall("table")
        if t.get("name") == table
        for row in t.findall("row")
    ]


def expected_counts(path: Path) -> dict[str, int]:
    """What a twin of `path` must serve, counted from the XML."""
    vms = [
        r
        for r in rows(path, "VM")
        if "true" not in (r["is_a_template"], r["is_control_domain"], r["is_a_snapshot"])
    ]
    return {
        "VM": len(vms),
        "VM_appliance": len(rows(path, "VM_appliance")),
        "SR": len(rows(path, "SR")),
        "network": len(rows(path, "network")),
        "host": len(rows(path, "host")),
    }
