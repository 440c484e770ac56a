"""Regenerate the dumps in this folder from the two real samples (run by hand, once).

    python tests/twin/data/make_data.py /path/to/xapi-db-samples

The samples are the xenserver/xenadmin test resources (BSD-2-Clause; see README.md). Each
output keeps every row the twin reads; templates are trimmed to three, the ISO library to
three images, so the files stay small. `replicated_pool.xml` is `xapidb_app.xml` edited into
a pool worth rehearsing: licensed for DR, a newer schema (5.763, so names use `%.`), an iSCSI
SR that holds the VMs' disks, a scratch NFS SR that holds one data disk, a VM whose network
the DR dump lacks, and secrets in every place a real dump keeps them (CHAP and SMB
passwords in device_config, a secret row, a session row, password keys in other_config,
external auth credentials, the WLB password) for the scrubbing test.
"""

from __future__ import annotations

import sys
import uuid
from pathlib import Path
from xml.etree import ElementTree as ET

HERE = Path(__file__).parent
SECRETS = {
    "chap": "S3cr3t-CHAP-pw",
    "smb": "Smb-Passw0rd-x",
    "secret_row": "Vault-Secret-123",
    "session": "OpaqueRef:5e55-10n-5ecr37",
    "other_config": "Oc-Password-77",
    "ad": "AD-Admin-Pass-9",
}


def _tables(root: ET.Element) -> dict[str, ET.Element]:
    return {t.get("name", ""): t for t in root.findall("table")}


def _trim(root: ET.Element) -> None:
    t = _tables(root)
    templates = [r for r in t["VM"].findall("row") if r.get("is_a_template") == "true"]
    gone = set()
    for row in templates[3:]:
        t["VM"].remove(row)
        gone.add(row.get("ref"))
    for vbd in t["VBD"].findall("row"):
        if vbd.get("VM") in gone:
            t["VBD"].remove(vbd)
    iso_srs = {r.get("ref") for r in t["SR"].findall("row") if r.get("content_type") == "iso"}
    isos = [r for r in t["VDI"].findall("row") if r.get("SR") in iso_srs and r.get("VBDs") == "()"]
    for row in isos[3:]:
        t["VDI"].remove(row)


def _ref() -> str:
    return f"OpaqueRef:{uuid.uuid4()}"


def _row(table: ET.Element, **fields: str) -> str:
    ref = fields.pop("ref", _ref())
    ET.SubElement(table, "row", {"ref": ref, "_ref": ref, "uuid": str(uuid.uuid4()), **fields})
    return ref


