"""What sim/xapi can stage for the hardening cases besides leftovers: faults limited to one
site, and a host that fails when a run reaches a given step rather than at a time, each from
the control API and from a scenario's [[faults]]."""

from __future__ import annotations

import urllib.error

import pytest

from engine.errors import XapiError
from tests.engine.runs_support import make_harness


def _host(world, name):
    for site in world.control("GET", "/state")["sites"].values():
        for pool in site["pools"].values():
            for host in pool["hosts"]:
                if host["name"] == name:
                    return host
    raise AssertionError(name)


def test_a_start_fault_limited_to_one_site_leaves_the_other_alone(sim, tmp_path):
    """A `vm_start` fault for dns-01 at site primary fails a start of dns-01 there, while the
    test failover starts its copy at the DR site as if there were no fault."""
    world = sim("demo")
    h = make_harness(world, tmp_path)
    try:
        world.control(
            "POST",
            "/faults",
            {"kind": "vm_start", "vm": "dns-01", "site": "primary", "error": ["VM_CRASHED", "x"]},
        )
        run = h.run(h.plan("test-failover", "dns-01", disable_ha=True))
        assert run.state == "succeeded", run.error
        prod = h.client(h.pair.protected)
        vm = prod.call("VM.get_by_name_label", "dns-01")[0]
        prod.call("VM.hard_shutdown", vm)
        since = len(world.calls())
        with pytest.raises(XapiError, match="VM_CRASHED"):
            prod.call("VM.start", vm, False, False)
        assert [c["outcome"] for c in world.calls(since) if c["method"] == "VM.start"] == [
            "VM_CRASHED"
        ]
    finally:
        h.store.close()


def test_a_host_fails_when_the_run_reaches_its_first_start(sim, tmp_path):
    """A `host_down` trigger on VM.start fails xs-dr-02 when the run's first start reaches the
    host, not before: every recovery of the run happened with the host up."""
    world = sim("demo")
    h = make_harness(world, tmp_path)
    try:
        plan = h.plan("test-failover", "web-shop", disable_ha=True)
        world.control(
            "POST", "/faults", {"kind": "host_down", "host": "xs-dr-02", "method": "VM.start"}
        )
        assert _host(world, "xs-dr-02")["up"]
        seen = []

        def watch(ev):
            if ev.type == "step-finished" and (ev.step_key or "").startswith("recover:"):
                seen.append(_host(world, "xs-dr-02")["up"])

        h.runner.subscribe(watch)
        run = h.run(plan)
        assert seen == [True]  # the vApp's recovery finished with the host up
        assert not _host(world, "xs-dr-02")["up"]  # the first start failed it
        assert run.state != "interrupted", run.error  # a member host, not the coordinator
        assert world.control("GET", "/faults")["host_down"] == []  # used once
    finally:
        h.store.close()


SITE_FAULT = """
[[faults]]
kind = "vm_start"
vm = "dns-01"
site = "primary"
error = ["VM_CRASHED", "x"]
"""


def test_a_scenario_stages_a_start_fault_limited_to_one_site(sim, tmp_path):
    """The same fault written in the scenario: the test failover starts dns-01's copy at the
    DR site, a start of dns-01 at primary fails; the fault says its site."""
    from tests.hardening.test_drill_leftovers import demo_with

    world = sim(demo_with(tmp_path, SITE_FAULT))
    assert world.control("GET", "/faults")["vm_start"][0]["site"] == "primary"
    h = make_harness(world, tmp_path)
    try:
        run = h.run(h.plan("test-failover", "dns-01", disable_ha=True))
        assert run.state == "succeeded", run.error
        prod = h.client(h.pair.protected)
        vm = prod.call("VM.get_by_name_label", "dns-01")[0]
        prod.call("VM.hard_shutdown", vm)
        with pytest.raises(XapiError, match="VM_CRASHED"):
            prod.call("VM.start", vm, False, False)
    finally:
        h.store.close()


STEP_FAULT = """
[[faults]]
kind = "host_down"
host = "xs-dr-02"
method = "VM.start"
"""


def test_a_scenario_stages_a_host_that_fails_when_the_run_reaches_a_step(sim, tmp_path):
    """A scenario's `host_down` with `method = "VM.start"`: xs-dr-02 starts up, every
    recovery of the run happens with it up, and the run's first start fails it (once)."""
    from tests.hardening.test_drill_leftovers import demo_with

    world = sim(demo_with(tmp_path, STEP_FAULT))
    assert _host(world, "xs-dr-02")["up"]
    assert world.control("GET", "/faults")["host_down"] == [
        {"host": "xs-dr-02", "method": "VM.start", "after": 1}
    ]
    h = make_harness(world, tmp_path)
    try:
        plan = h.plan("test-failover", "web-shop", disable_ha=True)
        seen = []

        def watch(ev):
            if ev.type == "step-finished" and (ev.step_key or "").startswith("recover:"):
                seen.append(_host(world, "xs-dr-02")["up"])

        h.runner.subscribe(watch)
        run = h.run(plan)
        assert seen == [True]
        assert not _host(world, "xs-dr-02")["up"]
        assert run.state != "interrupted", run.error
        assert world.control("GET", "/faults")["host_down"] == []
    finally:
        h.store.close()


