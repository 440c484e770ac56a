"""`Service.dispatch` end to end against the demo simulator and a real store: help by role,
status, plan, runs started and followed to their end, break-glass, reasons, the audit trail."""

from __future__ import annotations

import threading

from commands.events import ApprovalEvent
from commands.requests import (
    AuditRequest,
    DrillRequest,
    FailbackRequest,
    FailoverRequest,
    HelpRequest,
    PlanRequest,
    ResumeRequest,
    RunsRequest,
    ShowRequest,
    StatusRequest,
    TestFailoverRequest,
)
from commands.results import (
    ApprovalOpened,
    AuditList,
    HelpResult,
    Invalid,
    PlanResult,
    ReasonNeeded,
    Refused,
    RunsList,
    RunStarted,
    RunView,
    StatusResult,
)
from engine.events import RunEvent
from tests.commands.conftest import ALEX, CLI, NOBODY, OLIVIA, SCHEDULE, VICTOR, person, policy

RUN_TIMEOUT = 120.0
SHOP = TestFailoverRequest(target="web-shop", disable_ha=True)


def test_help_lists_only_what_the_caller_may_do(service):
    """A viewer sees read commands only; an approver also approve; nobody sees only help."""
    svc = service()
    viewer = svc.dispatch(HelpRequest(), VICTOR)
    assert isinstance(viewer, HelpResult)
    assert [c.name for c in viewer.commands] == ["help", "status", "plan", "runs", "show", "audit"]
    approver = {c.name for c in svc.dispatch(HelpRequest(), ALEX).commands}
    assert {"approve", "reject", "failover", "test-failover"} <= approver
    nobody = svc.dispatch(HelpRequest(), NOBODY)
    assert [c.name for c in nobody.commands] == ["help"]
    assert nobody.role is None
    one = svc.dispatch(HelpRequest(topic="failover"), VICTOR)
    assert [c.usage for c in one.commands] == [
        "/dr failover TARGET [--planned] [--pool POOL] [--power MODE] --reason TEXT"
    ]
    wrong = svc.dispatch(HelpRequest(topic="failovr"), VICTOR)
    assert isinstance(wrong, Invalid)
    assert wrong.suggestion == "failover"


def test_status_reports_each_pair_replication_and_active_runs(service):
    """A viewer's status names the demo pair with a verdict and reasons, and every LUN."""
    result = service().dispatch(StatusRequest(), VICTOR)
    assert isinstance(result, StatusResult)
    (pair,) = result.pairs
    assert (pair.protected, pair.dr) == ("prod", "dr")
    assert pair.verdict in ("ready", "degraded", "not-ready")
    assert pair.reasons
    assert {lun.name for lun in result.replication} >= {"Gold iSCSI 01", "Gold iSCSI 02"}
    assert result.active_runs == []


def test_plan_is_the_dry_run_with_its_blockers(service):
    """Planning a test failover with HA on at DR shows the 'ha' blocker; nothing runs."""
    svc = service()
    result = svc.dispatch(PlanRequest(kind="test-failover", target="payments"), VICTOR)
    assert isinstance(result, PlanResult)
    assert [c.name for c in result.plan.blockers] == ["ha"]
    assert len(result.plan.hash) == 64
    assert svc.wiring.store.runs.list() == []


def test_a_failback_is_planned_from_the_dr_pool_back_to_the_protected_pool(service):
    """The service swaps source and destination for a failback (the VMs run at DR then)."""
    result = service().dispatch(PlanRequest(kind="failback", target="all"), VICTOR)
    assert isinstance(result, PlanResult)
    assert (result.plan.source_pool, result.plan.dest_pool) == ("dr", "prod")


def test_a_blocked_run_is_refused_naming_its_blockers(service):
    """A test failover with HA on at the DR pool is refused as blocked, plan attached."""
    result = service().dispatch(TestFailoverRequest(target="payments"), OLIVIA)
    assert isinstance(result, Refused)
    assert result.code == "blocked"
    assert "ha" in result.reason
    assert result.plan is not None


