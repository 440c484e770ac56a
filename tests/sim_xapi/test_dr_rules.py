"""sim/xapi's DR and vApp rules against the reference (§2, §3, §7), rule by rule.

Each test names the reference section it checks; everything goes through the unmodified
XenAPI client (raw calls for the foreign database session) and the control API.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

import pytest
import XenAPI

from sim.xapi.serve import SimHandle
from tests.sim_xapi.task_waits import NULL, task_outcome, wait_until
from tests.sim_xapi.world_support import (
    DENIED_TEXT,
    NEWEST,
    OLDER,
    RELEASES,
    Ctl,
    Opened,
    at_release,
    failure,
    introduce,
    login,
    open_failover,
    raw,
    scan,
    value,
    with_sites,
)

TWO_SITES = """
$primary_site
[[sites.pools]]
name = "prod"
metadata_srs = ["Gold"]
hosts = [{{ name = "a" }}]
networks = [{{ name = "net", bridge = "xenbr0" }}]
srs = [{{ name = "Gold", kind = "replicated", replicate_to = "dr", lag_seconds = 0 }}]
appliances = [{{ name = "app" }}]
[[sites.pools.vms]]
name = "vm"
disks = [{{ sr = "Gold" }}]
nics = ["net"]
[[sites.pools.vms]]
name = "member"
appliance = "app"
disks = [{{ sr = "Gold" }}]
nics = ["net"]
$dr_site
[[sites.pools]]
name = "dr"
licensed_dr = {dr_licensed}
hosts = [{{ name = "b" }}, {{ name = "c" }}]
networks = [{{ name = "other", bridge = "xenbr0" }}]
"""


TWIN_METADATA = with_sites(
    """
$primary_site
[[sites.pools]]
name = "prod"
metadata_srs = ["A", "B"]
hosts = [{ name = "a" }]
srs = [
  { name = "A", kind = "replicated", replicate_to = "dr", lag_seconds = 0 },
  { name = "B", kind = "replicated", replicate_to = "dr", lag_seconds = 0 },
]
$dr_site
[[sites.pools]]
name = "dr"
hosts = [{ name = "b" }, { name = "c" }]
"""
)


SMALL_AND_BIG = with_sites(
    """
$primary_site
[[sites.pools]]
name = "prod"
hosts = [{ name = "small", memory_gb = 16 }, { name = "roomy", memory_gb = 64 }]
srs = [{ name = "NFS", type = "nfs", kind = "shared" }]
[[sites.pools.vms]]
name = "big"
memory_gb = 32
power = "Halted"
disks = [{ sr = "NFS" }]
"""
)


VM_ADMIN = with_sites(
    """