def _replicated(root: ET.Element) -> None:
    t = _tables(root)
    manifest = root.find("manifest")
    assert manifest is not None
    for pair in manifest:
        if pair.get("key") == "schema_minor_vsn":
            pair.set("value", "763")
    hosts = [r.get("ref", "") for r in t["host"].findall("row")]
    for host in t["host"].findall("row"):
        lp = host.get("license_params", "").replace(
            "('restrict_dr' 'true')", "('restrict_dr' 'false')"
        )
        host.set("license_params", lp)
        host.set("external_auth_configuration", f"(('user' 'admin') ('pass' '{SECRETS['ad']}'))")
    pool = t["pool"].find("row")
    assert pool is not None
    pool.set(
        "restrictions",
        pool.get("restrictions", "").replace("('restrict_dr' 'true')", "('restrict_dr' 'false')"),
    )
    pool.set("name_label", "Boston%.Production")
    secret = t.get("secret")
    if secret is None:
        secret = ET.SubElement(root, "table", {"name": "secret"})
    pool.set("wlb_password", _row(secret, value=SECRETS["secret_row"]))
    pool.set(
        "other_config",
        f"(('memory-ratio-hvm' '0.25') ('backup_password' '{SECRETS['other_config']}'))",
    )
    session = t.get("session") or ET.SubElement(root, "table", {"name": "session"})
    _row(session, ref=SECRETS["session"], this_user="OpaqueRef:NULL", auth_user_name="root")
    for net in t["network"].findall("row"):
        if net.get("bridge") == "xenbr1":
            net.set("name__label", "Backup%.VLAN%.300")
            net.set("bridge", "xapi5")
    gold = _row(
        t["SR"],
        name__label="Gold%.iSCSI",
        name__description="",
        type="lvmoiscsi",
        content_type="",
        shared="true",
        physical_size=str(2 * 1024**4),
        PBDs="()",
        VDIs="()",
    )
    scratch = _row(
        t["SR"],
        name__label="Scratch%.NFS",
        name__description="",
        type="nfs",
        content_type="",
        shared="true",
        physical_size=str(1024**4),
        PBDs="()",
        VDIs="()",
    )
    for host in hosts:
        _row(
            t["PBD"],
            SR=gold,
            host=host,
            currently_attached="true",
            other_config="()",
            device_config=f"(('target' '10.1.1.5') ('targetIQN' 'iqn.2001-05.com.example:a') "
            f"('SCSIid' '36000abc') ('chapuser' 'xen') ('chappassword' '{SECRETS['chap']}'))",
        )
        _row(
            t["PBD"],
            SR=scratch,
            host=host,
            currently_attached="true",
            other_config="()",
            device_config=f"(('server' 'filer') ('serverpath' '/scratch') "
            f"('password' '{SECRETS['smb']}'))",
        )
    vms = {r.get("ref"): r for r in t["VM"].findall("row")}
    disk_vdis = set()
    for vbd in t["VBD"].findall("row"):
        vm = vms.get(vbd.get("VM"))
        if vm is not None and vm.get("is_a_template") == "false" and vbd.get("type") == "Disk":
            disk_vdis.add(vbd.get("VDI"))
    for vdi in t["VDI"].findall("row"):
        if vdi.get("ref") in disk_vdis:
            vdi.set("SR", gold)
    guests = [
        r
        for r in vms.values()
        if r.get("is_a_template") == "false" and r.get("is_control_domain") == "false"
    ]
    db_vm = guests[0]
    db_vm.set("name__label", "payments-db")
    db_vm.set("start_delay", "30")
    db_vm.set("other_config", f"(('vm_password' '{SECRETS['other_config']}'))")
    _snapshot(t, db_vm, "payments-db before upgrade")
    data = _row(
        t["VDI"],
        name__label="report%.data",
        SR=scratch,
        virtual_size=str(100 * 1024**3),
        is_a_snapshot="false",
        type="user",
        VBDs="()",
    )
    _row(t["VBD"], VM=db_vm.get("ref", ""), VDI=data, type="Disk", userdevice="1", mode="RW")


def _snapshot(t: dict[str, ET.Element], vm: ET.Element, name: str) -> None:
    """A snapshot of `vm` as VM.snapshot leaves it: a halted copy of the record, outside any
    vApp, whose disks are snapshots of the VM's disks on the same SR."""
    snap = _row(
        t["VM"],
        **{k: v for k, v in vm.attrib.items() if k not in ("ref", "_ref", "uuid")},
    )
    row = t["VM"].findall("row")[-1]
    row.attrib.update(
        name__label=name.replace(" ", "%."),
        is_a_snapshot="true",
        snapshot_of=vm.get("ref", ""),
        power_state="Halted",
        appliance="OpaqueRef:NULL",
        resident_on="OpaqueRef:NULL",
        snapshot_time="20260101T00:00:00Z",
    )
    vdis = {r.get("ref"): r for r in t["VDI"].findall("row")}
    for vbd in list(t["VBD"].findall("row")):
        if vbd.get("VM") == vm.get("ref") and vbd.get("type") == "Disk":
            disk = vdis[vbd.get("VDI")]
            fields = {k: v for k, v in disk.attrib.items() if k not in ("ref", "_ref", "uuid")}
            fields.update(is_a_snapshot="true", snapshot_of=disk.get("ref", ""), VBDs="()")
            copy = _row(t["VDI"], **fields)
            _row(t["VBD"], VM=snap, VDI=copy, type="Disk", userdevice=vbd.get("userdevice", "0"))


def main(samples: Path) -> None:
    for name in ("small_vms.xml", "xapidb_app.xml"):
        root = ET.parse(samples / name).getroot()  # noqa: S314 - the reference samples
        _trim(root)
        ET.ElementTree(root).write(HERE / name, encoding="unicode")
        if name == "xapidb_app.xml":
            _replicated(root)
            ET.ElementTree(root).write(HERE / "replicated_pool.xml", encoding="unicode")


if __name__ == "__main__":
    main(Path(sys.argv[1]))
