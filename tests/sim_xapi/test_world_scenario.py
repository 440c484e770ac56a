"""Scenario files, the demo estate and the generator."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from sim.xapi.generator import generate
from sim.xapi.scenario import ScenarioError, builtin_names, load_scenario, parse_scenario
from sim.xapi.serve import SimHandle
from tests.sim_xapi.world_support import login

MINIMAL = """
[[sites]]
name = "a"
address_prefix = "127.0.9"
array = { target = "10.0.0.1", iqn = "iqn.x:a" }
[[sites.pools]]
name = "p"
hosts = [{ name = "h1" }]
{extra}
"""


def test_builtin_scenarios_are_listed_and_load() -> None:
    """`demo` and `mini` are built in and pass validation."""
    assert {"demo", "mini"} <= set(builtin_names())
    for name in ("demo", "mini"):
        assert load_scenario(name).name == name


def test_demo_has_the_estate_and_traps_the_issue_asks_for() -> None:
    """The demo has 2 sites, >= 40 VMs in >= 6 vApps with several order groups, and the traps."""
    sc = load_scenario("demo")
    primary, dr = (s.pools[0] for s in sc.sites)
    assert len(sc.sites) == 2
    assert len(primary.vms) >= 40
    apps = {vm.appliance for vm in primary.vms if vm.appliance}
    assert len(apps) >= 6
    assert len({vm.order for vm in primary.vms if vm.appliance == "erp"}) == 3
    assert any(d.sr == "local" for vm in primary.vms for d in vm.disks)
    assert any(vm.created_inside_lag for vm in primary.vms)
    nfs = {s.name for s in primary.srs if s.kind == "shared"}
    assert any(d.sr in nfs for vm in primary.vms for d in vm.disks)
    dr_nets = {n.name for n in dr.networks} | {n.bridge for n in dr.networks}
    assert any(n.name not in dr_nets and n.bridge not in dr_nets for n in primary.networks)
    assert dr.ha_enabled
    assert dr.licensed_dr
    assert primary.metadata_srs
    assert sc.replication.lag_seconds > 0


def test_demo_world_serves_its_vms_and_traps(demo: SimHandle) -> None:
    """The running demo shows its VMs, vApps and metadata VDIs through XenAPI."""
    prod = login(demo, "primary")
    vms = prod.xenapi.VM.get_all_records()
    real = [v for v in vms.values() if not (v["is_a_template"] or v["is_control_domain"])]
    assert len(real) == 43
    assert len(prod.xenapi.VM_appliance.get_all()) == 6
    assert any(v["is_control_domain"] for v in vms.values())
    assert any(v["is_a_template"] for v in vms.values())
    pool = prod.xenapi.pool.get_all()[0]
    assert len(prod.xenapi.pool.get_metadata_VDIs(pool)) == 2
    dr = login(demo, "dr")
    assert dr.xenapi.pool.get_ha_enabled(dr.xenapi.pool.get_all()[0]) is True
    assert dr.xenapi.pool.get_restrictions(dr.xenapi.pool.get_all()[0])["restrict_dr"] == "false"


def test_count_expands_names_with_padding() -> None:
    """A VM entry with `count` becomes that many VMs named with zero-padded numbers."""
    sc = parse_scenario(
        MINIMAL.replace("{extra}", '[[sites.pools.vms]]\nname = "web-{n}"\ncount = 3\ndisks = []\n')
    )
    assert [vm.name for vm in sc.sites[0].pools[0].vms] == ["web-01", "web-02", "web-03"]


@pytest.mark.parametrize(
    ("extra", "says"),
    [
        ('[[sites.pools.vms]]\nname = "v"\ndisks = [{ sr = "nope" }]', "unknown SR"),
        ('[[sites.pools.vms]]\nname = "v"\nnics = ["nonet"]', "unknown network"),
        ('[[sites.pools.vms]]\nname = "v"\nappliance = "x"', "unknown vApp"),
        ('[[sites.pools.srs]]\nname = "s"\nkind = "replicated"', "replicate_to"),
        ('[[sites.pools.vms]]\nname = "v"\nmemory_gb = -1', "memory_gb"),
        ("[[sites.pools.vms]]\nname = ", "not valid TOML"),
    ],
)
def test_bad_scenarios_are_refused_with_the_field_named(extra: str, says: str) -> None:
    """A wrong scenario raises ScenarioError naming the problem."""
    with pytest.raises(ScenarioError, match=says):
        parse_scenario(MINIMAL.replace("{extra}", extra))


def test_unknown_scenario_name_says_what_exists() -> None:
    """Loading a name that is neither built in nor a file lists the built-in names."""
    with pytest.raises(ScenarioError, match="demo"):
        load_scenario("no-such-scenario")


def test_generator_writes_a_loadable_scenario_of_the_asked_size() -> None:
    """`generate(n)` gives a scenario with exactly n VMs at the primary site, a quarter in vApps."""
    sc = parse_scenario(generate(500))
    vms = sc.sites[0].pools[0].vms
    assert len(vms) == 500
    assert sum(1 for v in vms if v.appliance) == 500 // 4 // 20 * 20
    with pytest.raises(ValueError, match="at least 1"):
        generate(0)


FAULTY = """
[[sites]]
name = "primary"
address_prefix = "127.0.1"
array = { target = "10.10.1.50", iqn = "iqn.x:prod" }
[[sites.pools]]
name = "prod"
hosts = [{ name = "a" }, { name = "b" }]
srs = [{ name = "Gold", kind = "replicated", replicate_to = "dr" }]
[[sites.pools.vms]]
name = "flaky"
power = "Halted"
disks = [{ sr = "Gold" }]
[[sites]]
name = "dr"
address_prefix = "127.0.2"
array = { target = "10.20.1.50", iqn = "iqn.x:dr" }
[[sites.pools]]
name = "dr"
hosts = [{ name = "c" }]
[[faults]]
kind = "vm_start"
vm = "flaky"
error = ["VM_CRASHED"]
[[faults]]
kind = "lun"
sr = "Gold"
[[faults]]
kind = "host_down"
host = "b"
"""


def test_a_scenario_can_start_with_faults(sim_factory) -> None:
    """[[faults]] in a scenario: a VM that fails to start, a failed mirror, a host down."""
    import XenAPI

    from tests.sim_xapi.world_support import Ctl

    sim = sim_factory(FAULTY)
    ctl = Ctl(sim.control_url)
    assert ctl.lun("Gold")["state"] == "failed"
    hosts = ctl("GET", "/state")["sites"]["primary"]["pools"]["prod"]["hosts"]
    assert [h["up"] for h in hosts] == [True, False]
    prod = login(sim, "primary")
    vm = prod.xenapi.VM.get_by_name_label("flaky")[0]
    with pytest.raises(XenAPI.Failure) as exc:
        prod.xenapi.VM.start(vm, False, False)
    assert exc.value.details == ["VM_CRASHED"]


def test_a_fault_naming_nothing_known_is_refused() -> None:
    """A [[faults]] entry naming an unknown SR is a ScenarioError."""
    bad = FAULTY.replace('kind = "lun"\nsr = "Gold"', 'kind = "lun"\nsr = "Nope"')
    with pytest.raises(ScenarioError, match="not a replicated SR"):
        parse_scenario(bad)


def test_only_vms_created_inside_the_lag_look_newly_installed(mini: SimHandle) -> None:
    """VM_metrics.install_time of a VM created inside the lag is weeks after every other VM's."""
    session = login(mini, "primary")
    metrics = session.xenapi.VM_metrics.get_all_records()
    installed = {
        vm["name_label"]: datetime.strptime(
            str(metrics[vm["metrics"]]["install_time"]), "%Y%m%dT%H:%M:%SZ"
        )
        for vm in session.xenapi.VM.get_all_records().values()
        if not (vm["is_a_template"] or vm["is_control_domain"] or vm["is_a_snapshot"])
    }
    lagging = {
        vm.name
        for site in mini.world.scenario.sites
        for pool in site.pools
        for vm in pool.vms
        if vm.created_inside_lag
    }
    older = [t for name, t in installed.items() if name not in lagging]
    assert lagging
    assert all(installed[name] - max(older) >= timedelta(days=29) for name in lagging)