$primary_site
[[sites.pools]]
name = "prod"
users = { pool-operator = ["operator", "op"], vm-admin = ["vmadmin", "va"] }
hosts = [{ name = "a" }]
srs = [{ name = "NFS", type = "nfs", kind = "shared" }]
appliances = [{ name = "app" }]
[[sites.pools.vms]]
name = "v"
power = "Halted"
appliance = "app"
disks = [{ sr = "NFS" }]
"""
)


@pytest.fixture
def opened(mini: SimHandle, ctl: Ctl) -> Opened:
    """The mini estate failed over: Gold and Silver introduced, the latest metadata open."""
    ctl.disaster_after_sync()
    return open_failover(mini, ctl, ["Gold", "Silver"])


# The fields reference §4 says a DR tool reads, per class.
SECTION_4_FIELDS = {
    "pool": "uuid name_label name_description master default_SR suspend_image_SR crash_dump_SR "
    "ha_enabled ha_configuration ha_host_failures_to_tolerate ha_statefiles other_config "
    "metadata_VDIs restrictions",
    "host": "uuid name_label hostname address enabled metrics software_version "
    "API_version_major API_version_minor API_version_vendor license_params edition "
    "control_domain resident_VMs PBDs PIFs",
    "host_metrics": "live memory_total memory_free last_updated",
    "SR": "uuid name_label name_description type content_type shared PBDs VDIs other_config "
    "sm_config physical_size physical_utilisation virtual_allocation allowed_operations "
    "current_operations introduced_by is_tools_sr clustered local_cache_enabled tags blobs",
    "PBD": "uuid host SR device_config currently_attached other_config",
    "VDI": "uuid name_label name_description SR VBDs type virtual_size physical_utilisation "
    "location sharable read_only managed missing sm_config other_config is_a_snapshot "
    "snapshot_of snapshots metadata_of_pool metadata_latest is_tools_iso cbt_enabled",
    "VBD": "uuid VM VDI type mode userdevice device bootable empty unpluggable "
    "currently_attached other_config allowed_operations",
    "VIF": "uuid VM network device MAC MTU currently_attached other_config locking_mode "
    "ipv4_allowed ipv6_allowed",
    "network": "uuid name_label name_description bridge PIFs VIFs MTU managed other_config purpose",
    "VM": "uuid name_label name_description power_state is_a_template is_default_template "
    "is_control_domain is_a_snapshot snapshot_of snapshots resident_on affinity domid "
    "suspend_VDI suspend_SR VBDs VIFs VGPUs attached_PCIs appliance order start_delay "
    "shutdown_delay ha_restart_priority ha_always_run version generation_id other_config tags "
    "platform blocked_operations allowed_operations current_operations domain_type "
    "HVM_boot_policy memory_static_max memory_dynamic_max memory_dynamic_min memory_static_min "
    "memory_target memory_overhead VCPUs_max VCPUs_at_startup last_booted_record "
    "last_boot_CPU_flags metrics guest_metrics snapshot_time",
    "VM_appliance": "uuid name_label name_description allowed_operations current_operations VMs",
}


def test_every_field_section_4_names_is_served(mini: SimHandle) -> None:
    """§4: each object of the estate has every field a DR tool reads; ints come as digits."""
    prod = login(mini, "primary")
    for cls, names in SECTION_4_FIELDS.items():
        records = getattr(prod.xenapi, cls).get_all_records()
        assert records, cls
        for rec in records.values():
            assert set(names.split()) <= set(rec), cls
    vm = prod.xenapi.VM.get_record(prod.xenapi.VM.get_by_name_label("app-01")[0])
    for name in ("version", "order", "start_delay", "shutdown_delay", "VCPUs_max", "domid"):
        assert re.fullmatch(r"-?\d+", vm[name]), name
    host = next(iter(prod.xenapi.host.get_all_records().values()))
    assert host["API_version_major"] == "2"
    assert host["license_params"]["restrict_dr"] == "false"
    assert {"product_version", "product_brand", "build_number", "xapi", "xen"} <= set(
        host["software_version"]
    )
    pool = next(iter(prod.xenapi.pool.get_all_records().values()))
    assert {"restrict_dr", "restrict_vm_appliance_start"} <= set(pool["restrictions"])
    assert len(prod.xenapi.pool.get_all()) == 1


# ------------------------------------------------------------------ §2.1 replication


def test_assert_checks_pbds_before_the_driver(mini: SimHandle) -> None:
    """§2.1: an NFS SR with an unplugged PBD gives SR_NO_PBDS (PBDs are checked first)."""
    prod = login(mini, "primary")
    nfs = prod.xenapi.SR.get_by_name_label("Scratch NFS")[0]
    prod.xenapi.PBD.unplug(prod.xenapi.SR.get_PBDs(nfs)[0])
    with pytest.raises(XenAPI.Failure) as exc:
        prod.xenapi.SR.assert_supports_database_replication(nfs)
    assert exc.value.details == ["SR_NO_PBDS", nfs]


def test_a_host_without_a_pbd_gives_sr_no_pbds(mini: SimHandle) -> None:
    """§2.1: a host with no PBD at all for the SR gives SR_NO_PBDS from the assert and enable."""
    prod = login(mini, "primary")
    silver = prod.xenapi.SR.get_by_name_label("Silver")[0]
    pbd = prod.xenapi.SR.get_PBDs(silver)[1]
    prod.xenapi.PBD.unplug(pbd)
    prod.xenapi.PBD.destroy(pbd)
    for call in (
        prod.xenapi.SR.assert_supports_database_replication,
        prod.xenapi.SR.enable_database_replication,
    ):
        with pytest.raises(XenAPI.Failure) as exc:
            call(silver)
        assert exc.value.details == ["SR_NO_PBDS", silver]


def test_replication_calls_need_pool_operator(mini: SimHandle) -> None:
    """§2.1/§2.2: enable replication and VDI.open_database are denied to a read-only user."""
    viewer = login(mini, "primary", "read-only")
    gold = viewer.xenapi.SR.get_by_name_label("Gold")[0]
    vdi = viewer.xenapi.pool.get_metadata_VDIs(viewer.xenapi.pool.get_all()[0])[0]
    for call, arg, perm in (
        (viewer.xenapi.SR.enable_database_replication, gold, "sr.enable_database_replication"),
        (viewer.xenapi.VDI.open_database, vdi, "vdi.open_database"),
    ):
        with pytest.raises(XenAPI.Failure) as exc:
            call(arg)
        assert exc.value.details[:2] == ["RBAC_PERMISSION_DENIED", perm]


def test_unplugging_the_metadata_sr_stops_replication_and_plugging_rearms_it(
    mini: SimHandle,
) -> None:
    """§2.1: unplug disables the own redo log (VBD gone, latest false); a plug re-enables it."""
    prod = login(mini, "primary")
    gold = prod.xenapi.SR.get_by_name_label("Gold")[0]
    vdi = prod.xenapi.pool.get_metadata_VDIs(prod.xenapi.pool.get_all()[0])[0]
    assert prod.xenapi.VDI.get_metadata_latest(vdi) is True
    for ref, vm in prod.xenapi.VM.get_all_records().items():
        if vm["power_state"] == "Running" and not vm["is_control_domain"]:
            prod.xenapi.VM.hard_shutdown(ref)
    pbds = prod.xenapi.SR.get_PBDs(gold)
    for pbd in pbds:
        prod.xenapi.PBD.unplug(pbd)
    assert prod.xenapi.VDI.get_metadata_latest(vdi) is False
    assert prod.xenapi.VDI.get_VBDs(vdi) == []
    coordinator = prod.xenapi.pool.get_master(prod.xenapi.pool.get_all()[0])
    prod.xenapi.PBD.plug(next(p for p in pbds if prod.xenapi.PBD.get_host(p) == coordinator))
    assert prod.xenapi.VDI.get_metadata_latest(vdi) is True
    assert len(prod.xenapi.VDI.get_VBDs(vdi)) == 1


def test_broken_metadata_lun_raises_an_alert_when_asked(mini: SimHandle, ctl: Ctl) -> None:
    """§2.1/§7.8: a broken redo log: own VDI not latest, METADATA_LUN_BROKEN, then HEALTHY."""
    prod = login(mini, "primary")
    pool = prod.xenapi.pool.get_all()[0]
    vdi = prod.xenapi.pool.get_metadata_VDIs(pool)[0]
    prod.xenapi.pool.remove_from_other_config(pool, "metadata_lun_alerts")
    prod.xenapi.pool.add_to_other_config(pool, "metadata_lun_alerts", "true")
    lun = ctl.lun("Gold")["lun"]
    ctl("POST", "/faults", {"kind": "lun", "lun": lun, "side": "source", "failed": True})
    prod.xenapi.VM_appliance.create({"name_label": "written while broken", "name_description": ""})
    assert prod.xenapi.VDI.get_metadata_latest(vdi) is False
    ctl("DELETE", "/faults")
    prod.xenapi.VM_appliance.create({"name_label": "written healed", "name_description": ""})
    assert prod.xenapi.VDI.get_metadata_latest(vdi) is True
    messages = prod.xenapi.message.get_all_records().values()
    assert {(m["name"], m["priority"]) for m in messages} >= {
        ("METADATA_LUN_BROKEN", "3"),
        ("METADATA_LUN_HEALTHY", "4"),
    }


# ------------------------------------------------------------------ §2.2 metadata VDIs


@pytest.mark.parametrize("release", RELEASES)
def test_foreign_metadata_vdi_names_a_pool_the_dr_pool_does_not_have(
    sim_factory: Callable[..., SimHandle], release: str
) -> None:
    """§2.2: metadata_of_pool is the foreign pool's ref (HANDLE_INVALID locally), not listed;
    only a release whose plug scans has read the VDI's database (latest, pool uuid cached)."""
    sim = sim_factory(at_release("mini", release))
    ctl = Ctl(sim.control_url)
    ctl.disaster_after_sync()
    opened = open_failover(sim, ctl, ["Gold", "Silver"])
    dr = opened.dr
    vdi = next(
        r
        for r, v in dr.xenapi.VDI.get_all_records_where('field "type"="metadata"').items()
        if dr.xenapi.SR.get_name_label(v["SR"]) == "Gold"
    )
    foreign_pool = dr.xenapi.VDI.get_metadata_of_pool(vdi)
    assert foreign_pool == value(opened.call("pool.get_all"))[0]
    with pytest.raises(XenAPI.Failure) as exc:
        dr.xenapi.pool.get_record(foreign_pool)
    assert exc.value.details == ["HANDLE_INVALID", "pool", foreign_pool]
    assert dr.xenapi.pool.get_metadata_VDIs(dr.xenapi.pool.get_all()[0]) == []
    foreign_uuid = value(opened.call("pool.get_uuid", foreign_pool))
    cached = {NEWEST: (False, ""), OLDER: (True, foreign_uuid)}[release]
    assert (
        dr.xenapi.VDI.get_metadata_latest(vdi),
        dr.xenapi.VDI.read_database_pool_uuid(vdi),
    ) == cached


