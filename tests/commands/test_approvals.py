"""Every approval rule through `Service.dispatch`, against the demo simulator and a real store.

Expectations come from the brief: quorum 2 for failover and failback and 1 for a test failover
by default, approvers distinct and never the requester, expiry after 30 minutes, rejection with
a reason, one run whatever the number of clicks or processes, and a plan that changed between
approval and run voids the approval and opens a new one.
"""

from __future__ import annotations

import threading
from datetime import timedelta

from commands.events import ApprovalEvent
from commands.requests import (
    AbortRequest,
    ApproveRequest,
    FailoverRequest,
    RejectRequest,
    ResumeRequest,
    TestFailoverRequest,
)
from commands.results import (
    ApprovalOpened,
    ApprovalUpdated,
    ReasonNeeded,
    Refused,
    RunStarted,
    RunUpdated,
)
from engine.clock import ManualClock
from tests.commands.conftest import ALEX, OLIVIA, PRIYA, SAM, VICTOR

SHOP = TestFailoverRequest(target="web-shop", disable_ha=True)
FAILOVER = FailoverRequest(target="web-shop", planned=True, reason="DC1 power work")
RUN_TIMEOUT = 120.0


def _open(svc, request=SHOP, who=OLIVIA) -> ApprovalOpened:
    opened = svc.dispatch(request, who)
    assert isinstance(opened, ApprovalOpened), opened
    return opened


def _approve(svc, approval_id, who):
    return svc.dispatch(ApproveRequest(approval_id=approval_id), who)


def _finish(svc, result) -> str:
    """Wait for the run a result started; its final state."""
    return svc.wait(result.run.id, timeout=RUN_TIMEOUT).state


def test_a_failover_needs_two_distinct_approvers_then_runs(service):
    """Failover: the first approval is counted (1 missing), the second starts the run."""
    svc = service()
    opened = _open(svc, FAILOVER)
    assert opened.approval.quorum == 2
    assert opened.approval.plan_hash == opened.plan.hash
    first = _approve(svc, opened.approval.id, ALEX)
    assert isinstance(first, ApprovalUpdated)
    assert first.approval.missing == 1
    second = _approve(svc, opened.approval.id, PRIYA)
    assert isinstance(second, RunStarted), second
    assert second.approval is not None
    assert second.approval.state == "started"
    assert second.approval.run_id == second.run.id
    assert [v.actor.id for v in second.approval.votes] == ["U0ALEX", "U0PRIYA"]
    assert second.run.requested_by == "slack:U0OLIVIA"
    assert _finish(svc, second) == "succeeded"


def test_the_requester_cannot_approve_their_own_request(service):
    """Sam (an approver) asks for a failover and approves it: refused, nothing counted."""
    svc = service()
    opened = _open(svc, FAILOVER, SAM)
    refused = _approve(svc, opened.approval.id, SAM)
    assert isinstance(refused, Refused)
    assert refused.code == "self-approval"
    assert svc.approval(opened.approval.id).votes == []


def test_only_approvers_may_approve(service):
    """An operator and a viewer clicking Approve are refused; the approval stays pending."""
    svc = service()
    opened = _open(svc)
    for who in (OLIVIA, VICTOR):
        refused = _approve(svc, opened.approval.id, who)
        assert isinstance(refused, Refused)
        assert refused.code == "not-allowed"
    assert svc.approval(opened.approval.id).state == "pending"


def test_a_double_click_counts_once(service):
    """Alex approving a failover twice: the second is refused as already voted, one vote kept."""
    svc = service()
    opened = _open(svc, FAILOVER)
    assert isinstance(_approve(svc, opened.approval.id, ALEX), ApprovalUpdated)
    again = _approve(svc, opened.approval.id, ALEX)
    assert isinstance(again, Refused)
    assert again.code == "already-voted"
    assert len(svc.approval(opened.approval.id).votes) == 1


def test_a_click_after_the_run_started_is_refused(service):
    """Once the quorum started the run, another approver's click is refused: not pending."""
    svc = service()
    opened = _open(svc)
    started = _approve(svc, opened.approval.id, ALEX)
    assert isinstance(started, RunStarted)
    late = _approve(svc, opened.approval.id, PRIYA)
    assert isinstance(late, Refused)
    assert late.code == "not-pending"
    assert _finish(svc, started) == "succeeded"
    assert len(svc.wiring.store.runs.list()) == 1


def test_an_approval_expires_after_thirty_minutes(service):
    """At 29 minutes a vote counts; past 30 the click is refused as expired and stays so."""
    clock = ManualClock()
    svc = service(clock=clock)
    opened = _open(svc, FAILOVER)
    assert opened.approval.expires_at == opened.approval.created_at + timedelta(minutes=30)
    clock.advance(29 * 60)
    assert isinstance(_approve(svc, opened.approval.id, ALEX), ApprovalUpdated)
    clock.advance(61)
    late = _approve(svc, opened.approval.id, PRIYA)
    assert isinstance(late, Refused)
    assert late.code == "expired"
    assert svc.approval(opened.approval.id).state == "expired"
    assert svc.wiring.store.runs.list() == []


