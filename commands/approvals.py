"""The approval rules: who may approve, how many, until when, and the one vote that goes on.

An approval is opened for a run a person asked for in chat, bound to the hash of the plan they
were shown. Approvers are distinct, hold the approver role when they click (checked by the
service's policy before a vote reaches this module), and are never the requester. The vote
that reaches the quorum is decided by one conditional update in the store (`store.approvals`),
so only one caller ever receives `VoteOutcome.QUORUM` and goes on to start the run, whatever
the number of clicks, retries or processes. Expiry is judged on the clock at every click and by
`expire_due`, which a front end calls on a timer to update its messages.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

from pydantic import JsonValue

from commands import messages as m
from commands.actor import Actor
from commands.config import PolicyConfig
from commands.events import ApprovalChange, ApprovalEvent
from commands.requests import Request
from commands.results import ApprovalAction, ApprovalView, RefusalCode, Refused
from commands.views import approval_view
from engine.clock import Clock
from store import Store
from store.approvals import VoteOutcome

Emit = Callable[[ApprovalEvent], None]

NOT_PENDING = {
    "approved": m.APPROVAL_ALREADY_APPROVED,
    "started": m.APPROVAL_ALREADY_STARTED,
    "rejected": m.APPROVAL_ALREADY_REJECTED,
    "expired": m.APPROVAL_EXPIRED,
    "superseded": m.APPROVAL_SUPERSEDED,
    "failed": m.APPROVAL_FAILED,
}


class Desk:
    """Opens approvals and applies the approval rules; audits and publishes every change."""

    def __init__(self, store: Store, config: PolicyConfig, clock: Clock, emit: Emit) -> None:
        self._store = store
        self._config = config
        self._clock = clock
        self._emit = emit

    def quorum(self, action: ApprovalAction) -> int:
        return self._config.quorum.of(action)

    def open(
        self,
        action: ApprovalAction,
        request: Request,
        requester: Actor,
        plan_hash: str,
        *,
        reason: str | None = None,
        run_id: int | None = None,
        supersedes: int | None = None,
    ) -> ApprovalView:
        """A pending approval of `request`, expiring `approval_minutes` from now."""
        expires = self._clock.now() + timedelta(minutes=self._config.approval_minutes)
        row = self._store.approvals.open(
            action=action,
            request=request.model_dump(mode="json"),
            requester_id=requester.id,
            requester=requester.model_dump(mode="json"),
            reason=reason,
            plan_hash=plan_hash,
            quorum=self.quorum(action),
            expires_at=expires,
            run_id=run_id,
            supersedes=supersedes,
        )
        view = approval_view(row)
        self._record("ApprovalOpened", requester, "opened", view)
        return view

    def get(self, approval_id: int) -> ApprovalView:
        return approval_view(self._store.approvals.get(approval_id))

    def vote(self, approval_id: int, voter: Actor) -> tuple[VoteOutcome, ApprovalView] | Refused:
        """Count `voter`'s approval, or say why not. `QUORUM` is returned to one caller only."""
        view = self.get(approval_id)
        if voter.id == view.requester.id:
            return Refused(
                code="self-approval",
                reason=m.SELF_APPROVAL.format(who=voter.shown, id=approval_id),
                hint=m.SELF_APPROVAL_HINT,
                approval=view,
            )
        vote = self._store.approvals.vote(
            approval_id, voter.id, voter.model_dump(mode="json"), self._clock.now()
        )
        view = approval_view(vote.approval)
        if vote.outcome is VoteOutcome.DUPLICATE:
            return Refused(
                code="already-voted",
                reason=m.ALREADY_VOTED.format(who=voter.shown, id=approval_id),
                hint=m.WAIT_FOR_OTHERS.format(missing=view.missing),
                approval=view,
            )
        if vote.outcome is VoteOutcome.EXPIRED:
            self._record("ApprovalExpired", voter, "expired", view)
            return self._not_pending(view)
        if vote.outcome is VoteOutcome.NOT_PENDING:
            return self._not_pending(view)
        self._record("ApprovalVoted", voter, "voted", view)
        return vote.outcome, view

    def reject(self, approval_id: int, by: Actor, reason: str) -> ApprovalView | Refused:
        """Reject a pending approval with `reason` (any approver may, the requester too)."""
        vote = self._store.approvals.reject(
            approval_id, by.model_dump(mode="json"), reason, self._clock.now()
        )
        view = approval_view(vote.approval)
        if vote.outcome is VoteOutcome.EXPIRED:
            self._record("ApprovalExpired", by, "expired", view)
            return self._not_pending(view)
        if vote.outcome is VoteOutcome.NOT_PENDING:
            return self._not_pending(view)
        self._record("ApprovalRejected", by, "rejected", view, reason=reason)
        return view

    def close(
        self,
        approval_id: int,
        state: str,
        actor: Actor,
        *,
        run_id: int | None = None,
        why: str | None = None,
    ) -> ApprovalView:
        """An approved approval is `started` (with its run), `failed` or `superseded`."""
        view = approval_view(
            self._store.approvals.close(approval_id, state, run_id=run_id, rejection=why)
        )
        change: ApprovalChange = (
            "started"
            if state == "started"
            else ("superseded" if state == "superseded" else "failed")
        )
        self._record(f"Approval{state.capitalize()}", actor, change, view, reason=why)
        return view

    def expire_due(self) -> list[ApprovalView]:
        """Expire every pending approval whose time has come; returns them."""
        views = [approval_view(r) for r in self._store.approvals.expire_due(self._clock.now())]
        for view in views:
            self._record("ApprovalExpired", None, "expired", view)
        return views

    def bind(self, approval_id: int, refs: dict[str, JsonValue]) -> ApprovalView:
        return approval_view(self._store.approvals.bind(approval_id, refs))

    def pending(self) -> list[ApprovalView]:
        """Pending approvals not yet past their expiry, newest first."""
        now = self._clock.now()
        views = [approval_view(r) for r in self._store.approvals.recent({"pending"})]
        return [v for v in views if v.expires_at > now]

    # -- internals ------------------------------------------------------------------------------

    def _not_pending(self, view: ApprovalView) -> Refused:
        code: RefusalCode = "expired" if view.state == "expired" else "not-pending"
        return Refused(
            code=code,
            reason=NOT_PENDING.get(view.state, m.APPROVAL_ALREADY_APPROVED).format(id=view.id),
            hint=m.ASK_AGAIN if view.state in ("expired", "rejected", "failed") else "",
            approval=view,
        )

    def _record(
        self,
        event_type: str,
        actor: Actor | None,
        change: ApprovalChange,
        view: ApprovalView,
        *,
        reason: str | None = None,
    ) -> None:
        payload: dict[str, object] = {
            "approval_id": view.id,
            "action": view.action,
            "state": view.state,
            "plan_hash": view.plan_hash,
            "votes": [v.actor.id for v in view.votes],
            "quorum": view.quorum,
        }
        if view.run_id is not None:
            payload["run_id"] = view.run_id
        if reason:
            payload["reason"] = reason
        if actor is not None:
            payload["actor_name"] = actor.name
        self._store.audit.append(event_type, actor.label if actor else "drbot", payload)
        self._emit(ApprovalEvent(change=change, approval=view))