def test_an_unknown_target_is_refused_with_the_engines_reason(service):
    """A target that names nothing is refused (code engine), never raised."""
    result = service().dispatch(TestFailoverRequest(target="no-such-app"), OLIVIA)
    assert isinstance(result, Refused)
    assert result.code == "engine"
    assert "no-such-app" in result.reason


def test_an_unknown_run_is_refused_as_not_found(service):
    """show 999 is a refusal saying how to list runs."""
    result = service().dispatch(ShowRequest(run_id=999), VICTOR)
    assert isinstance(result, Refused)
    assert result.code == "not-found"


def test_a_test_failover_with_quorum_zero_runs_in_the_engines_worker_to_its_end(service):
    """Quorum 0: the run starts at once, its VMs are recovered in another thread, it succeeds."""
    svc = service(policy(quorum={"test-failover": 0}))
    threads: set[str] = set()
    events: list[RunEvent] = []

    def listen(event):
        if isinstance(event, RunEvent):
            events.append(event)
            if event.type == "vm":
                threads.add(threading.current_thread().name)

    svc.subscribe(listen)
    result = svc.dispatch(SHOP, OLIVIA)
    assert isinstance(result, RunStarted), result
    assert result.approval is None
    assert result.run.requested_by == "slack:U0OLIVIA"
    assert svc.wait(result.run.id, timeout=RUN_TIMEOUT).state == "succeeded"
    assert threads
    assert threading.current_thread().name not in threads
    assert events[-1].state == "succeeded"
    shown = svc.dispatch(ShowRequest(run_id=result.run.id), VICTOR)
    assert isinstance(shown, RunView)
    assert shown.history[-1].to_state == "succeeded"
    assert {v.status for v in shown.vms} == {"started-paused"}
    assert any(s.key.startswith("recover:app:") for s in shown.steps)
    listed = svc.dispatch(RunsRequest(), VICTOR)
    assert isinstance(listed, RunsList)
    assert [r.id for r in listed.runs] == [result.run.id]


def test_a_chat_failover_without_a_reason_asks_for_one(service):
    """failover and failback without a reason answer ReasonNeeded; nothing is planned or run."""
    svc = service()
    for request in (FailoverRequest(target="all"), FailbackRequest(target="all")):
        result = svc.dispatch(request, OLIVIA)
        assert isinstance(result, ReasonNeeded)
        assert result.request == request
    assert svc.wiring.store.approvals.recent() == []


def test_break_glass_is_the_clis_only(service):
    """From chat --break-glass is refused; from the CLI a failover without it is refused."""
    svc = service()
    chat = svc.dispatch(FailoverRequest(target="all", reason="x", break_glass=True), OLIVIA)
    assert isinstance(chat, Refused)
    assert chat.code == "break-glass"
    cli = svc.dispatch(FailoverRequest(target="all", reason="x"), CLI)
    assert isinstance(cli, Refused)
    assert cli.code == "break-glass"
    assert "--break-glass" in cli.reason


def test_a_break_glass_failover_runs_at_once_and_is_audited(service):
    """The CLI's break-glass failover starts without approval; BreakGlass is in the trail."""
    svc = service()
    request = FailoverRequest(
        target="web-shop", planned=True, reason="Slack is down", break_glass=True
    )
    result = svc.dispatch(request, CLI)
    assert isinstance(result, RunStarted), result
    assert svc.wait(result.run.id, timeout=RUN_TIMEOUT).state == "succeeded"
    entries = svc.wiring.store.audit.entries()
    (glass,) = [e for e in entries if e["event_type"] == "BreakGlass"]
    assert glass["actor"] == "cli:root"
    assert glass["payload"]["reason"] == "Slack is down"
    assert glass["payload"]["plan_hash"] == result.plan.hash


