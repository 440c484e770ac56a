"""An interrupted or paused run keeps its pools until it is resumed to an end or aborted; a run
whose process died is taken over by resume or abort at once when that process is provably gone
(this host, its pid no longer exists), otherwise once its lease expires, and every refusal
says which, for how long and what to type, without resume and abort pointing at each other."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from engine.clock import ManualClock
from engine.errors import RunConflict, RunStateError
from engine.runner import Runner
from tests.engine.dropping_proxy import DroppingProxy
from tests.engine.runs_support import make_harness
from tests.engine.test_runner_crash import kill_mid_run


@pytest.fixture
def killed(sim, tmp_path):
    """A failover whose process was killed (kill -9 alike) after its second recovery: yields
    the harness, the plan and the run left `running` with a live lease."""
    world = sim("demo")
    h = make_harness(world, tmp_path)
    h.plan("failover", "all")
    world.control("POST", "/sites/primary/fail")
    plan = h.plan("failover", "all", source_up=False)
    kill_mid_run(world, tmp_path, plan, "step-finished", "recover:", 2)
    (run,) = h.store.runs.list()
    assert run.state == "running"
    lease = h.store.runs.lease(plan.dest_pool)
    assert lease is not None
    assert lease.run_id == run.id
    assert lease.until > datetime.now(UTC)  # not expired: only the dead pid tells
    yield h, plan, run
    h.store.close()


def test_a_run_interrupted_by_lost_contact_keeps_its_pool_until_aborted(sim, tmp_path):
    """A test failover interrupted because the DR pool stopped answering keeps the pool: a
    second run is refused naming the run and both ways out (CLI and chat), typed so a queue
    stops waiting; after `abort` the second run starts."""
    world = sim("demo")
    dr = world.config.pairs[0].dr
    proxy = DroppingProxy(world.config.pool(dr).urls[0])
    h = make_harness(world, tmp_path, urls={dr: [proxy.url]})
    try:
        plan = h.plan("test-failover", "payments", disable_ha=True)

        def cut(ev):
            if ev.type == "step-finished" and (ev.step_key or "").startswith("recover:"):
                proxy.dropping.set()

        unsubscribe = h.runner.subscribe(cut)
        run = h.run(plan)
        unsubscribe()
        assert run.state == "interrupted", run.error
        proxy.dropping.clear()
        second = h.plan("test-failover", "web-shop", disable_ha=True)
        with pytest.raises(RunConflict) as refused:
            h.runner.start(second, requested_by="U2")
        text = str(refused.value)
        assert f"run {run.id}" in text
        assert "interrupted" in text
        for way in (f"drbot resume {run.id}", f"drbot abort {run.id}", f"/dr resume {run.id}"):
            assert way in text
        assert refused.value.waits_for_person
        assert refused.value.run_id == run.id
        h.runner.abort(run.id)
        assert h.runner.wait(run.id, 60).state == "aborted"
        started = h.runner.start(h.plan("test-failover", "web-shop", disable_ha=True), "U2")
        assert h.runner.wait(started, 60).state == "succeeded"
    finally:
        h.store.close()
        proxy.close()


def test_a_second_run_is_refused_while_a_killed_run_holds_the_pool(killed):
    """While the killed run's lease has not expired, a new run on its pool is refused saying
    its process is gone and to resume or abort it (waits for a person, not for time)."""
    h, plan, run = killed
    with pytest.raises(RunConflict) as refused:
        h.runner.start(plan, requested_by="U2")
    assert refused.value.waits_for_person
    assert "is gone" in str(refused.value)
    assert f"drbot resume {run.id}" in str(refused.value)


def test_resume_takes_over_a_killed_run_at_once_and_recovers_each_vm_once(killed):
    """The killed process ran on this host and its pid is gone: resume takes the run over at
    once (no waiting for the lease), says so in the run's history, and finishes it."""
    h, _plan, run = killed
    h.runner.resume(run.id)
    done = h.runner.wait(run.id, 60)
    assert done.state == "partially-succeeded", done.error  # pay-app-04 never replicated
    reasons = [t.reason or "" for t in h.store.runs.history(run.id)]
    assert any("no longer exists" in r for r in reasons), reasons
    assert set(h.recover_counts().values()) == {1}


def test_abort_takes_over_a_killed_run_at_once(killed):
    """abort of the killed run takes it over at once too and removes what it recovered."""
    h, plan, run = killed
    h.runner.abort(run.id)
    done = h.runner.wait(run.id, 60)
    assert done.state == "aborted", done.error
    assert not {vm.uuid for vm in plan.vms} & set(h.vms(plan.dest_pool))


def test_a_holder_on_another_host_is_outlived_and_the_refusals_never_loop(killed):
    """A run driven from another host cannot be proved dead: resume and abort are refused with
    who drives it and in how many seconds its lease expires, each naming itself (never the
    other); once the lease has expired, resume takes it over."""
    h, plan, run = killed
    lease = h.store.runs.lease(plan.dest_pool)
    assert lease is not None
    # The run's lease as a process on another machine sharing the store would hold it.
    h.store.runs.acquire_lease(plan.dest_pool, run.id, "dr-bot-2:4242:feedf00d", lease.until)
    clock = ManualClock(datetime.now(UTC))
    other = Runner(h.store, h.client, h.world.storage(), clock)
    with pytest.raises(RunStateError) as resume:
        other.resume(run.id)
    with pytest.raises(RunStateError) as abort:
        other.abort(run.id)
    for refusal, action, not_action in ((resume, "resume", "abort"), (abort, "abort", "resume")):
        text = str(refusal.value)
        assert "process 4242 on host 'dr-bot-2'" in text
        assert f"\u27e6{action} {run.id}\u27e7" in text  # a command span (commands/hints.py)
        assert f"\u27e6{not_action}" not in text
        assert " s)" in text  # how long until the lease expires
    assert h.store.runs.get(run.id).state == "running"
    clock.advance((lease.until - clock.now()).total_seconds() + 1)
    other.resume(run.id)
    done = other.wait(run.id, 60)
    assert done.state == "partially-succeeded", done.error
    reasons = [t.reason or "" for t in h.store.runs.history(run.id)]
    assert any("lease expired" in r for r in reasons), reasons