@pytest.mark.parametrize("release", RELEASES)
def test_the_first_plug_scans_only_before_ca_379112(
    sim_factory: Callable[..., SimHandle], release: str
) -> None:
    """DR_task.create alone: VDI records on a release whose plug scans, none on today's; a
    scan brings them, and a plug of the coordinator's PBD after it reads the metadata."""
    sim = sim_factory(at_release("mini", release))
    ctl = Ctl(sim.control_url)
    ctl.disaster_after_sync()
    dr = login(sim, "dr")
    row = ctl.lun("Gold")
    task = dr.xenapi.DR_task.create("lvmoiscsi", row["mirror_device_config"], [row["sr_uuid"]])
    (gold,) = dr.xenapi.DR_task.get_introduced_SRs(task)
    assert dr.xenapi.SR.get_other_config(gold) == {}  # nothing asks the periodic scanner
    found = len(dr.xenapi.SR.get_VDIs(gold))
    assert (found > 0) is (release == OLDER)
    scan(dr, gold)
    (meta,) = [v for v in dr.xenapi.SR.get_VDIs(gold) if dr.xenapi.VDI.get_type(v) == "metadata"]
    assert dr.xenapi.VDI.get_metadata_latest(meta) is (release == OLDER)
    master = dr.xenapi.pool.get_master(dr.xenapi.pool.get_all()[0])
    (pbd,) = [p for p in dr.xenapi.SR.get_PBDs(gold) if dr.xenapi.PBD.get_host(p) == master]
    others = [p for p in dr.xenapi.SR.get_PBDs(gold) if p != pbd]
    for p in [*others, pbd]:
        dr.xenapi.PBD.unplug(p)
    for p in [pbd, *others]:
        dr.xenapi.PBD.plug(p)
    assert dr.xenapi.VDI.get_metadata_latest(meta) is True
    assert dr.xenapi.VDI.read_database_pool_uuid(meta) != ""