def test_a_failover_outside_the_dr_channels_is_refused_and_audited(service):
    """Olivia's failover typed in another channel is refused; the refusal is in the trail."""
    svc = service()
    elsewhere = person("U0OLIVIA", "olivia", channel="C0RANDOM")
    result = svc.dispatch(FailoverRequest(target="all", reason="x"), elsewhere)
    assert isinstance(result, Refused)
    assert result.code == "wrong-channel"
    (entry,) = [e for e in svc.wiring.store.audit.entries() if e["event_type"] == "Refused"]
    assert entry["payload"]["code"] == "wrong-channel"
    assert entry["payload"]["channel"] == "C0RANDOM"
    assert entry["actor"] == "slack:U0OLIVIA"


def test_the_scheduled_drill_runs_without_approval_and_chat_drill_needs_one(service):
    """drill from the schedule starts the configured test failover; from chat it waits."""
    svc = service(policy(drill={"target": "web-shop", "disable_ha": True}))
    chat = svc.dispatch(DrillRequest(), OLIVIA)
    assert isinstance(chat, ApprovalOpened)
    assert chat.plan.kind == "test-failover"
    assert chat.plan.target == "web-shop"
    scheduled = svc.dispatch(DrillRequest(), SCHEDULE)
    assert isinstance(scheduled, RunStarted), scheduled
    assert scheduled.run.requested_by == "schedule:weekly-drill"
    assert svc.wait(scheduled.run.id, timeout=RUN_TIMEOUT).state == "succeeded"


def test_every_decision_and_approval_step_is_in_the_verified_audit_trail(service):
    """Asking, approving and running leave Decision, approval and run entries; the chain holds."""
    svc = service()
    events: list[ApprovalEvent] = []
    svc.subscribe(lambda e: events.append(e) if isinstance(e, ApprovalEvent) else None)
    opened = svc.dispatch(SHOP, OLIVIA)
    assert isinstance(opened, ApprovalOpened)
    from commands.requests import ApproveRequest

    started = svc.dispatch(ApproveRequest(approval_id=opened.approval.id), ALEX)
    assert isinstance(started, RunStarted)
    svc.wait(started.run.id, timeout=RUN_TIMEOUT)
    audit = svc.dispatch(AuditRequest(limit=500), VICTOR)
    assert isinstance(audit, AuditList)
    assert audit.verified
    types = [e.event_type for e in audit.entries]
    for expected in (
        "Decision",
        "ApprovalOpened",
        "ApprovalVoted",
        "RunRequested",
        "ApprovalStarted",
    ):
        assert expected in types, types
    decisions = [e for e in audit.entries if e.event_type == "Decision"]
    assert decisions[0].actor == "slack:U0OLIVIA"
    assert decisions[0].payload["command"] == "test-failover"
    assert [e.change for e in events] == ["opened", "voted", "started"]


def test_resume_of_a_run_that_is_not_stopped_is_refused(service):
    """Resuming a finished run is a run-state refusal that says how to see it."""
    svc = service(policy(quorum={"test-failover": 0}))
    started = svc.dispatch(SHOP, OLIVIA)
    assert isinstance(started, RunStarted)
    svc.wait(started.run.id, timeout=RUN_TIMEOUT)
    result = svc.dispatch(ResumeRequest(run_id=started.run.id), OLIVIA)
    assert isinstance(result, Refused)
    assert result.code == "run-state"
    assert f"show {started.run.id}" in result.hint


def test_pending_approvals_are_those_the_person_may_still_vote_on(service):
    """An approver sees an open approval until they vote; the requester and viewers never do."""
    svc = service()
    opened = svc.dispatch(FailoverRequest(target="web-shop", planned=True, reason="x"), OLIVIA)
    assert isinstance(opened, ApprovalOpened)
    assert [a.id for a in svc.pending_approvals(ALEX)] == [opened.approval.id]
    assert svc.pending_approvals(OLIVIA) == []
    assert svc.pending_approvals(VICTOR) == []
    from commands.requests import ApproveRequest

    svc.dispatch(ApproveRequest(approval_id=opened.approval.id), ALEX)
    assert svc.pending_approvals(ALEX) == []
    bound = svc.bind(opened.approval.id, {"channel": "C0DR", "ts": "1712.0001"})
    assert bound.refs == {"channel": "C0DR", "ts": "1712.0001"}
