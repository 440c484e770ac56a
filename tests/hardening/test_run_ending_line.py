"""A run that did not fully succeed ends with one line that names the cause (the step, the VM,
XAPI's error code) and what to do next, not only "failed: RTO 26 s"."""

from __future__ import annotations

import pytest

from tests.engine.runs_support import make_harness


@pytest.fixture
def harness(sim, tmp_path):
    made = []

    def make(**runner_kw):
        h = make_harness(sim("demo"), tmp_path, **runner_kw)
        made.append(h)
        return h

    yield make
    for h in made:
        h.store.close()


def _ending(h, run):
    """The run's last line, as `drbot run` and `drbot runs show` print it."""
    line = h.store.runs.history(run.id)[-1].reason or ""
    assert "\n" not in line
    return line


def test_a_start_that_times_out_is_named_with_its_vm_and_what_to_do(harness):
    """A VM start whose XAPI task never ends: the line names the start step, that VM, the
    TIMEOUT, the pool to look at, and to plan again, besides the RTO."""
    h = harness(task_timeout=1.0)
    plan = h.plan("test-failover", "web-shop", disable_ha=True)
    h.world.control("POST", "/faults", {"kind": "task_stall", "method": "VM.start"})

    def release(ev):
        if ev.type == "step-failed":
            h.world.control("DELETE", "/faults")

    h.runner.subscribe(release)
    run = h.run(plan)
    (stuck,) = [o.name for o in run.outcome.vms.values() if o.status == "start-failed"]
    line = _ending(h, run)
    assert run.state == "partially-succeeded", line
    assert f"start VM {stuck}" in line
    assert "TIMEOUT" in line
    assert "xe task-list" in line
    assert f"pool {plan.dest_pool!r}" in line
    assert "RTO" in line
    assert f"drbot runs show {run.id}" in line


def test_an_xapi_refusal_is_named_with_its_code_and_what_to_do(harness):
    """A start XAPI refuses for lack of memory: the line names the step, the VM, the code
    HOST_NOT_ENOUGH_FREE_MEMORY and what frees the pool; a run where no VM came back says so
    in its error too (not only its RTO)."""
    h = harness()
    plan = h.plan("test-failover", "dns-01", disable_ha=True)
    h.world.control(
        "POST",
        "/faults",
        {"kind": "vm_start", "vm": "dns-01", "error": ["HOST_NOT_ENOUGH_FREE_MEMORY", "1", "0"]},
    )
    run = h.run(plan)
    line = _ending(h, run)
    assert run.state == "failed", line
    assert "start VM dns-01" in line
    assert "HOST_NOT_ENOUGH_FREE_MEMORY" in line
    assert "free memory" in line
    assert run.error == line
    assert not line.startswith("RTO")