def test_the_expiry_sweep_expires_due_approvals_and_tells_listeners(service):
    """expire_approvals() expires only approvals past their time and publishes each."""
    clock = ManualClock()
    svc = service(clock=clock, config=None)
    events: list[ApprovalEvent] = []
    svc.subscribe(lambda e: events.append(e) if isinstance(e, ApprovalEvent) else None)
    old = _open(svc, FAILOVER)
    clock.advance(20 * 60)
    new = _open(svc, FAILOVER)
    clock.advance(11 * 60)
    expired = svc.expire_approvals()
    assert [a.id for a in expired] == [old.approval.id]
    assert svc.approval(new.approval.id).state == "pending"
    assert ("expired", old.approval.id) in [(e.change, e.approval.id) for e in events]
    assert svc.expire_approvals() == []


def test_a_rejection_needs_a_reason_and_ends_the_approval(service):
    """Reject without a reason asks for one; with one it ends the approval; later clicks fail."""
    svc = service()
    opened = _open(svc, FAILOVER)
    asked = svc.dispatch(RejectRequest(approval_id=opened.approval.id), ALEX)
    assert isinstance(asked, ReasonNeeded)
    rejected = svc.dispatch(
        RejectRequest(approval_id=opened.approval.id, reason="not during payroll"), ALEX
    )
    assert isinstance(rejected, ApprovalUpdated)
    assert rejected.approval.state == "rejected"
    assert rejected.approval.rejection == "not during payroll"
    assert rejected.approval.decided_by is not None
    assert rejected.approval.decided_by.id == "U0ALEX"
    late = _approve(svc, opened.approval.id, PRIYA)
    assert isinstance(late, Refused)
    assert late.code == "not-pending"


def test_a_plan_changed_between_approval_and_run_is_superseded_and_reopened(service, world):
    """A vApp's start order changed at the source: the approval is void, a new one opens."""
    svc = service()
    opened = _open(svc)
    prod = world.client("prod")
    ref = next(r for r, v in prod.get_all_records("VM").items() if v["name_label"] == "shop-web-01")
    prod.call("VM.set_order", ref, "7")
    reopened = _approve(svc, opened.approval.id, ALEX)
    assert isinstance(reopened, ApprovalOpened), reopened
    assert reopened.approval.supersedes == opened.approval.id
    assert reopened.approval.plan_hash != opened.approval.plan_hash
    assert reopened.approval.votes == []
    old = svc.approval(opened.approval.id)
    assert old.state == "superseded"
    assert old.superseded_by == reopened.approval.id
    assert svc.wiring.store.runs.list() == []
    started = _approve(svc, reopened.approval.id, ALEX)
    assert isinstance(started, RunStarted)
    assert started.plan.hash == reopened.approval.plan_hash
    assert _finish(svc, started) == "succeeded"


def test_many_clicks_in_two_services_on_one_store_start_one_run(service, tmp_path):
    """Twelve approvals at once, from three approvers through two services: exactly one run."""
    store = tmp_path / "shared.db"
    first, second = service(store=store), service(store=store)
    opened = _open(first)
    barrier = threading.Barrier(12)
    results = []
    lock = threading.Lock()

    def click(svc, who):
        barrier.wait()
        result = _approve(svc, opened.approval.id, who)
        with lock:
            results.append((svc, result))

    threads = [
        threading.Thread(target=click, args=((first, second)[i % 2], (ALEX, PRIYA, SAM)[i % 3]))
        for i in range(12)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join(RUN_TIMEOUT)
    started = [(svc, r) for svc, r in results if isinstance(r, RunStarted)]
    assert len(results) == 12
    assert len(started) == 1
    assert all(isinstance(r, Refused) for _, r in results if not isinstance(r, RunStarted))
    assert len(first.wiring.store.runs.list()) == 1
    svc, run = started[0]
    assert _finish(svc, run) == "succeeded"


def test_resume_of_an_interrupted_failover_from_chat_needs_a_second_person(service):
    """An interrupted failover found at start is resumed only after another approver agrees."""
    svc = service()
    wiring = svc.wiring
    plan = wiring.plan("failover", "web-shop", None, planned=True)
    run_id = wiring.store.runs.create(
        plan.kind, plan.target, plan.dest_pool, plan.hash, plan.model_dump_json(), "slack:U0X"
    )
    wiring.store.runs.transition(run_id, "running", "started")
    (found,) = svc.interrupted_at_start()
    assert (found.id, found.state) == (run_id, "interrupted")
    asked = svc.dispatch(ResumeRequest(run_id=run_id), ALEX)
    assert isinstance(asked, ApprovalOpened), asked
    assert asked.approval.action == "resume"
    assert asked.approval.run_id == run_id
    assert asked.approval.quorum == 1
    assert wiring.store.runs.get(run_id).state == "interrupted"
    assert isinstance(_approve(svc, asked.approval.id, ALEX), Refused)
    resumed = _approve(svc, asked.approval.id, PRIYA)
    assert isinstance(resumed, RunUpdated), resumed
    assert resumed.action == "resumed"
    assert svc.approval(asked.approval.id).state == "started"
    assert svc.wait(run_id, timeout=RUN_TIMEOUT).state == "succeeded"


def test_abort_of_a_running_run_from_chat_is_refused_with_cancel_first(service):
    """Abort of a live run from chat says to cancel it first (abort would wait for it)."""
    svc = service(config=None)
    opened = _open(svc)
    started = _approve(svc, opened.approval.id, ALEX)
    assert isinstance(started, RunStarted)
    refused = svc.dispatch(AbortRequest(run_id=started.run.id), OLIVIA)
    if isinstance(refused, Refused):  # the run may already have ended: then abort is allowed
        assert refused.code == "run-state"
        assert "cancel" in refused.hint
    _finish(svc, started)
