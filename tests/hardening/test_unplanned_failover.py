"""An unplanned failover with the primary site unreachable and never seen by this drbot: the
plan is blind (no VMs, no network map), so the run learns both from the attached metadata.
What the demo showed: a VM on a network the DR pool lacks failed `INVALID_VALUE bridge xapi3`,
and VMs on storage that is not replicated failed with a raw `VM_REQUIRES_SR`."""

from __future__ import annotations

import pytest

from store import VMStatus
from tests.engine.runs_support import make_harness


@pytest.fixture
def blind(sim, tmp_path):
    """The demo with its primary site lost before drbot ever read it; yields (harness, run)."""
    h = make_harness(sim("demo"), tmp_path)
    h.world.control("POST", "/sites/primary/fail")
    plan = h.plan("failover", "all", source_up=False)
    assert plan.vms == []  # blind: nothing known of the source
    assert plan.network_map == []
    run = h.run(plan)
    yield h, run
    h.store.close()


def _outcomes(run):
    return {o.name: o for o in run.outcome.vms.values()}


def test_a_vm_on_a_network_missing_at_dr_is_recovered_and_started(blind):
    """backup-proxy, on 'Backup VLAN 300' which the DR pool lacks, is recovered and started:
    the run makes the network once, before any recovery."""
    h, run = blind
    proxy = _outcomes(run)["backup-proxy"]
    assert proxy.status is VMStatus.STARTED, proxy.error
    dr = h.client(h.pair.dr)
    nets = dr.call("network.get_by_name_label", "Backup VLAN 300")
    assert len(nets) == 1
    steps = [s for s in h.store.steps.for_run(run.id) if s.key == "network:Backup VLAN 300"]
    assert len(steps) == 1
    assert steps[0].result.get("created") is True
    first_recover = min(
        s.started_at for s in h.store.steps.for_run(run.id) if s.key.startswith("recover:")
    )
    assert steps[0].finished_at <= first_recover


def test_vms_on_storage_that_is_not_replicated_are_reported_not_protected(blind):
    """build-cache (a disk on an SR that is not replicated) and report-01 (local storage) end
    `not-protected` naming the SR, and XAPI is never asked to recover them."""
    h, run = blind
    outcomes = _outcomes(run)
    for name in ("build-cache", "report-01"):
        assert outcomes[name].status is VMStatus.NOT_PROTECTED, (name, outcomes[name])
        assert "VM_REQUIRES_SR" not in (outcomes[name].error or "")
        assert "not replicated" in (outcomes[name].error or "") or "local" in (
            outcomes[name].error or ""
        )
    uuids = {u for u, o in run.outcome.vms.items() if o.name in ("build-cache", "report-01")}
    keys = {s.key for s in h.store.steps.for_run(run.id)}
    assert "recover:vm:" + next(iter(uuids)) not in keys
    assert not keys & {f"recover:vm:{u}" for u in uuids}
    assert run.state == "partially-succeeded"  # two VMs did not come back: a person must know


def test_every_protected_vm_of_the_blind_failover_starts(blind):
    """Besides the two VMs that are not protected, every VM the metadata holds starts."""
    _h, run = blind
    others = {
        n: o.status for n, o in _outcomes(run).items() if n not in ("build-cache", "report-01")
    }
    assert set(others.values()) == {VMStatus.STARTED}, others


def test_a_blind_failover_reads_the_newest_of_two_metadata_copies(sim, tmp_path):
    """The pool's metadata is on two LUNs, one mirrored at once and one 15 minutes behind;
    pay-web-01 left vApp payments just before the primary was lost. Of the two copies at the
    DR site (xapi marks neither metadata_latest after an attach without a scan-on-plug), the
    run reads the one whose database changed last: pay-web-01 comes back on its own."""
    from tests.hardening.test_drill_leftovers import DEMO

    fast = '{ name = "Gold iSCSI 02", type = "lvmoiscsi", kind = "replicated", replicate_to = "dr"'
    text = DEMO.read_text(encoding="utf-8")
    path = tmp_path / "two-lags.toml"
    path.write_text(text.replace(fast, fast + ", lag_seconds = 0"), encoding="utf-8")
    h = make_harness(sim(str(path)), tmp_path)
    try:
        prod = h.client(h.pair.protected)
        vm = prod.call("VM.get_by_name_label", "pay-web-01")[0]
        prod.call("VM.set_appliance", vm, "OpaqueRef:NULL")
        h.world.control("POST", "/sites/primary/fail")
        run = h.run(h.plan("failover", "all", source_up=False))
        web = _outcomes(run)["pay-web-01"]
        assert web.appliance is None, web
        assert web.status is VMStatus.STARTED, web
        assert _outcomes(run)["pay-web-02"].appliance == "payments"
    finally:
        h.store.close()
