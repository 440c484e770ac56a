"""Foreign-database sessions and recovery (reference §2.2, §2.5-§2.9, §7.10-§7.15)."""

from __future__ import annotations

from collections.abc import Callable

import pytest
import XenAPI

from sim.xapi.serve import SimHandle
from tests.sim_xapi.world_support import (
    DENIED_TEXT,
    Ctl,
    Opened,
    failure,
    introduce,
    latest_metadata_vdis,
    login,
    open_failover,
    raw,
    value,
    with_sites,
)


@pytest.fixture
def failover(mini: SimHandle, ctl: Ctl) -> Opened:
    ctl.disaster_after_sync()
    return open_failover(mini, ctl, ["Gold", "Silver"])


def test_database_session_reads_the_foreign_pool_and_cannot_write(failover: Opened) -> None:
    """Calls with the DB session read the primary's database; writes are RBAC_PERMISSION_DENIED."""
    dr, db = failover.dr, failover.db
    pools = value(raw(dr, "pool.get_all_records", db))
    assert [p["name_label"] for p in pools.values()] == ["prod"]
    assert dr.xenapi.session.get_record(db)["auth_user_name"] == "disaster-recovery"
    denied = failure(raw(dr, "VM_appliance.create", db, {"name_label": "x"}))
    assert denied[0] == "RBAC_PERMISSION_DENIED"


def test_open_database_needs_a_metadata_vdi(failover: Opened) -> None:
    """VDI.open_database on a disk gives VDI_INCOMPATIBLE_TYPE with the capitalised type."""
    dr = failover.dr
    disk = next(r for r, v in dr.xenapi.VDI.get_all_records().items() if v["type"] == "user")
    with pytest.raises(XenAPI.Failure) as exc:
        dr.xenapi.VDI.open_database(disk)
    assert exc.value.details == ["VDI_INCOMPATIBLE_TYPE", disk, "User"]


def test_recover_with_the_normal_session_and_a_foreign_ref_is_handle_invalid(
    failover: Opened,
) -> None:
    """A foreign ref used with the pool's own session gives HANDLE_INVALID ["VM", ref]."""
    ref = failover.vms["app-01"]
    with pytest.raises(XenAPI.Failure) as exc:
        failover.dr.xenapi.VM.recover(ref, failover.dr._session, False)
    assert exc.value.details == ["HANDLE_INVALID", "VM", ref]


def test_recovered_vm_keeps_its_uuid_and_bumps_its_version(failover: Opened) -> None:
    """VM.recover creates a Halted VM with the same uuid, version+1, disks and NICs attached."""
    value(failover.recover("app-01"))
    dr = failover.dr
    src = value(raw(dr, "VM.get_record", failover.db, failover.vms["app-01"]))
    vm = dr.xenapi.VM.get_by_uuid(src["uuid"])
    rec = dr.xenapi.VM.get_record(vm)
    assert rec["power_state"] == "Halted"
    assert int(rec["version"]) == int(src["version"]) + 1
    assert rec["appliance"] == "OpaqueRef:NULL"
    disks = [b for b in rec["VBDs"] if dr.xenapi.VBD.get_type(b) == "Disk"]
    assert len(disks) == 1
    cds = [b for b in rec["VBDs"] if dr.xenapi.VBD.get_type(b) == "CD"]
    assert dr.xenapi.VBD.get_empty(cds[0]) is True
    net = dr.xenapi.VIF.get_network(rec["VIFs"][0])
    assert dr.xenapi.network.get_name_label(net) == "Production"  # matched by bridge


def test_version_and_power_state_rules_for_an_existing_copy(failover: Opened) -> None:
    """Not newer: refused unless forced (then replaced); running copy: refused or skipped."""
    dr = failover.dr
    value(failover.recover("app-01"))
    uuid = value(raw(dr, "VM.get_uuid", failover.db, failover.vms["app-01"]))
    first = dr.xenapi.VM.get_by_uuid(uuid)
    assert failure(failover.recover("app-01")) == [
        "VM_TO_IMPORT_IS_NOT_NEWER_VERSION",
        first,
        "1",
        "0",
    ]
    value(failover.recover("app-01", force=True))
    second = dr.xenapi.VM.get_by_uuid(uuid)
    assert second != first
    dr.xenapi.VM.start(second, False, False)
    assert failure(failover.recover("app-01")) == [
        "VM_BAD_POWER_STATE",
        second,
        "Halted",
        "Running",
    ]
    value(failover.recover("app-01", force=True))
    assert dr.xenapi.VM.get_by_uuid(uuid) == second
    assert dr.xenapi.VM.get_power_state(second) == "Running"


