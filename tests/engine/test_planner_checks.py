"""The pre-checks of a plan: XenCenter's (reference §5.2.6) and the ones it lacks."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from engine.planner import PlanOptions, plan
from tests.engine.estate import build_estate


def _plan(estate, kind="test-failover", target="all", source_reachable=None, luns=None, **opts):
    src, dst = estate.sites(source_reachable=source_reachable)
    return plan(
        kind,
        target,
        source=src,
        dest=dst,
        storage=luns if luns is not None else estate.luns,
        options=PlanOptions(**opts),
    )


def _names(checks, status):
    return {(c.name, c.subject) for c in checks if c.status == status}


def test_local_storage_vm_is_left_out_of_all_with_a_warning(core_sim):
    """With 'all', a VM on local storage is left out and a warning says why."""
    estate = build_estate(core_sim)
    estate.put_on_local_storage("vm-00004")
    p = _plan(estate)
    assert "vm-00004" not in {v.name for v in p.vms}
    assert ("storage-local-storage", "vm-00004") in _names(p.checks, "warning")
    assert p.blockers == []


def test_local_storage_vm_named_explicitly_is_a_blocker(core_sim):
    """Naming a VM whose disk is on local storage blocks the plan (force would drop the disk)."""
    estate = build_estate(core_sim)
    estate.put_on_local_storage("vm-00004")
    p = _plan(estate, target="vm-00004")
    assert ("storage-local-storage", "vm-00004") in _names(p.checks, "blocker")


def test_disk_on_shared_unreplicated_sr_is_reported(core_sim):
    """A disk on a shared SR that no replicated LUN carries is a not-replicated problem."""
    estate = build_estate(core_sim)
    db = estate.prod.db
    nfs = db.create("SR", {"name_label": "Scratch NFS", "type": "nfs", "shared": True})
    vm = db.get("VM", estate.vm("vm-00003"))
    db.set("VDI", db.get("VBD", vm["VBDs"][0])["VDI"], SR=nfs)
    p = _plan(estate, target="vm-00003")
    blocker = next(c for c in p.blockers if c.name == "storage-not-replicated")
    assert "Scratch NFS" in blocker.message


def test_running_vm_at_reachable_source_blocks_an_unplanned_failover(core_sim):
    """Split-brain guard: a running copy at a source that answers refuses a failover."""
    estate = build_estate(core_sim)
    p = _plan(estate, "failover", target="vm-00003")  # build_pool: vm-00003 is Running
    assert ("split-brain", "vm-00003") in _names(p.checks, "blocker")


def test_planned_failover_accepts_running_vms(core_sim):
    """A planned failover shuts running VMs down first, so they are no blocker."""
    estate = build_estate(core_sim)
    p = _plan(estate, "failover", target="vm-00003", planned=True)
    assert p.planned
    assert not any(c.name == "split-brain" for c in p.checks)


def test_unreachable_source_plans_from_the_last_inventory(core_sim):
    """With the source down, no split-brain blocker; the plan says it uses what drbot last saw."""
    estate = build_estate(core_sim)
    p = _plan(estate, "failover", target="vm-00003", source_reachable=False)
    assert not any(c.name == "split-brain" for c in p.checks)
    assert ("source-reachable", "prod") in _names(p.checks, "warning")
    assert p.standalone_vms[0].record_source == "source-pool"
    assert not p.source_reachable


def test_planned_failover_needs_a_reachable_source(core_sim):
    """A planned failover with the source down is refused and an unplanned one suggested."""
    estate = build_estate(core_sim)
    p = _plan(estate, "failover", planned=True, source_reachable=False)
    assert any(c.name == "planned-needs-source" for c in p.blockers)


def test_ha_on_blocks_a_test_failover_unless_the_run_may_disable_it(core_sim):
    """HA on in the DR pool blocks a test failover; with disable_ha it is a warning."""
    estate = build_estate(core_sim)
    estate.dr.db.set("pool", estate.dr.refs["pool"], ha_enabled=True)
    (blocker,) = [c for c in _plan(estate).blockers if c.name == "ha"]
    # It names the option as people type it (Slack and CLI), not the field behind it.
    assert "--disable-ha" in blocker.message
    assert "disable_ha" not in blocker.message
    p = _plan(estate, disable_ha=True)
    assert p.disable_ha
    assert ("ha", "dr") in _names(p.checks, "warning")
    assert not any(c.name == "ha" for c in _plan(estate, "failover", planned=True).checks)


def test_unlicensed_dr_host_is_a_blocker(core_sim):
    """A DR host without restrict_dr = false blocks the plan (XenCenter's licence gate)."""
    estate = build_estate(core_sim)
    host = estate.dr.refs["hosts"][1]
    params = dict(estate.dr.db.get("host", host)["license_params"])
    params["restrict_dr"] = "true"
    estate.dr.db.set("host", host, license_params=params)
    blocker = next(c for c in _plan(estate).blockers if c.name == "licence")
    assert "dr-host2" in blocker.message


def test_capacity_short_is_a_blocker_and_leave_off_needs_none(core_sim):
    """VMs needing more memory than the DR pool has free block; leaving them off does not."""
    estate = build_estate(core_sim)
    for host in estate.dr.refs["hosts"]:
        metrics = estate.dr.db.get("host", host)["metrics"]
        estate.dr.db.set("host_metrics", metrics, memory_free=1024**3)
    assert any(c.name == "capacity" for c in _plan(estate).blockers)
    assert not any(c.name == "capacity" for c in _plan(estate, power_after="leave-off").checks)


def test_networks_match_by_name_then_bridge_then_map(core_sim):
    """Networks land by name, else bridge; an unmatched one is a warning unless mapped."""
    estate = build_estate(core_sim)
    db = estate.dr.db
    net0, net1 = estate.dr.refs["networks"]
    db.set("network", net0, name_label="DR management")  # still bridge xenbr0
    db.set("network", net1, name_label="DR LAN", bridge="xenbr9")  # neither name nor bridge
    p = _plan(estate)
    by_source = {nm.source_name: nm for nm in p.network_map}
    eth0 = by_source["Pool-wide network associated with eth0"]
    eth1 = by_source["Pool-wide network associated with eth1"]
    assert (eth0.matched_by, eth0.dest_name) == ("bridge", "DR management")
    assert eth1.matched_by == "none"
    assert ("network-missing", eth1.source_name) in _names(p.checks, "warning")
    mapped = _plan(estate, network_map={eth1.source_name: "DR LAN"})
    m1 = next(nm for nm in mapped.network_map if nm.source_name == eth1.source_name)
    assert (m1.matched_by, m1.dest_name) == ("map", "DR LAN")


def test_vm_created_inside_the_lag_is_flagged(core_sim):
    """A VM installed after the mirror's consistent point is not in the replicated metadata."""
    estate = build_estate(core_sim, lag=600)
    db = estate.prod.db
    metrics = db.get("VM", estate.vm("vm-00005"))["metrics"]
    db.set("VM_metrics", metrics, install_time=datetime.now(UTC) - timedelta(seconds=30))
    p = _plan(estate)
    assert ("inside-lag", "vm-00005") in _names(p.checks, "warning")
    planned = _plan(estate, "failover", planned=True)
    assert ("inside-lag", "vm-00005") in _names(planned.checks, "ok")


def test_vm_created_in_the_same_second_as_the_mirror_point_is_flagged(core_sim):
    """XAPI keeps install_time in whole seconds: a VM made 0.3 s after the mirror's point (its
    install_time reads the whole second before) is still flagged as inside the lag."""
    estate = build_estate(core_sim, lag=600)
    cut = datetime(2026, 3, 4, 12, 0, 0, 400000, tzinfo=UTC)
    luns = [lun.model_copy(update={"last_replicated_at": cut}) for lun in estate.luns]
    db = estate.prod.db
    metrics = db.get("VM", estate.vm("vm-00005"))["metrics"]
    db.set("VM_metrics", metrics, install_time=datetime(2026, 3, 4, 12, 0, 0, tzinfo=UTC))
    old = db.get("VM", estate.vm("vm-00004"))["metrics"]
    db.set("VM_metrics", old, install_time=datetime(2026, 3, 4, 11, 59, 59, tzinfo=UTC))
    p = _plan(estate, luns=luns)
    flagged = {c.subject for c in p.checks if c.name == "inside-lag"}
    assert "vm-00005" in flagged
    assert "vm-00004" not in flagged  # made the second before the mirror's point


def test_no_replicated_metadata_is_a_blocker(core_sim):
    """A pool that writes no metadata VDI cannot be recovered: blocker with the fix."""
    estate = build_estate(core_sim)
    db = estate.prod.db
    for ref in db.where("VDI", type="metadata"):
        db.delete("VDI", ref)
    blocker = next(c for c in _plan(estate).blockers if c.name == "metadata")
    assert "enable" in blocker.message


def test_lun_states_and_lag(core_sim):
    """A failed LUN blocks; a lag above the limit warns; failback needs promoted LUNs."""
    estate = build_estate(core_sim, lag=900)
    p = _plan(estate, max_lag_seconds=300)
    assert any(c.name == "rpo" for c in p.warnings)
    failed = [estate.luns[0].model_copy(update={"state": "failed"})]
    assert any(c.name == "lun-state" for c in _plan(estate, luns=failed).blockers)
    assert any(c.name == "luns" for c in _plan(estate, luns=[]).blockers)


def test_existing_copies_at_the_destination_follow_the_version_rule(core_sim):
    """Same uuid at the destination: newer-or-equal or running blocks, older halted is replaced."""
    estate = build_estate(core_sim)
    prod_db, dr_db = estate.prod.db, estate.dr.db

    def copy_to_dr(name, version, power):
        rec = prod_db.get("VM", estate.vm(name))
        prod_db.set("VM", estate.vm(name), version=3)
        return dr_db.create(
            "VM",
            {"uuid": rec["uuid"], "name_label": name, "version": version, "power_state": power},
        )

    copy_to_dr("vm-00003", 3, "Halted")
    copy_to_dr("vm-00004", 1, "Halted")
    copy_to_dr("vm-00005", 1, "Running")
    p = _plan(estate)
    by_name = {v.name: v for v in p.vms}
    assert by_name["vm-00003"].existing_in_dest == "newer-or-equal"
    assert ("existing-newer", "vm-00003") in _names(p.checks, "blocker")
    assert by_name["vm-00004"].existing_in_dest == "older"
    assert ("existing-replaced", "vm-00004") in _names(p.checks, "warning")
    assert ("existing-running", "vm-00005") in _names(p.checks, "blocker")


def test_name_conflicts_and_started_test_copies_are_warned(core_sim):
    """A different VM with the same name at DR, and a test that starts copies, each warn."""
    estate = build_estate(core_sim)
    estate.dr.db.set("VM", estate.dr.refs["vms"][0], name_label="vm-00003")
    p = _plan(estate, power_after="start")
    warned = _names(p.checks, "warning")
    assert ("name-conflict", "vm-00003") in warned
    assert ("test-duplicate", "vm-00003") in warned
    assert not any(c.name == "test-duplicate" for c in _plan(estate).checks)


def test_rto_model_counts_the_latency_seen(core_sim):
    """The modelled RTO names the per-call latency it measured on the destination."""
    estate = build_estate(core_sim)
    p = _plan(estate)
    assert "ms per XAPI call" in p.rto_basis
    assert estate.dr_inv.client.latency is not None


def test_sr_already_known_at_the_destination_is_reported(core_sim):
    """A mirror SR the DR pool already knows (§7.7) is a warning saying what the run does."""
    estate = build_estate(core_sim)
    uuid = estate.luns[0].sr_uuid
    sr = estate.dr.db.create("SR", {"uuid": uuid, "name_label": "old", "type": "lvmoiscsi"})
    estate.dr.db.create("PBD", {"SR": sr, "host": estate.dr.refs["hosts"][0]})
    check = next(c for c in _plan(estate).checks if c.name == "sr-known")
    assert check.status == "warning"
    assert "detached" in check.message