def test_database_session_is_a_read_only_disaster_recovery_session(opened: Opened) -> None:
    """§2.2: user disaster-recovery, not local superuser; writes denied; logout releases it."""
    dr, db = opened.dr, opened.db
    rec = dr.xenapi.session.get_record(db)
    assert rec["auth_user_name"] == "disaster-recovery"
    assert rec["is_local_superuser"] is False
    vm = opened.vms["app-01"]
    assert failure(opened.call("VM.set_name_label", vm, "x"))[0] == "RBAC_PERMISSION_DENIED"
    assert failure(opened.call("VM.start", vm, False, False))[0] == "RBAC_PERMISSION_DENIED"
    assert failure(opened.call("DR_task.create", "lvmoiscsi", {}, []))[0] == (
        "RBAC_PERMISSION_DENIED"
    )
    value(raw(dr, "session.logout", db))
    assert failure(opened.call("VM.get_all")) == ["SESSION_INVALID", db]


def test_open_database_does_not_refuse_the_pools_own_metadata(mini: SimHandle) -> None:
    """§2.2: VDI.open_database on the pool's own metadata VDI works (no OF_THIS_POOL error)."""
    prod = login(mini, "primary")
    vdi = prod.xenapi.pool.get_metadata_VDIs(prod.xenapi.pool.get_all()[0])[0]
    db = prod.xenapi.VDI.open_database(vdi)
    names = {v["name_label"] for v in value(raw(prod, "VM.get_all_records", db)).values()}
    assert "app-01" in names
    value(raw(prod, "session.logout", db))


def test_unplugged_foreign_metadata_is_no_longer_latest(
    sim_factory: Callable[..., SimHandle],
) -> None:
    """§2.1: unplugging a foreign metadata SR sets metadata_latest=false and drops the cache
    (on a release whose plug scans, where the plug marked it latest)."""
    sim = sim_factory(at_release("mini", OLDER))
    ctl = Ctl(sim.control_url)
    ctl.disaster_after_sync()
    dr = open_failover(sim, ctl, ["Gold", "Silver"]).dr
    gold = dr.xenapi.SR.get_by_name_label("Gold")[0]
    vdi = next(v for v in dr.xenapi.SR.get_VDIs(gold) if dr.xenapi.VDI.get_type(v) == "metadata")
    assert dr.xenapi.VDI.get_metadata_latest(vdi) is True
    for pbd in dr.xenapi.SR.get_PBDs(gold):
        dr.xenapi.PBD.unplug(pbd)
    assert dr.xenapi.VDI.get_metadata_latest(vdi) is False
    assert dr.xenapi.VDI.read_database_pool_uuid(vdi) == ""


def test_copies_with_the_same_generation_are_all_latest(
    sim_factory: Callable[..., SimHandle],
) -> None:
    """§2.2: two up-to-date copies of one pool's database tie: both are metadata_latest."""
    sim = sim_factory(at_release(TWIN_METADATA, OLDER))
    ctl = Ctl(sim.control_url)
    ctl.disaster_after_sync()
    dr = login(sim, "dr")
    for name in ("A", "B"):
        introduce(dr, ctl.lun(name))
    records = dr.xenapi.VDI.get_all_records_where('field "type"="metadata"').values()
    assert sorted(r["metadata_latest"] for r in records) == [True, True]


def test_replication_is_rearmed_when_the_simulator_starts_again(
    sim_factory: Callable[..., SimHandle], tmp_path: Path
) -> None:
    """§2.1: after a restart, writes still go through to the metadata LUN (xapi re-enables)."""
    first = sim_factory("mini", state_dir=tmp_path)
    first.stop()
    second = sim_factory("mini", state_dir=tmp_path)
    ctl = Ctl(second.control_url)
    prod = login(second, "primary")
    prod.xenapi.VM_appliance.create({"name_label": "after restart", "name_description": ""})
    ctl.disaster_after_sync()
    fo = open_failover(second, ctl, ["Gold"])
    assert "after restart" in fo.apps


# ------------------------------------------------------------------ §2.3 / §7.7 DR tasks


def test_dr_task_create_plugs_the_coordinator_first_and_introduces_like_xapi(
    mini: SimHandle, ctl: Ctl
) -> None:
    """§2.3: coordinator's PBD plugged before the others; SR shared, content_type "", Async ok."""
    ctl.disaster_after_sync()
    dr = login(mini, "dr")
    token = getattr(dr.xenapi.event, "from")(["pbd"], "", 0)["token"]
    row = ctl.lun("Gold")
    task = dr.xenapi.Async.DR_task.create(
        "lvmoiscsi", row["mirror_device_config"], [row["sr_uuid"]]
    )
    rec = task_outcome(dr, task)
    assert rec["status"] == "success"
    dr_task = rec["result"].removeprefix("<value>").removesuffix("</value>")
    assert dr.xenapi.DR_task.get_record(dr_task)["introduced_SRs"]
    events = getattr(dr.xenapi.event, "from")(["pbd"], token, 0)["events"]
    coordinator = dr.xenapi.pool.get_master(dr.xenapi.pool.get_all()[0])
    ids = {dr.xenapi.PBD.get_host(e["ref"]) == coordinator: int(e["id"]) for e in events}
    assert ids[True] < ids[False]
    sr = dr.xenapi.SR.get_record(dr.xenapi.SR.get_by_uuid(row["sr_uuid"]))
    assert (sr["shared"], sr["content_type"], sr["introduced_by"]) == (True, "", dr_task)


