"""The process is killed in the middle of a failover; the run is resumed; nothing is done twice."""

from __future__ import annotations

import json
import subprocess
import sys
from collections import Counter
from datetime import timedelta
from pathlib import Path

import pytest

from tests.engine.crash_child import CRASH_CODE
from tests.engine.runs_support import make_harness

ROOT = Path(__file__).resolve().parents[2]


def kill_mid_run(world, tmp_path: Path, plan, event: str, prefix: str, n: int) -> None:
    """Run `plan` in a child process that dies at the n-th journal `event` of a step whose key
    starts with `prefix` (tests/engine/crash_child.py), and check that it did die there."""
    (tmp_path / "endpoints.json").write_text(json.dumps(world.handle.endpoints))
    (tmp_path / "plan.json").write_text(plan.model_dump_json())
    child = subprocess.run(
        [
            sys.executable,
            "-m",
            "tests.engine.crash_child",
            str(tmp_path / "endpoints.json"),
            str(tmp_path / "drbot.db"),
            str(tmp_path / "plan.json"),
            event,
            prefix,
            str(n),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=90,
        check=False,
    )
    assert child.returncode == CRASH_CODE, child.stderr[-3000:]


@pytest.mark.parametrize(
    ("event", "prefix", "n"),
    [
        ("step-finished", "recover:", 2),  # other recoveries in flight, their tasks journaled
        ("step-started", "recover:", 3),  # journaled as begun, the call not made yet
        ("step-finished", "start:", 5),  # recovery done, starts in flight
    ],
)
def test_killed_failover_resumes_and_recovers_each_vm_exactly_once(sim, tmp_path, event, prefix, n):
    """After a crash and a resume, the call log shows each vApp/VM recovered exactly once."""
    world = sim("demo")
    h = make_harness(world, tmp_path)
    h.plan("failover", "all")
    world.control("POST", "/sites/primary/fail")
    plan = h.plan("failover", "all", source_up=False)
    assert not plan.blockers
    kill_mid_run(world, tmp_path, plan, event, prefix, n)
    (run,) = h.store.runs.list()
    assert run.state == "running"

    # The bot starts again after the dead process's lease ran out.
    later = h.runner.clock.now() + timedelta(seconds=31)
    (reaped,) = h.store.runs.interrupted_at_boot(later)
    assert reaped.state == "interrupted"
    assert reaped.last_step
    h.runner.resume(run.id)
    done = h.runner.wait(run.id, timeout=60)

    assert done.state == "partially-succeeded", done.error  # pay-app-04 is not replicated
    counts = h.recover_counts()
    assert set(counts.values()) == {1}
    assert len(counts) == len(plan.appliances) + len(plan.standalone_vms)
    starts = Counter(
        c["args"][0]
        for c in world.calls()
        if c["method"] in ("Async.VM.start", "Async.VM.start_on") and c["outcome"] == "Success"
    )
    assert set(starts.values()) == {1}
    outcomes = done.outcome.statuses()
    assert {s for name, s in outcomes.items() if name != "pay-app-04"} == {"started"}


def test_killed_test_failover_is_aborted_and_nothing_is_left(sim, tmp_path):
    """A test failover killed mid-start and then aborted removes all it made and restores HA."""
    world = sim("demo")
    h = make_harness(world, tmp_path)
    plan = h.plan("test-failover", "all", disable_ha=True)
    dr = plan.dest_pool
    before_srs = h.uuids(dr, "SR")
    kill_mid_run(world, tmp_path, plan, "step-finished", "start:", 4)
    (run,) = h.store.runs.list()
    h.store.runs.interrupted_at_boot(h.runner.clock.now() + timedelta(seconds=31))
    h.runner.abort(run.id)
    done = h.runner.wait(run.id, timeout=60)
    assert done.state == "aborted", done.error
    assert not set(h.vms(dr)) & {vm.uuid for vm in plan.vms}
    assert h.uuids(dr, "SR") == before_srs
    assert h.uuids(dr, "DR_task") == set()
    assert all(lun.test_copy_device_config is None for lun in world.storage().state())
    pool = next(iter(h.client(dr).get_all_records("pool").values()))
    assert pool["ha_enabled"] is True