def test_vm_in_a_vapp_must_be_recovered_with_its_vapp(failover: Opened) -> None:
    """VM.recover of a vApp member gives VM_IS_PART_OF_AN_APPLIANCE with foreign refs."""
    assert failure(failover.recover("shop-db")) == [
        "VM_IS_PART_OF_AN_APPLIANCE",
        failover.vms["shop-db"],
        failover.apps["shop"],
    ]


def test_session_to_needs_pool_operator(mini: SimHandle, failover: Opened) -> None:
    """A read-only session_to gives RBAC_PERMISSION_DENIED with XAPI's recovery text."""
    viewer = login(mini, "dr", "read-only")
    assert failure(failover.recover("app-01", session_to=viewer._session)) == [
        "RBAC_PERMISSION_DENIED",
        "VM.recover",
        DENIED_TEXT,
    ]


def test_missing_storage_is_reported_before_anything_is_created(failover: Opened) -> None:
    """report's NFS disk: VM_REQUIRES_SR from assert and recover, listed by get_SRs_required."""
    dr, db = failover.dr, failover.db
    ref = failover.vms["report"]
    error = failure(raw(dr, "VM.assert_can_be_recovered", db, ref, dr._session))
    assert error[:2] == ["VM_REQUIRES_SR", ref]
    assert value(raw(dr, "SR.get_name_label", db, error[2])) == "Scratch NFS"
    assert value(raw(dr, "VM.get_SRs_required_for_recovery", db, ref, dr._session)) == [error[2]]
    assert failure(failover.recover("report", force=True))[0] == "VM_REQUIRES_SR"
    assert failure(failover.recover("local-vm", force=True))[0] == "VM_REQUIRES_SR"
    assert (
        value(raw(dr, "VM.get_SRs_required_for_recovery", db, failover.vms["app-01"], dr._session))
        == []
    )
    assert dr.xenapi.VM.get_by_name_label("report") == []


def test_a_network_the_dr_pool_lacks_fails_the_recovery_until_one_is_made(
    failover: Opened,
) -> None:
    """backup-proxy's "Backup" network (bridge xenbr3) is missing at DR: the import would make
    it with that bridge on the caller's session, which xapi refuses (INVALID_VALUE), leaving
    nothing; once a "Backup" network exists (network.create), the NIC lands on it."""
    dr = failover.dr
    assert failure(failover.recover("backup-proxy")) == ["INVALID_VALUE", "bridge", "xenbr3"]
    assert dr.xenapi.VM.get_by_name_label("backup-proxy") == []
    assert dr.xenapi.network.get_by_name_label("Backup") == []
    made = dr.xenapi.network.create(
        {"name_label": "Backup", "name_description": "", "MTU": "1500", "other_config": {}}
    )
    assert dr.xenapi.network.get_bridge(made).startswith("xapi")
    value(failover.recover("backup-proxy"))
    vm = dr.xenapi.VM.get_by_name_label("backup-proxy")[0]
    networks = {dr.xenapi.VIF.get_network(v) for v in dr.xenapi.VM.get_VIFs(vm)}
    assert made in networks
    assert dr.xenapi.network.get_by_name_label("Backup") == [made]


def test_vapp_recovery_keeps_the_uuid_and_the_order(failover: Opened) -> None:
    """VM_appliance.recover recreates the vApp with its uuid, members, order and delays."""
    dr, db = failover.dr, failover.db
    src = value(raw(dr, "VM_appliance.get_record", db, failover.apps["shop"]))
    value(raw(dr, "VM_appliance.recover", db, failover.apps["shop"], dr._session, False))
    app = dr.xenapi.VM_appliance.get_by_uuid(src["uuid"])
    members = {dr.xenapi.VM.get_name_label(v): v for v in dr.xenapi.VM_appliance.get_VMs(app)}
    assert set(members) == {"shop-db", "shop-web-01", "shop-web-02"}
    assert dr.xenapi.VM.get_order(members["shop-web-01"]) == "1"
    assert dr.xenapi.VM.get_start_delay(members["shop-db"]) == "30"
    assert dr.xenapi.VM_appliance.get_allowed_operations(app) == ["start"]
    value(raw(dr, "VM_appliance.recover", db, failover.apps["shop"], dr._session, True))
    assert dr.xenapi.VM_appliance.get_all() == [app]
    assert (
        value(
            raw(
                dr,
                "VM_appliance.get_SRs_required_for_recovery",
                db,
                failover.apps["shop"],
                dr._session,
            )
        )
        == []
    )
    value(raw(dr, "VM_appliance.assert_can_be_recovered", db, failover.apps["shop"], dr._session))