def test_a_detached_sr_skipped_by_dr_task_create_blocks_recovery(mini: SimHandle, ctl: Ctl) -> None:
    """§7.7: an SR that exists detached is skipped by DR_task.create; recovery: VM_REQUIRES_SR."""
    ctl.disaster_after_sync()
    fo = open_failover(mini, ctl, ["Gold"])
    dr = fo.dr
    gold = dr.xenapi.SR.get_by_name_label("Gold")[0]
    for pbd in dr.xenapi.SR.get_PBDs(gold):
        dr.xenapi.PBD.unplug(pbd)
    again = introduce(dr, ctl.lun("Gold"))
    assert dr.xenapi.DR_task.get_introduced_SRs(again) == []
    assert not any(dr.xenapi.PBD.get_currently_attached(p) for p in dr.xenapi.SR.get_PBDs(gold))
    error = failure(fo.call("VM.assert_can_be_recovered", fo.vms["app-01"], dr._session))
    assert error[:2] == ["VM_REQUIRES_SR", fo.vms["app-01"]]
    (missing,) = value(fo.call("VM.get_SRs_required_for_recovery", fo.vms["app-01"], dr._session))
    assert value(fo.call("SR.get_uuid", missing)) == dr.xenapi.SR.get_uuid(gold)


def test_the_dr_task_has_only_uuid_and_introduced_srs(opened: Opened) -> None:
    """§4.5: a DR_task record holds exactly uuid and introduced_SRs."""
    rec = opened.dr.xenapi.DR_task.get_record(opened.tasks[0])
    assert set(rec) == {"uuid", "introduced_SRs"}


# ------------------------------------------------------------------ §2.6-§2.9 recovery


def test_one_attached_pbd_on_any_host_is_enough_to_recover(opened: Opened) -> None:
    """§2.7: the required SR needs at least one attached PBD, on any host."""
    dr = opened.dr
    gold = dr.xenapi.SR.get_by_name_label("Gold")[0]
    coordinator = dr.xenapi.pool.get_master(dr.xenapi.pool.get_all()[0])
    for pbd in dr.xenapi.SR.get_PBDs(gold):
        if dr.xenapi.PBD.get_host(pbd) == coordinator:
            dr.xenapi.PBD.unplug(pbd)
    value(opened.call("VM.assert_can_be_recovered", opened.vms["app-01"], dr._session))
    assert (
        value(opened.call("VM.get_SRs_required_for_recovery", opened.vms["app-01"], dr._session))
        == []
    )
    value(opened.recover("app-01"))


def test_assert_can_be_recovered_ignores_appliances_networks_and_rights(
    mini: SimHandle, opened: Opened
) -> None:
    """§2.7: the assert passes for a vApp member, a missing network and a read-only session_to."""
    viewer = login(mini, "dr", "read-only")
    for name in ("shop-db", "backup-proxy"):
        result = opened.call("VM.assert_can_be_recovered", opened.vms[name], viewer._session)
        assert (result["Status"], result["Value"]) == ("Success", ""), result


def test_network_is_matched_by_name_before_bridge(opened: Opened) -> None:
    """§2.6: a DR network named like the NIC's wins over the one with the same bridge."""
    dr = opened.dr
    same_name = dr.xenapi.network.create(
        {"name_label": "VM Network", "name_description": "", "MTU": "1500", "other_config": {}}
    )
    value(opened.recover("app-01"))
    vm = dr.xenapi.VM.get_by_name_label("app-01")[0]
    assert [dr.xenapi.VIF.get_network(v) for v in dr.xenapi.VM.get_VIFs(vm)] == [same_name]


def test_recovered_vm_fields_follow_the_import_rules(opened: Opened) -> None:
    """§2.6: affinity NULL (unknown host), new generation_id, MAC seed and MACs kept, Halted."""
    dr = opened.dr
    src = value(opened.call("VM.get_record", opened.vms["app-01"]))
    value(opened.recover("app-01"))
    rec = dr.xenapi.VM.get_record(dr.xenapi.VM.get_by_uuid(src["uuid"]))
    assert rec["affinity"] == NULL
    assert rec["resident_on"] == NULL
    assert rec["power_state"] == "Halted"
    assert rec["generation_id"] != src["generation_id"]
    assert rec["other_config"] == src["other_config"]
    src_macs = {value(opened.call("VIF.get_MAC", v)) for v in src["VIFs"]}
    assert {dr.xenapi.VIF.get_MAC(v) for v in rec["VIFs"]} == src_macs
    assert rec["name_label"] == src["name_label"]
    assert rec["memory_static_max"] == src["memory_static_max"]


def test_recovery_writes_into_session_to_and_keeps_the_foreign_database(opened: Opened) -> None:
    """§2.5: the VM lands in the DR pool; the foreign database is unchanged by the recovery."""
    before = value(opened.call("VM.get_all_records"))
    value(opened.recover("app-01"))
    after = value(opened.call("VM.get_all_records"))
    assert after.keys() == before.keys()
    assert after[opened.vms["app-01"]]["version"] == before[opened.vms["app-01"]]["version"]


