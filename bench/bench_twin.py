"""Benchmark of the twin loader: a 5,000-VM pool database dump, loaded, built and served.

The dump is generated from the edited real sample (`tests/twin/data/replicated_pool.xml`):
its rows are cloned with fresh refs and uuids into a pool of `--vms` guest VMs (each with
its metrics, two disks on the replicated iSCSI SR, a CD, two NICs), one vApp per 20 VMs
with three order groups, and a host per 80 VMs (with metrics, CPUs, a local SR and PBDs),
so the file has the shape and the per-row size of a real one. Measured, each `--repeat`
times (best and median):

- load: `load_dump` (stream-parse, decode the modelled rows, join): target < 10 s;
- build: `build_twin` (the scenario, a generated DR pool);
- serve: `start_sim` of the twin until both sites answer, and one `VM.get_all_records`
  through the XenAPI client, whose guest count must equal the dump's.

Run: `python bench/bench_twin.py [--vms 5000] [--repeat 3]`. Prints the figures.
"""

from __future__ import annotations

import argparse
import copy
import resource
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path
from xml.etree import ElementTree as ET

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import XenAPI

from sim.xapi.serve import start_sim
from sim.xapi.twin import build_twin, load_assumptions, load_dump

TEMPLATE = Path(__file__).resolve().parent.parent / "tests/twin/data/replicated_pool.xml"
VMS_PER_VAPP = 20
VMS_PER_HOST = 80
GiB = 1024**3


def _ref() -> str:
    return f"OpaqueRef:{uuid.uuid4()}"


def _clone(table: ET.Element, row: ET.Element, **fields: str) -> ET.Element:
    new = copy.deepcopy(row)
    ref = fields.pop("ref", _ref())
    new.attrib.update({"ref": ref, "_ref": ref, "uuid": str(uuid.uuid4()), **fields})
    table.append(new)
    return new