LAGGING_DISK = with_sites(
    """
[replication]
lag_seconds = 600
$primary_site
[[sites.pools]]
name = "prod"
metadata_srs = ["Fast"]
hosts = [{ name = "a" }]
networks = [{ name = "net", bridge = "xenbr0" }]
srs = [
  { name = "Fast", kind = "replicated", replicate_to = "dr", lag_seconds = 0 },
  { name = "Slow", kind = "replicated", replicate_to = "dr", lag_seconds = 600 },
]
[[sites.pools.vms]]
name = "fresh"
disks = [{ sr = "Fast" }, { sr = "Slow" }]
nics = ["net"]
created_inside_lag = true
$dr_site
[[sites.pools]]
name = "dr"
hosts = [{ name = "b" }]
networks = [{ name = "net", bridge = "xenbr0" }]
"""
)


def test_disk_missing_on_a_present_sr_fails_unless_forced(
    sim_factory: Callable[..., SimHandle],
) -> None:
    """Metadata newer than a lagging disk LUN: VDI_LOCATION_MISSING, or force drops the disk."""
    sim = sim_factory(LAGGING_DISK)
    ctl = Ctl(sim.control_url)
    ctl.disaster("primary")
    fo = open_failover(sim, ctl, ["Fast", "Slow"])
    error = failure(fo.recover("fresh"))
    assert error[0] == "VDI_LOCATION_MISSING"
    assert fo.dr.xenapi.SR.get_name_label(error[1]) == "Slow"
    assert fo.dr.xenapi.VM.get_by_name_label("fresh") == []  # rolled back
    value(fo.recover("fresh", force=True))
    vm = fo.dr.xenapi.VM.get_by_name_label("fresh")[0]
    disks = [b for b in fo.dr.xenapi.VM.get_VBDs(vm) if fo.dr.xenapi.VBD.get_type(b) == "Disk"]
    assert len(disks) == 1


TWO_SITES = """
$primary_site
[[sites.pools]]
name = "prod"
product_version = "{prod_version}"
metadata_srs = ["Gold"]
hosts = [{{ name = "a" }}]
networks = [{{ name = "net", bridge = "xenbr0" }}]
srs = [{{ name = "Gold", kind = "replicated", replicate_to = "dr", lag_seconds = 0 }}]
[[sites.pools.vms]]
name = "vm"
disks = [{{ sr = "Gold" }}]
nics = ["net"]
$dr_site
[[sites.pools]]
name = "dr"
licensed_dr = {dr_licensed}
hosts = [{{ name = "b" }}]
networks = [{{ name = "net", bridge = "xenbr0" }}]
"""


def _two_sites(prod_version: str = "8.4.0", dr_licensed: bool = True) -> str:
    return with_sites(
        TWO_SITES.format(prod_version=prod_version, dr_licensed=str(dr_licensed).lower())
    )


def test_recovery_checks_the_target_pools_licence(sim_factory: Callable[..., SimHandle]) -> None:
    """An unlicensed DR pool: VM.recover gives LICENCE_RESTRICTION ["DR"]."""
    sim = sim_factory(_two_sites(dr_licensed=False))
    ctl = Ctl(sim.control_url)
    ctl.disaster("primary")
    dr = login(sim, "dr")
    with pytest.raises(XenAPI.Failure) as exc:
        introduce(dr, ctl.lun("Gold"))
    assert exc.value.details == ["LICENCE_RESTRICTION", "DR"]


def test_database_from_a_newer_xenserver_cannot_be_opened(
    sim_factory: Callable[..., SimHandle],
) -> None:
    """Metadata written by a newer version: COULD_NOT_IMPORT_DATABASE (schema mismatch)."""
    sim = sim_factory(_two_sites(prod_version="9.0.0"))
    ctl = Ctl(sim.control_url)
    ctl.disaster("primary")
    dr = login(sim, "dr")
    introduce(dr, ctl.lun("Gold"))
    with pytest.raises(XenAPI.Failure) as exc:
        dr.xenapi.VDI.open_database(latest_metadata_vdis(dr)[0])
    assert exc.value.details == [
        "COULD_NOT_IMPORT_DATABASE",
        "Database does not match local schema.",
    ]


def test_async_recover_with_the_database_session_is_polled_with_the_pool_session(
    sim_factory: Callable[..., SimHandle],
) -> None:
    """Async.VM.recover with the DB session returns a task the normal session can poll."""
    sim = sim_factory(_two_sites())
    ctl = Ctl(sim.control_url)
    ctl.disaster("primary")
    fo = open_failover(sim, ctl, ["Gold"])
    task = value(raw(fo.dr, "Async.VM.recover", fo.db, fo.vms["vm"], fo.dr._session, True))
    token, status = "", "pending"
    for _ in range(100):
        if status != "pending":
            break
        events = getattr(fo.dr.xenapi.event, "from")(["task"], token, 5.0)
        token = events["token"]
        status = fo.dr.xenapi.task.get_status(task)
    assert status == "success"
    assert fo.dr.xenapi.task.get_result(task) == "<value></value>"
    assert fo.dr.xenapi.VM.get_by_name_label("vm")