@pytest.mark.parametrize(
    ("fault", "says"),
    [
        ('kind = "lun"\nsr = "Gold iSCSI 01"\nsite = "primary"', "cannot be limited to a site"),
        ('kind = "vm_start"\nvm = "dns-01"\nsite = "atlantis"', "no site 'atlantis'"),
        ('kind = "host_down"\nhost = "xs-dr-02"\nafter = 2', "after = N is for a host_down"),
    ],
)
def test_a_scenario_fault_that_cannot_hold_is_refused(tmp_path, fault, says):
    """A site on a fault that cannot be limited to one, an unknown site, and `after` without
    a method are refused when the scenario is read, saying what is wrong."""
    from sim.xapi.scenario import ScenarioError, load_scenario
    from tests.hardening.test_drill_leftovers import demo_with

    with pytest.raises(ScenarioError, match=says):
        load_scenario(demo_with(tmp_path, f"[[faults]]\n{fault}\n"))


def test_a_test_copy_pulled_with_force_leaves_its_sr_failing_io_at_dr(sim, tmp_path):
    """An earlier drill's copy of Gold iSCSI 01 is attached at DR with a halted copy of dns-01
    on it; the array refuses to remove the copy while attached, and once it is pulled with
    force the SR still shows attached but a start of dns-01 and a scan fail with the SM's
    error: the stale SR is not silently usable."""
    from tests.hardening.test_drill_leftovers import demo_with

    world = sim(
        demo_with(
            tmp_path,
            '[[leftovers]]\nsr = "Gold iSCSI 01"\npool = "dr"\nattach = "sr"\nvms = ["dns-01"]\n',
        )
    )
    h = make_harness(world, tmp_path)
    try:
        gold = next(lun for lun in world.storage().state() if lun.name == "Gold iSCSI 01")
        with pytest.raises(urllib.error.HTTPError) as refused:
            world.control("DELETE", f"/replication/{gold.lun}/test-copy")
        assert refused.value.code == 409
        refused.value.close()  # the refusal's response holds its socket
        world.control("DELETE", f"/replication/{gold.lun}/test-copy?force=true")
        dr = h.client(h.pair.dr)
        sr = dr.call("SR.get_by_uuid", gold.sr_uuid)
        assert all(dr.call("PBD.get_currently_attached", p) for p in dr.call("SR.get_PBDs", sr))
        vm = dr.call("VM.get_by_name_label", "dns-01")[0]
        with pytest.raises(XapiError, match="SR_BACKEND_FAILURE"):
            dr.call("VM.start", vm, False, False)
        with pytest.raises(XapiError, match="SR_BACKEND_FAILURE"):
            dr.call("SR.scan", sr)
        assert dr.call("VM.get_power_state", vm) == "Halted"
    finally:
        h.store.close()


def test_two_metadata_copies_can_disagree_on_a_vms_vapp(sim, tmp_path):
    """With the pool's metadata on two LUNs replicated with different lags, a VM moved out of
    its vApp at the source is out of it on the fast mirror and still in it on the slow one:
    the two metadata VDIs the DR pool reads disagree (what a run must choose between)."""
    from tests.hardening.test_drill_leftovers import DEMO

    fast = '{ name = "Gold iSCSI 02", type = "lvmoiscsi", kind = "replicated", replicate_to = "dr"'
    text = DEMO.read_text(encoding="utf-8")
    assert fast in text
    path = tmp_path / "two-lags.toml"
    path.write_text(text.replace(fast, fast + ", lag_seconds = 0"), encoding="utf-8")
    world = sim(str(path))
    h = make_harness(world, tmp_path)
    try:
        prod = h.client(h.pair.protected)
        vm = prod.call("VM.get_by_name_label", "pay-web-01")[0]
        prod.call("VM.set_appliance", vm, "OpaqueRef:NULL")
        adapter = world.storage()
        dr = h.client(h.pair.dr)
        seen = {}
        for name in ("Gold iSCSI 01", "Gold iSCSI 02"):
            lun = next(item for item in adapter.state() if item.name == name)
            copy = adapter.present_test_copy(lun.lun)
            task = dr.run(
                "DR_task.create", "lvmoiscsi", copy.test_copy_device_config, [lun.sr_uuid]
            )
            (sr,) = dr.call("DR_task.get_introduced_SRs", task)
            dr.call("SR.scan", sr)
            (vdi,) = [
                v for v in dr.call("SR.get_VDIs", sr) if dr.call("VDI.get_type", v) == "metadata"
            ]
            with dr.open_database(vdi) as db:
                ref = db.call("VM.get_by_name_label", "pay-web-01")[0]
                seen[name] = db.call("VM.get_appliance", ref)
        assert seen["Gold iSCSI 02"] == "OpaqueRef:NULL"  # the fast mirror has the move
        assert seen["Gold iSCSI 01"] != "OpaqueRef:NULL"  # the slow one does not yet
    finally:
        h.store.close()