def test_second_recovery_bumps_the_version_again(opened: Opened) -> None:
    """§2.6: version = imported version + 1; forcing again imports the same version, +1 again."""
    dr = opened.dr
    src_version = int(value(opened.call("VM.get_version", opened.vms["app-01"])))
    value(opened.recover("app-01"))
    value(opened.recover("app-01", force=True))
    uuid = value(opened.call("VM.get_uuid", opened.vms["app-01"]))
    assert int(dr.xenapi.VM.get_version(dr.xenapi.VM.get_by_uuid(uuid))) == src_version + 1


def test_vapp_recovery_denies_a_read_only_session_to_with_its_own_name(
    mini: SimHandle, opened: Opened
) -> None:
    """§2.6/§2.9: RBAC_PERMISSION_DENIED ["VM_appliance.recover", recovery text]; nothing made."""
    viewer = login(mini, "dr", "read-only")
    assert failure(opened.recover_app("shop", session_to=viewer._session)) == [
        "RBAC_PERMISSION_DENIED",
        "VM_appliance.recover",
        DENIED_TEXT,
    ]
    assert opened.dr.xenapi.VM_appliance.get_by_name_label("shop") == []


def test_vapp_recovery_refreshes_an_existing_appliance_with_the_same_uuid(
    opened: Opened,
) -> None:
    """§2.9: a second recovery reuses the appliance of that uuid, detaches, renames, reassigns."""
    dr = opened.dr
    value(opened.recover_app("shop"))
    uuid = value(opened.call("VM_appliance.get_uuid", opened.apps["shop"]))
    app = dr.xenapi.VM_appliance.get_by_uuid(uuid)
    dr.xenapi.VM_appliance.set_name_label(app, "renamed at DR")
    stranger = dr.xenapi.VM.get_by_name_label("dr-jump")[0]
    dr.xenapi.VM.set_appliance(stranger, app)
    value(opened.recover_app("shop", force=True))
    assert dr.xenapi.VM_appliance.get_by_uuid(uuid) == app
    assert dr.xenapi.VM_appliance.get_name_label(app) == "shop"
    assert dr.xenapi.VM.get_appliance(stranger) == NULL
    names = {dr.xenapi.VM.get_name_label(v) for v in dr.xenapi.VM_appliance.get_VMs(app)}
    assert names == {"shop-db", "shop-web-01", "shop-web-02"}


def test_vapp_assert_names_the_first_member_that_cannot_be_recovered(opened: Opened) -> None:
    """§2.9: Gold detached: the vApp assert gives VM_REQUIRES_SR for a member; Gold required."""
    dr = opened.dr
    for pbd in dr.xenapi.SR.get_PBDs(dr.xenapi.SR.get_by_name_label("Gold")[0]):
        dr.xenapi.PBD.unplug(pbd)
    app = opened.apps["shop"]
    error = failure(opened.call("VM_appliance.assert_can_be_recovered", app, dr._session))
    assert error[0] == "VM_REQUIRES_SR"
    assert error[1] in value(opened.call("VM_appliance.get_VMs", app))
    required = value(opened.call("VM_appliance.get_SRs_required_for_recovery", app, dr._session))
    assert [value(opened.call("SR.get_name_label", sr)) for sr in required] == ["Gold"]
    assert failure(opened.recover_app("shop", force=True))[0] == "VM_REQUIRES_SR"


def test_recovery_checks_the_target_pools_licence(sim_factory: Callable[..., SimHandle]) -> None:
    """§2.6/§7.4: an unlicensed DR pool gets LICENCE_RESTRICTION ["DR"] from both recovers."""
    sim = sim_factory(with_sites(TWO_SITES.format(dr_licensed="false")))
    ctl = Ctl(sim.control_url)
    ctl.disaster_after_sync()
    dr = login(sim, "dr")
    pool = dr.xenapi.pool.get_all()[0]
    assert dr.xenapi.pool.get_restrictions(pool)["restrict_dr"] == "true"
    host = dr.xenapi.pool.get_master(pool)
    assert dr.xenapi.host.get_license_params(host)["restrict_dr"] == "true"
    row = ctl.lun("Gold")
    sr = dr.xenapi.SR.introduce(row["sr_uuid"], "Gold", "", "lvmoiscsi", "", True, {})
    for h in dr.xenapi.host.get_all():
        pbd = dr.xenapi.PBD.create(
            {"host": h, "SR": sr, "device_config": row["mirror_device_config"]}
        )
        dr.xenapi.PBD.plug(pbd)
    scan(dr, sr)
    vdi = next(v for v in dr.xenapi.SR.get_VDIs(sr) if dr.xenapi.VDI.get_type(v) == "metadata")
    db = dr.xenapi.VDI.open_database(vdi)
    vm = value(raw(dr, "VM.get_by_name_label", db, "vm"))[0]
    app = value(raw(dr, "VM_appliance.get_by_name_label", db, "app"))[0]
    assert failure(raw(dr, "VM.recover", db, vm, dr._session, True)) == [
        "LICENCE_RESTRICTION",
        "DR",
    ]
    assert failure(raw(dr, "VM_appliance.recover", db, app, dr._session, True)) == [
        "LICENCE_RESTRICTION",
        "DR",
    ]
    value(raw(dr, "VM.assert_can_be_recovered", db, vm, dr._session))


