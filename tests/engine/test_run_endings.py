"""What a run says at its end, and which steps it journals, against sim/xapi on loopback."""

from __future__ import annotations

import pytest

from engine import run_messages
from engine.kinds.result import ending
from engine.messages import listed
from store import VMOutcome, VMStatus
from tests.engine.runs_support import make_harness


@pytest.fixture
def h(sim, tmp_path):
    harness = make_harness(sim("demo"), tmp_path)
    yield harness
    harness.store.close()


def _end_line(h, run_id):
    return h.store.runs.history(run_id)[-1].reason


def test_a_vm_not_in_the_metadata_gets_no_start_step_and_is_named_as_a_vm(h):
    """pay-app-04 (made inside the replication lag) is not started, and the end says so once."""
    h.plan("failover", "all")  # the bot knew the primary before it was lost
    h.world.control("POST", "/sites/primary/fail")
    plan = h.plan("failover", "all", source_up=False)
    run = h.run(plan)
    (late,) = [vm for vm in plan.vms if vm.name == "pay-app-04"]
    keys = {s.key for s in h.store.steps.for_run(run.id)}
    assert f"start:vm:{late.uuid}" not in keys
    assert not [s for s in h.store.steps.for_run(run.id) if s.error]
    end = _end_line(h, run.id)
    assert "first VM pay-app-04 was not recovered (NOT_IN_METADATA: " in end, end
    assert "vApp pay-app-04" not in end
    assert end.count("once replication has caught up") == 1, end


def test_a_failover_s_end_line_says_the_cause_whole_and_each_advice_once(h):
    """A blind failover's end line quotes the first failed VM's cause whole, with no '…'."""
    h.world.control("POST", "/sites/primary/fail")
    plan = h.plan("failover", "all", source_up=False)
    run = h.run(plan)
    end = _end_line(h, run.id)
    (first,) = [o for o in run.outcome.vms.values() if f"first VM {o.name} " in end]
    assert first.status == "not-protected"
    assert f"({first.error})" in end, end
    assert "\u2026" not in end
    assert end.count("readiness lists every such VM") == 1, end


def test_a_failed_vapp_recovery_names_the_vapp_and_the_vm():
    """When a vApp's recovery failed, the end line names the vApp as a vApp and the VM as a VM."""
    outcomes = {
        "u1": VMOutcome(
            name="pay-db-01",
            appliance="payments",
            status=VMStatus.RECOVER_FAILED,
            error="SR_BACKEND_FAILURE",
            step=run_messages.RECOVER_APP,
            code="SR_BACKEND_FAILURE",
        ),
        "u2": VMOutcome(name="web-01", status=VMStatus.STARTED),
    }
    end = ending(outcomes, "start", rto=None, run_id=7, pool="dr")
    assert "first recover vApp payments failed for its VM pay-db-01 (SR_BACKEND_FAILURE: " in end
    assert end.count("Next:") == 1


def test_only_lists_are_shortened():
    """A list of more names than the limit keeps the first ones and says how many more."""
    names = [f"vm-{i:02}" for i in range(12)]
    assert listed(names, 8) == ", ".join(names[:8]) + " and 4 more"
    assert listed(names[:3], 8) == "vm-00, vm-01, vm-02"