def test_a_stalled_dr_task_create_can_be_cancelled(sim_factory: Callable[..., SimHandle]) -> None:
    """With a task_stall fault on DR_task.create, the Async task ends cancelled on task.cancel."""
    sim = sim_factory(_two_sites())
    ctl = Ctl(sim.control_url)
    ctl.disaster("primary")
    ctl("POST", "/faults", {"kind": "task_stall", "method": "DR_task.create"})
    dr = login(sim, "dr")
    row = ctl.lun("Gold")
    task = dr.xenapi.Async.DR_task.create(
        "lvmoiscsi", row["mirror_device_config"], [row["sr_uuid"]]
    )
    assert dr.xenapi.task.get_status(task) == "pending"
    dr.xenapi.task.cancel(task)
    token, status = "", "pending"
    for _ in range(100):
        if status != "pending":
            break
        token = getattr(dr.xenapi.event, "from")(["task"], token, 5.0)["token"]
        status = dr.xenapi.task.get_status(task)
    assert status == "cancelled"
    assert dr.xenapi.SR.get_by_name_label("Gold") == []


SHARED_MISSING_NETWORK = with_sites(
    """
$primary_site
[[sites.pools]]
name = "prod"
metadata_srs = ["Gold"]
hosts = [{ name = "a" }]
networks = [{ name = "Replication", bridge = "br-repl" }]
srs = [{ name = "Gold", kind = "replicated", replicate_to = "dr", lag_seconds = 0 }]
[[sites.pools.vms]]
name = "db-{n}"
count = 2
disks = [{ sr = "Gold" }]
nics = ["Replication"]
$dr_site
[[sites.pools]]
name = "dr"
hosts = [{ name = "b" }]
"""
)


def _wait_tasks(dr: XenAPI.Session, tasks: list[str]) -> list[str]:
    token, left = "", set(tasks)
    for _ in range(100):
        if not left:
            break
        token = getattr(dr.xenapi.event, "from")(["task"], token, 5.0)["token"]
        left = {t for t in left if dr.xenapi.task.get_status(t) == "pending"}
    return [dr.xenapi.task.get_status(t) for t in tasks]


def test_concurrent_recoveries_race_for_a_missing_network(
    sim_factory: Callable[..., SimHandle],
) -> None:
    """Two recoveries that both looked the missing network up before either created it: the
    first creates it (with the source's bridge), the second is refused BRIDGE_NAME_EXISTS."""
    sim = sim_factory(SHARED_MISSING_NETWORK)
    ctl = Ctl(sim.control_url)
    ctl.disaster("primary")
    fo = open_failover(sim, ctl, ["Gold"])
    dr = fo.dr
    ctl("POST", "/faults", {"kind": "task_stall", "method": "VM.recover"})
    tasks = [
        value(raw(dr, "Async.VM.recover", fo.db, fo.vms[n], dr._session, False))
        for n in ("db-01", "db-02")
    ]
    ctl.wait_stalled(2)
    ctl("DELETE", "/faults")
    assert sorted(_wait_tasks(dr, tasks)) == ["failure", "success"]
    errors = [dr.xenapi.task.get_error_info(t) for t in tasks]
    assert ["BRIDGE_NAME_EXISTS", "br-repl"] in errors
    (made,) = dr.xenapi.network.get_by_name_label("Replication")
    assert dr.xenapi.network.get_bridge(made) == "br-repl"


def test_concurrent_recoveries_share_a_network_made_before_them(failover: Opened) -> None:
    """With the missing network made first (what a careful client does), parallel Async
    recoveries of VMs that need it all succeed, on that one network."""
    dr = failover.dr
    dr.xenapi.network.create(
        {"name_label": "Backup", "name_description": "", "MTU": "1500", "other_config": {}}
    )
    names = ["backup-proxy", "app-01", "halted-vm"]
    tasks = [
        value(raw(dr, "Async.VM.recover", failover.db, failover.vms[n], dr._session, False))
        for n in names
    ]
    token, left = "", set(tasks)
    for _ in range(100):
        if not left:
            break
        token = getattr(dr.xenapi.event, "from")(["task"], token, 5.0)["token"]
        left = {t for t in left if dr.xenapi.task.get_status(t) == "pending"}
    assert {dr.xenapi.task.get_status(t) for t in tasks} == {"success"}
    assert len(dr.xenapi.network.get_by_name_label("Backup")) == 1
    for n in names:
        assert len(dr.xenapi.VM.get_by_name_label(n)) == 1