# ------------------------------------------------------------------ §3 vApps


def test_vapp_order_and_delays_are_pool_operator_settings(
    sim_factory: Callable[..., SimHandle],
) -> None:
    """§3.1: a vm-admin may rename a VM but not set its order, delays or vApp (pool-operator)."""
    sim = sim_factory(VM_ADMIN)
    admin = login(sim, "primary", "vm-admin")
    vm = admin.xenapi.VM.get_by_name_label("v")[0]
    admin.xenapi.VM.set_name_label(vm, "renamed")
    for name, value_ in (
        ("set_order", "1"),
        ("set_start_delay", "5"),
        ("set_shutdown_delay", "5"),
        ("set_appliance", "OpaqueRef:NULL"),
    ):
        error = failure(raw(admin, f"VM.{name}", admin._session, vm, value_))
        assert error[:2] == ["RBAC_PERMISSION_DENIED", f"vm.{name}"]
    operator = login(sim, "primary", "pool-operator")
    operator.xenapi.VM.set_order(vm, "1")
    assert operator.xenapi.VM.get_order(vm) == "1"


def test_appliance_create_takes_a_record_and_allows_nothing_while_empty(mini: SimHandle) -> None:
    """§3.1/§3.2: VM_appliance.create({name_label, name_description}); no VMs: no operations."""
    prod = login(mini, "primary")
    app = prod.xenapi.VM_appliance.create({"name_label": "new", "name_description": "d"})
    rec = prod.xenapi.VM_appliance.get_record(app)
    assert (rec["name_label"], rec["name_description"], rec["VMs"]) == ("new", "d", [])
    assert rec["allowed_operations"] == []
    for call in (prod.xenapi.VM_appliance.clean_shutdown, prod.xenapi.VM_appliance.hard_shutdown):
        with pytest.raises(XenAPI.Failure) as exc:
            call(app)
        assert exc.value.details == ["OPERATION_NOT_ALLOWED", "Appliance has no VMs."]


def test_vapp_start_acts_only_on_members_not_yet_running(mini: SimHandle) -> None:
    """§3.3: a vApp with one member already running starts the rest without any failure."""
    prod = login(mini, "primary")
    app = prod.xenapi.VM_appliance.get_by_name_label("shop")[0]
    prod.xenapi.VM_appliance.hard_shutdown(app)
    db = prod.xenapi.VM.get_by_name_label("shop-db")[0]
    prod.xenapi.VM.start(db, False, False)
    prod.xenapi.VM_appliance.start(app, False)
    states = {prod.xenapi.VM.get_power_state(v) for v in prod.xenapi.VM_appliance.get_VMs(app)}
    assert states == {"Running"}


def test_a_string_for_a_bool_argument_starts_nothing(mini: SimHandle) -> None:
    """§1.3: VM.start(vm, "false", "false") is refused, not read as truthy: the VM stays Halted."""
    prod = login(mini, "primary")
    vm = prod.xenapi.VM.get_by_name_label("halted-vm")[0]
    error = failure(raw(prod, "VM.start", prod._session, vm, "false", "false"))
    assert error[0] == "INTERNAL_ERROR"
    assert prod.xenapi.VM.get_power_state(vm) == "Halted"


def test_start_delay_is_slept_inside_vm_start_before_the_next_group(mini: SimHandle) -> None:
    """§3.3: order 0 is Running while its start_delay runs; order 1 waits; the call is pending."""
    prod = login(mini, "primary")
    app = prod.xenapi.VM_appliance.get_by_name_label("shop")[0]
    prod.xenapi.VM_appliance.clean_shutdown(app)
    db_vm = prod.xenapi.VM.get_by_name_label("shop-db")[0]
    prod.xenapi.VM.set_start_delay(db_vm, "100000000")  # far beyond the test: ended at stop
    task = prod.xenapi.Async.VM_appliance.start(app, False)
    assert wait_until(
        prod, [f"vm/{db_vm}"], lambda: prod.xenapi.VM.get_power_state(db_vm) == "Running"
    )
    webs = [v for v in prod.xenapi.VM_appliance.get_VMs(app) if v != db_vm]
    assert {prod.xenapi.VM.get_power_state(v) for v in webs} == {"Halted"}
    assert prod.xenapi.task.get_status(task) == "pending"


def test_members_of_one_order_group_start_in_parallel(mini: SimHandle) -> None:
    """§3.3: two members of one group, each with a long start_delay, are both Running together."""
    prod = login(mini, "primary")
    app = prod.xenapi.VM_appliance.get_by_name_label("shop")[0]
    prod.xenapi.VM_appliance.hard_shutdown(app)
    webs = [prod.xenapi.VM.get_by_name_label(f"shop-web-0{i}")[0] for i in (1, 2)]
    db_vm = prod.xenapi.VM.get_by_name_label("shop-db")[0]
    prod.xenapi.VM.set_start_delay(db_vm, "0")
    for web in webs:
        prod.xenapi.VM.set_start_delay(web, "100000000")
    task = prod.xenapi.Async.VM_appliance.start(app, False)
    assert wait_until(
        prod,
        ["vm"],
        lambda: all(prod.xenapi.VM.get_power_state(w) == "Running" for w in webs),
    )
    assert prod.xenapi.task.get_status(task) == "pending"


