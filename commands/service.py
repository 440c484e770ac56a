"""The one service both front ends call: `Service(...).dispatch(request, actor) -> Result`.

See docs/contracts/commands.md for the whole contract. The service owns policy (who may ask
what, where, break-glass and reasons), planning with the right source and destination per kind,
approvals, runs and the audit trail; the front ends parse and render.

How a run is asked for, whatever the front end:
1. The policy decides (role, channel) and the decision is audited with its reason.
2. A failover or failback needs a reason; from the CLI also `--break-glass` (audited as
   `BreakGlass`), and only the CLI may break glass.
3. The planner plans it (from the protected pool into the DR pool, or back for a failback). A
   plan with blockers is refused, naming them.
4. From chat the run waits for approval (quorum per kind; 0 for a test failover starts it at
   once); from the CLI and the scheduler it starts now. On quorum the plan is made again and
   must have the hash the approvers saw, else the approval is superseded by a new one.
5. The run starts in the engine's own worker thread; `dispatch` returns at once.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

from pydantic import JsonValue

from commands import messages as m
from commands.actor import Actor
from commands.approvals import Desk
from commands.config import PolicyConfig
from commands.estate import Estate, runs_of
from commands.events import Listener, ServiceEvent
from commands.parse import SHOWN, nearest, usage
from commands.policy import DESTRUCTIVE_KINDS, Decision, Members, Policy
from commands.requests import (
    COMMANDS,
    AbortRequest,
    ApproveRequest,
    AuditRequest,
    CancelRequest,
    ConfirmStorageRequest,
    DrillRequest,
    FailbackRequest,
    FailoverRequest,
    HelpRequest,
    PlanRequest,
    RejectRequest,
    Request,
    ResumeRequest,
    RunRequest,
    RunsRequest,
    ShowRequest,
    StatusRequest,
    TestFailoverRequest,
    estate_scope,
)
from commands.results import (
    ApprovalOpened,
    ApprovalUpdated,
    ApprovalView,
    AuditList,
    HelpEntry,
    HelpResult,
    Invalid,
    PlanResult,
    ReasonNeeded,
    RefusalCode,
    Refused,
    Result,
    Role,
    RunsList,
    RunStarted,
    RunSummary,
    RunUpdated,
    RunView,
)
from commands.status import status
from commands.views import audit_entry, run_summary, run_view, storage
from commands.wiring import ManualSteps, Wiring
from engine.errors import DRError, PlanChanged, RunConflict, RunStateError
from engine.messages import shown
from engine.models import Plan
from engine.runner import PlanBlocked
from store import (
    IllegalTransition,
    Kind,
    PausedStep,
    RunNotFound,
    RunRecord,
    RunState,
    StoreError,
)
from store.approvals import ApprovalNotFound, VoteOutcome

log = logging.getLogger(__name__)

RESUMABLE = frozenset({RunState.INTERRUPTED, RunState.PAUSED})
LIVE = frozenset({RunState.QUEUED, RunState.RUNNING})

__all__ = ["Members", "Service"]


class Service:
    """What a person may ask, decided and done the same way for every front end.

    Args:
        wiring: store, clients, storage adapter, planner and runner, built once.
        policy: the `[policy]` section (roles, channels, quorums, expiry).
        members: group id -> member user ids (Slack: `usergroups.users.list`); cached for
            `policy.group_cache_seconds` on the wiring's clock.
    """

    def __init__(
        self, wiring: Wiring, policy: PolicyConfig, *, members: Members | None = None
    ) -> None:
        self.wiring = wiring
        self.config = policy
        self.policy = Policy(policy, wiring.clock, members)
        self._listeners: list[Listener] = []
        self._lock = threading.Lock()
        self._forwarding: Callable[[], None] | None = None
        self.desk = Desk(wiring.store, policy, wiring.clock, self._publish)
        self.estate = Estate(wiring, self.desk, self._publish)

    # -- the API --------------------------------------------------------------------------------

    def dispatch(self, request: Request, actor: Actor) -> Result:
        """Decide on `request` from `actor` and act; never raises for what a person can cause."""
        try:
            result = self._dispatch(request, actor)
        except (DRError, StoreError) as exc:
            result = Refused(code=_code(exc), reason=str(exc))
        finally:
            self.wiring.release_thread()
        if isinstance(result, Refused):
            self._audit_refusal(request, actor, result)
        return result

    def subscribe(self, fn: Listener) -> Callable[[], None]:
        """Receive every run event and approval event; returns the unsubscribe function.

        Events come from the engine's worker threads and from whichever thread dispatched; a
        listener that raises is logged and does not stop the others.
        """
        with self._lock:
            self._listeners.append(fn)
            if self._forwarding is None:
                self._forwarding = self.wiring.runner.subscribe(self._publish)

        def unsubscribe() -> None:
            with self._lock:
                if fn in self._listeners:
                    self._listeners.remove(fn)

        return unsubscribe

    def interrupted_at_start(self) -> list[RunSummary]:
        """Once at start: mark runs whose process died `interrupted` and return them (the
        service never resumes them: a person does, by the rules of `resume`)."""
        return [run_summary(r) for r in self.wiring.runner.reap()]

    def expire_approvals(self) -> list[ApprovalView]:
        """Mark pending approvals past their expiry `expired`; returns them."""
        return self.desk.expire_due()

    def bind(self, approval_id: int, refs: dict[str, JsonValue]) -> ApprovalView:
        """Attach the front end's own coordinates (opaque JSON) to an approval."""
        return self.desk.bind(approval_id, refs)

    def approval(self, approval_id: int) -> ApprovalView:
        """One approval (raises `ApprovalNotFound`)."""
        return self.desk.get(approval_id)

    def pending_approvals(self, actor: Actor) -> list[ApprovalView]:
        """Pending approvals `actor` may still vote on: they hold the approver role, did not
        ask for it and have not approved it yet."""
        if not self.policy.may("approve", self.policy.role_of(actor)):
            return []
        return [
            a
            for a in self.desk.pending()
            if a.requester.id != actor.id and all(v.actor.id != actor.id for v in a.votes)
        ]

    def role_of(self, actor: Actor) -> Role | None:
        """The highest role `actor` holds, directly or through a group."""
        return self.policy.role_of(actor)

    def wait(self, run_id: int, timeout: float | None = None) -> RunSummary:
        """Wait (bounded) for this process's worker of a run to end; returns the run."""
        return run_summary(self.wiring.runner.wait(run_id, timeout=timeout))

    def close(self) -> None:
        """Close clients and the store."""
        if self._forwarding is not None:
            self._forwarding()
        self.estate.close()
        self.wiring.close()

    # -- dispatch -------------------------------------------------------------------------------

    def _dispatch(self, request: Request, actor: Actor) -> Result:
        if isinstance(request, HelpRequest):
            return self._help(request, actor)
        decision = self.policy.decide(
            request.command, actor, destructive=self._destructive(request)
        )
        if not decision.allowed:
            return Refused(
                code=decision.code or "not-allowed", reason=decision.reason, hint=decision.hint
            )
        self._audit_decision(request, actor, decision)
        match request:
            case StatusRequest():
                return status(self.wiring, request.pool)
            case PlanRequest():
                if (scope := estate_scope(request.target)) is not None:
                    return self.estate.preview(request, scope)
                return PlanResult(plan=self._plan(request))
            case TestFailoverRequest() | FailoverRequest() | FailbackRequest():
                return self._ask_run(request, actor)
            case DrillRequest():
                drill = self.config.drill
                return self._ask_run(
                    TestFailoverRequest(
                        target=drill.target, pool=request.pool, disable_ha=drill.disable_ha
                    ),
                    actor,
                )
            case RunsRequest():
                return RunsList(runs=runs_of(self.wiring.store, request.limit, request.pool))
            case ShowRequest():
                return self._show(request.run_id)
            case AuditRequest():
                return self._audit(request.limit)
            case CancelRequest():
                return self._cancel(request, actor)
            case ResumeRequest():
                return self._resume(request, actor)
            case AbortRequest():
                return self._abort(request, actor)
            case ConfirmStorageRequest():
                return self._confirm_storage(request, actor)
            case ApproveRequest():
                return self._approve(request.approval_id, actor)
            case RejectRequest():
                return self._reject(request, actor)

    def _destructive(self, request: Request) -> bool:
        """Does the request change production (the channel rule and chat approvals apply)?"""
        if isinstance(request, FailoverRequest | FailbackRequest):
            return True
        if isinstance(request, ResumeRequest | AbortRequest | CancelRequest):
            return self.wiring.store.runs.get(request.run_id).kind in DESTRUCTIVE_KINDS
        return False

    def _help(self, request: HelpRequest, actor: Actor) -> Result:
        """The commands `actor` may use (only those), or the usage of one command."""
        role = self.policy.role_of(actor)
        allowed = [c for c in COMMANDS if self.policy.may(c, role)]
        if request.topic is not None:
            topic = next((c for c in COMMANDS if c == request.topic.lower()), None)
            if topic is None:
                return Invalid(
                    message=m.UNKNOWN_COMMAND.format(command=shown(request.topic, SHOWN)),
                    usage=usage("help"),
                    suggestion=nearest(request.topic, COMMANDS),
                )
            allowed = [topic]
        return HelpResult(
            role=role,
            commands=[HelpEntry(name=c, usage=usage(c), summary=m.SUMMARY[c]) for c in allowed],
        )

    # -- runs -----------------------------------------------------------------------------------

    def _plan(self, request: PlanRequest | RunRequest) -> Plan:
        """Plan what `request` asks, with its options (the wiring picks source and destination)."""
        if isinstance(request, PlanRequest):
            kind, planned, disable_ha = request.kind, request.planned, request.disable_ha
        else:
            kind = Kind(request.command)
            planned = isinstance(request, FailoverRequest) and request.planned
            disable_ha = isinstance(request, TestFailoverRequest) and request.disable_ha
        plan = self.wiring.plan(
            kind,
            request.target,
            request.pool,
            power_after=request.power,
            planned=planned,
            disable_ha=disable_ha,
        )
        return self.estate.with_site_loss(plan)

    def _ask_run(self, request: RunRequest, actor: Actor) -> Result:
        """Plan a run and start it (CLI, scheduler, quorum 0) or open its approval (chat)."""
        reason = request.reason
        if isinstance(request, FailoverRequest | FailbackRequest):
            if actor.via == "cli" and not request.break_glass:
                return Refused(
                    code="break-glass",
                    reason=m.BREAK_GLASS.format(kind=request.command),
                    hint=m.BREAK_GLASS_HINT.format(kind=request.command),
                )
            if actor.via != "cli" and request.break_glass:
                return Refused(code="break-glass", reason=m.BREAK_GLASS_CLI_ONLY)
            if request.reason is None:
                return ReasonNeeded(request=request)
        if (scope := estate_scope(request.target)) is not None:
            return self.estate.ask(request, scope, actor)
        plan = self._plan(request)
        if plan.blockers:
            return _blocked(plan)
        quorum = self.desk.quorum(request.command)
        if actor.via != "slack" or quorum == 0:
            if isinstance(request, FailoverRequest | FailbackRequest) and actor.via == "cli":
                self.wiring.store.audit.append(
                    "BreakGlass",
                    actor.label,
                    {
                        "kind": request.command,
                        "target": request.target,
                        "reason": reason,
                        "plan_hash": plan.hash,
                    },
                )
            run_id = self.wiring.runner.start(plan, requested_by=actor.label, reason=reason)
            return RunStarted(run=self._summary(run_id), plan=plan)
        approval = self.desk.open(request.command, request, actor, plan.hash, reason=reason)
        return ApprovalOpened(approval=approval, plan=plan)

    def _show(self, run_id: int) -> RunView:
        runs = self.wiring.store.runs
        return run_view(
            runs.get(run_id), runs.history(run_id), self.wiring.store.steps.for_run(run_id)
        )

    def _audit(self, limit: int) -> AuditList:
        audit = self.wiring.store.audit
        last = audit.entries(since=0, limit=None)[-limit:]
        return AuditList(entries=[audit_entry(e) for e in last], verified=audit.verify())

    def _cancel(self, request: CancelRequest, actor: Actor) -> Result:
        run = self.wiring.store.runs.get(request.run_id)
        if run.state is RunState.PAUSED:
            # Cancelling a paused run undoes what it made: the rules of abort apply.
            return self._abort(AbortRequest(run_id=request.run_id), actor)
        self.wiring.runner.cancel(request.run_id, actor=actor.label)
        return RunUpdated(action="cancelling", run=self._summary(request.run_id))

    def _resume(self, request: ResumeRequest, actor: Actor) -> Result:
        self.wiring.runner.reap()
        run = self.wiring.store.runs.get(request.run_id)
        if run.state not in RESUMABLE:
            # Driven by a process that may live: who, and when its lease lets a resume take over.
            elsewhere = self.wiring.runner.driven_elsewhere(request.run_id, "resume")
            return Refused(
                code="run-state",
                reason=elsewhere or m.CANNOT_RESUME.format(run_id=request.run_id, state=run.state),
                hint=m.SHOW_RUN.format(run_id=request.run_id),
            )
        step = self.wiring.runner.paused_step(request.run_id)
        if step is not None and not request.storage_done:
            return Refused(
                code="storage-pending",
                reason=m.STORAGE_PENDING.format(
                    run_id=request.run_id, instruction=step.instruction
                ),
                hint=m.STORAGE_DONE_HINT.format(run_id=request.run_id),
            )
        if request.storage_done:
            decision = self.policy.decide("confirm-storage", actor)
            if not decision.allowed:
                return Refused(code="not-allowed", reason=decision.reason, hint=decision.hint)
        if actor.via == "slack" and run.kind in DESTRUCTIVE_KINDS:
            return self._ask_run_action("resume", request, actor, run)
        return self._do_resume(request.run_id, request.storage_done, actor)

    def _do_resume(self, run_id: int, storage_done: bool, actor: Actor) -> Result:
        confirmed: list[PausedStep] = []

        def confirm(run: RunRecord) -> None:
            # Inside the resume's transaction: of two clicks on one Done, only the one that
            # finds the run still paused confirms and audits its step.
            step = run.paused_step
            if not storage_done or step is None:
                return
            adapter = self.wiring.adapter
            if isinstance(adapter, ManualSteps):
                adapter.confirm(step.lun, step.action)
            self.wiring.store.audit.append(
                "StorageStepConfirmed", actor.label, {"run_id": run_id, **step.model_dump()}
            )
            confirmed.append(step)

        self.wiring.runner.resume(run_id, actor=actor.label, before=confirm)
        step = confirmed[0] if confirmed else None
        return RunUpdated(action="resumed", run=self._summary(run_id), storage_step=storage(step))

    def _abort(self, request: AbortRequest, actor: Actor) -> Result:
        self.wiring.runner.reap()
        run = self.wiring.store.runs.get(request.run_id)
        if actor.via != "cli" and run.state in LIVE:
            elsewhere = self.wiring.runner.driven_elsewhere(request.run_id, "abort")
            return Refused(
                code="run-state",
                reason=elsewhere or m.ABORT_LIVE.format(run_id=request.run_id, state=run.state),
                hint="" if elsewhere else m.CANCEL_FIRST.format(run_id=request.run_id),
            )
        if actor.via == "slack" and run.kind in DESTRUCTIVE_KINDS:
            return self._ask_run_action("abort", request, actor, run)
        self.wiring.runner.abort(request.run_id, actor=actor.label)
        return RunUpdated(action="aborting", run=self._summary(request.run_id))

    def _ask_run_action(
        self,
        action: str,
        request: ResumeRequest | AbortRequest,
        actor: Actor,
        run: RunRecord,
    ) -> Result:
        """Resume or abort of a failover or failback from chat: a second person agrees."""
        plan = Plan.model_validate_json(run.plan_json or "{}")
        approval = self.desk.open(
            "resume" if action == "resume" else "abort",
            request,
            actor,
            run.plan_hash or plan.hash,
            run_id=request.run_id,
        )
        return ApprovalOpened(approval=approval, plan=plan)

    def _confirm_storage(self, request: ConfirmStorageRequest, actor: Actor) -> Result:
        """The storage team's Done: record the confirmation and let the run go on. The run was
        approved when it started; going on past a manual step it asked for is part of it.
        A Done naming another step than the one the run waits for confirms nothing."""
        run_id = request.run_id
        run = self.wiring.store.runs.get(run_id)
        step = self.wiring.runner.paused_step(run_id)
        if run.state is not RunState.PAUSED or step is None:
            return Refused(
                code="run-state",
                reason=m.NO_STORAGE_STEP.format(run_id=run_id, state=run.state),
                hint=m.SHOW_RUN.format(run_id=run_id),
            )
        named = (request.lun, request.action)
        if named != (None, None) and named != (step.lun, step.action):
            return Refused(
                code="run-state",
                reason=m.OTHER_STORAGE_STEP.format(
                    run_id=run_id,
                    action=request.action,
                    lun=request.lun,
                    now_action=step.action,
                    now_lun=step.lun,
                ),
                hint=m.SHOW_RUN.format(run_id=run_id),
            )
        return self._do_resume(run_id, True, actor)

    # -- approvals ------------------------------------------------------------------------------

    def _approve(self, approval_id: int, actor: Actor) -> Result:
        outcome = self.desk.vote(approval_id, actor)
        if isinstance(outcome, Refused):
            return outcome
        vote, approval = outcome
        if vote is not VoteOutcome.QUORUM:
            return ApprovalUpdated(approval=approval)
        return self._go(approval, actor)

    def _go(self, approval: ApprovalView, voter: Actor) -> Result:
        """The quorum is reached (this caller alone gets here): start what was approved."""
        request, requester = approval.request, approval.requester
        try:
            if isinstance(request, ResumeRequest):
                result = self._do_resume(request.run_id, request.storage_done, requester)
            elif isinstance(request, AbortRequest):
                self.wiring.runner.abort(request.run_id, actor=requester.label)
                result = RunUpdated(action="aborting", run=self._summary(request.run_id))
            elif isinstance(request, TestFailoverRequest | FailoverRequest | FailbackRequest):
                return self._start_approved(approval, request, voter)
            else:  # an approval is opened only for the requests above
                raise TypeError(f"approval {approval.id} holds a {request.command} request")
        except (DRError, StoreError) as exc:
            self.desk.close(approval.id, "failed", voter, why=str(exc))
            raise
        self.desk.close(approval.id, "started", voter, run_id=approval.run_id)
        return result

    def _start_approved(self, approval: ApprovalView, request: RunRequest, voter: Actor) -> Result:
        if (scope := estate_scope(request.target)) is not None:
            return self.estate.start_approved(approval, request, scope, voter)
        try:
            plan = self._plan(request)
        except DRError as exc:
            self.desk.close(approval.id, "failed", voter, why=str(exc))
            raise
        if plan.hash != approval.plan_hash:
            old = self.desk.close(approval.id, "superseded", voter, why=m.PLAN_CHANGED_WHY)
            if plan.blockers:
                return _blocked(plan)
            new = self.desk.open(
                approval.action,
                request,
                approval.requester,
                plan.hash,
                reason=approval.reason,
                supersedes=old.id,
            )
            return ApprovalOpened(approval=new, plan=plan)
        try:
            run_id = self.wiring.runner.start(
                plan, requested_by=approval.requester.label, reason=approval.reason
            )
        except DRError as exc:
            self.desk.close(approval.id, "failed", voter, why=str(exc))
            raise
        started = self.desk.close(approval.id, "started", voter, run_id=run_id)
        return RunStarted(run=self._summary(run_id), plan=plan, approval=started)

    def _reject(self, request: RejectRequest, actor: Actor) -> Result:
        if request.reason is None:
            return ReasonNeeded(request=request)
        outcome = self.desk.reject(request.approval_id, actor, request.reason)
        if isinstance(outcome, Refused):
            return outcome
        return ApprovalUpdated(approval=outcome)

    # -- helpers --------------------------------------------------------------------------------

    def _summary(self, run_id: int) -> RunSummary:
        return run_summary(self.wiring.store.runs.get(run_id))

    def _publish(self, event: ServiceEvent) -> None:
        with self._lock:
            listeners = list(self._listeners)
        for fn in listeners:
            try:
                fn(event)
            except Exception:  # a front end's bug must not stop a recovery nor a vote
                log.exception("service event listener failed on %s", event.type)

    def _audit_decision(self, request: Request, actor: Actor, decision: Decision) -> None:
        self.wiring.store.audit.append(
            "Decision",
            actor.label,
            {
                "command": request.command,
                "request": request.model_dump(mode="json"),
                "allowed": True,
                "reason": decision.reason,
                "role": decision.role,
                "channel": actor.channel,
                "actor_name": actor.name,
            },
        )

    def _audit_refusal(self, request: Request, actor: Actor, refused: Refused) -> None:
        self.wiring.store.audit.append(
            "Refused",
            actor.label,
            {
                "command": request.command,
                "request": request.model_dump(mode="json"),
                "allowed": False,
                "code": refused.code,
                "reason": refused.reason,
                "role": self.policy.role_of(actor),
                "channel": actor.channel,
                "actor_name": actor.name,
            },
        )


def _blocked(plan: Plan) -> Refused:
    items = "; ".join(f"{c.name} ({c.subject}): {c.message}" for c in plan.blockers)
    return Refused(
        code="blocked",
        reason=m.BLOCKED.format(count=len(plan.blockers), items=items),
        hint=m.BLOCKED_HINT,
        plan=plan,
    )


def _code(exc: Exception) -> RefusalCode:
    """The refusal code of an error the engine or the store raised."""
    if isinstance(exc, RunNotFound | ApprovalNotFound):
        return "not-found"
    if isinstance(exc, RunConflict):
        return "busy"
    if isinstance(exc, PlanBlocked):
        return "blocked"
    if isinstance(exc, RunStateError | PlanChanged):
        return "run-state"
    if isinstance(exc, IllegalTransition):
        return "run-state"
    return "engine"