def generate(vms: int, out: Path) -> int:
    """Write a dump with `vms` guest VMs to `out`; returns its size in bytes."""
    tree = ET.parse(TEMPLATE)  # noqa: S314 - our own fixture
    root = tree.getroot()
    t = {tb.get("name"): tb for tb in root.findall("table")}
    row = {name: t[name].find("row") for name in ("host", "host_metrics", "host_cpu", "PBD")}
    gold = next(r for r in t["SR"].findall("row") if r.get("type") == "lvmoiscsi")
    local = next(r for r in t["SR"].findall("row") if r.get("type") == "lvm")
    vm0 = next(
        r
        for r in t["VM"].findall("row")
        if r.get("is_a_template") == "false" and r.get("is_control_domain") == "false"
    )
    metrics0 = next(r for r in t["VM_metrics"].findall("row"))
    vbd0 = next(r for r in t["VBD"].findall("row") if r.get("type") == "Disk")
    cd0 = next(r for r in t["VBD"].findall("row") if r.get("type") == "CD")
    vdi0 = next(r for r in t["VDI"].findall("row") if r.get("SR") == gold.get("ref"))
    vif0 = next(iter(t["VIF"].findall("row")))
    networks = [
        r.get("ref", "")
        for r in t["network"].findall("row")
        if r.get("PIFs") != "()"  # the physical networks
    ]
    app0 = next(iter(t["VM_appliance"].findall("row")))
    hosts = []
    for i in range(max(1, vms // VMS_PER_HOST)):
        metrics = _clone(t["host_metrics"], row["host_metrics"], memory__total=str(512 * GiB))
        host = _clone(
            t["host"], row["host"], name__label=f"xs-{i:03d}", metrics=metrics.get("ref", "")
        )
        for _ in range(8):
            _clone(t["host_cpu"], row["host_cpu"], host=host.get("ref", ""))
        sr = _clone(t["SR"], local, name__label="Local%.storage")
        _clone(t["PBD"], row["PBD"], SR=sr.get("ref", ""), host=host.get("ref", ""))
        _clone(t["PBD"], row["PBD"], SR=gold.get("ref", ""), host=host.get("ref", ""))
        hosts.append(host.get("ref", ""))
    app = ""
    for n in range(vms):
        if n % VMS_PER_VAPP == 0:
            app = _clone(t["VM_appliance"], app0, name__label=f"app-{n // VMS_PER_VAPP:04d}").get(
                "ref", ""
            )
        in_app = n < vms // 4  # a quarter of the VMs in vApps, as in a real estate
        metrics = _clone(t["VM_metrics"], metrics0)
        vm = _clone(
            t["VM"],
            vm0,
            name__label=f"vm-{n:05d}",
            metrics=metrics.get("ref", ""),
            appliance=app if in_app else "OpaqueRef:NULL",
            order=str(n % 3 if in_app else 0),
            start_delay=str(10 if in_app and n % 3 == 0 else 0),
            power_state="Running",
            resident_on=hosts[n % len(hosts)],
            memory__static_max=str(2 * GiB),
        )
        ref = vm.get("ref", "")
        for disk in range(2):
            vdi = _clone(
                t["VDI"], vdi0, name__label=f"vm-{n:05d}%.disk%.{disk}", virtual_size=str(20 * GiB)
            )
            _clone(t["VBD"], vbd0, VM=ref, VDI=vdi.get("ref", ""), userdevice=str(disk))
        _clone(t["VBD"], cd0, VM=ref, VDI="OpaqueRef:NULL", userdevice="3")
        for device, net in enumerate(networks[:2]):
            _clone(t["VIF"], vif0, VM=ref, network=net, device=str(device))
    tree.write(out, encoding="unicode")
    return out.stat().st_size


def _timed(fn, repeat: int) -> tuple[list[float], object]:
    times, result = [], None
    for _ in range(repeat):
        start = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - start)
    return times, result


def _figure(label: str, times: list[float], target: float | None = None) -> None:
    best, median = min(times), statistics.median(times)
    verdict = ""
    if target is not None:
        verdict = f"  (target < {target:g} s: {'met' if median < target else 'MISSED'})"
    print(f"{label:<34} best {best:6.2f} s   median {median:6.2f} s{verdict}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--vms", type=int, default=5000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / f"pool-{args.vms}.xml"
        start = time.perf_counter()
        size = generate(args.vms, path)
        print(
            f"generated {path.name}: {args.vms} VMs, {size / 1e6:.1f} MB "
            f"in {time.perf_counter() - start:.1f} s"
        )
        load_times, dump = _timed(lambda: load_dump(path), args.repeat)
        rows = sum(dump.row_counts.values())
        print(f"rows in the dump: {rows:,}; guest VMs: {len(dump.guests):,}")
        _figure("load_dump", load_times, target=10.0)
        a = load_assumptions(path)
        build_times, twin = _timed(lambda: build_twin(dump, assumptions=a), args.repeat)
        _figure("build_twin (scenario + DR pool)", build_times)

        def serve() -> int:
            with start_sim(twin.scenario, speed=1000.0) as handle:
                info = handle.endpoints["sites"]["primary"]
                session = XenAPI.Session(info["coordinator"])
                session.xenapi.login_with_password(*info["users"]["read-only"])
                records = session.xenapi.VM.get_all_records()
                session.xenapi.session.logout()
                session("close")()
            return sum(
                1
                for r in records.values()
                if not (r["is_a_template"] or r["is_control_domain"] or r["is_a_snapshot"])
            )

        serve_times, served = _timed(serve, 1)
        _figure("start_sim + VM.get_all_records", serve_times)
        print(f"guest VMs served through XenAPI: {served:,} (dump: {len(dump.guests):,})")
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        print(f"peak resident memory: {peak:.0f} MB")
        if served != len(dump.guests):
            sys.exit("the served twin does not have the dump's VMs")


if __name__ == "__main__":
    main()