def test_placement_skips_a_host_without_room(sim_factory: Callable[..., SimHandle]) -> None:
    """VM.start places the VM on the live host that has room for it."""
    sim = sim_factory(SMALL_AND_BIG)
    prod = login(sim, "primary")
    vm = prod.xenapi.VM.get_by_name_label("big")[0]
    prod.xenapi.VM.start(vm, False, False)
    host = prod.xenapi.VM.get_resident_on(vm)
    assert prod.xenapi.host.get_name_label(host) == "roomy"


def test_a_standalone_start_sleeps_its_start_delay_too(mini: SimHandle) -> None:
    """§3.3: VM.start of a VM outside any vApp returns only after its start_delay."""
    prod = login(mini, "primary")
    vm = prod.xenapi.VM.get_by_name_label("halted-vm")[0]
    prod.xenapi.VM.set_start_delay(vm, "100000000")
    task = prod.xenapi.Async.VM.start(vm, False, False)
    assert wait_until(prod, [f"vm/{vm}"], lambda: prod.xenapi.VM.get_power_state(vm) == "Running")
    assert prod.xenapi.task.get_status(task) == "pending"


def test_clean_shutdown_sleeps_the_shutdown_delay(mini: SimHandle) -> None:
    """§3.3: VM.clean_shutdown returns only after the VM's shutdown_delay."""
    prod = login(mini, "primary")
    vm = prod.xenapi.VM.get_by_name_label("app-01")[0]
    prod.xenapi.VM.set_shutdown_delay(vm, "100000000")
    task = prod.xenapi.Async.VM.clean_shutdown(vm)
    assert wait_until(prod, [f"vm/{vm}"], lambda: prod.xenapi.VM.get_power_state(vm) == "Halted")
    assert prod.xenapi.task.get_status(task) == "pending"


def test_one_appliance_operation_at_a_time(mini: SimHandle, ctl: Ctl) -> None:
    """§3.2: a second operation while one runs gives OTHER_OPERATION_IN_PROGRESS with the task."""
    prod = login(mini, "primary")
    app = prod.xenapi.VM_appliance.get_by_name_label("shop")[0]
    db_vm = prod.xenapi.VM.get_by_name_label("shop-db")[0]
    prod.xenapi.VM.set_shutdown_delay(db_vm, "100000000")
    first = prod.xenapi.Async.VM_appliance.clean_shutdown(app)
    assert wait_until(
        prod, [f"vm/{db_vm}"], lambda: prod.xenapi.VM.get_power_state(db_vm) == "Halted"
    )
    with pytest.raises(XenAPI.Failure) as exc:
        prod.xenapi.VM_appliance.hard_shutdown(app)
    assert exc.value.details == [
        "OTHER_OPERATION_IN_PROGRESS",
        "VM_appliance",
        app,
        "clean_shutdown",
        first,
    ]


def test_vapp_shutdown_partial_failure_names_the_operation(mini: SimHandle, ctl: Ctl) -> None:
    """§3.3: a member left running by hard_shutdown gives OPERATION_PARTIALLY_FAILED [op, vm]."""
    prod = login(mini, "primary")
    app = prod.xenapi.VM_appliance.get_by_name_label("shop")[0]
    web = prod.xenapi.VM.get_by_name_label("shop-web-01")[0]
    prod.xenapi.VM.hard_shutdown(web)
    prod.xenapi.VM.start(web, True, False)  # paused: clean_shutdown cannot stop it
    with pytest.raises(XenAPI.Failure) as exc:
        prod.xenapi.VM_appliance.clean_shutdown(app)
    assert exc.value.details == ["OPERATION_PARTIALLY_FAILED", "VM_appliance.clean_shutdown", web]


# ------------------------------------------------------------------ §7.13 starts after recovery


def test_a_recovered_vm_on_a_new_private_network_starts(opened: Opened) -> None:
    """§7.12: a PIF-less network made for a NIC whose network DR lacks does not stop the
    recovered VM from starting."""
    dr = opened.dr
    dr.xenapi.network.create(
        {"name_label": "Backup", "name_description": "", "MTU": "1500", "other_config": {}}
    )
    value(opened.recover("backup-proxy"))
    vm = dr.xenapi.VM.get_by_name_label("backup-proxy")[0]
    dr.xenapi.VM.start(vm, False, False)
    assert dr.xenapi.VM.get_power_state(vm) == "Running"


def test_async_recover_failure_is_the_error_a_sync_call_gives(opened: Opened) -> None:
    """§1.9: Async.VM.recover of a vApp member fails its task with the sync error_info."""
    task = value(
        raw(
            opened.dr,
            "Async.VM.recover",
            opened.db,
            opened.vms["shop-db"],
            opened.dr._session,
            True,
        )
    )
    rec = task_outcome(opened.dr, task)
    assert rec["status"] == "failure"
    assert rec["error_info"] == [
        "VM_IS_PART_OF_AN_APPLIANCE",
        opened.vms["shop-db"],
        opened.apps["shop"],
    ]
