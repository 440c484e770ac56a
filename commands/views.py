"""Store rows -> the result models front ends render (one place, so both show the same)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from commands.results import (
    ApprovalView,
    AuditEntry,
    RunSummary,
    RunView,
    StepView,
    StorageStep,
    Transition,
    VMOutcomeView,
)
from store import PausedStep, RunRecord, StepRecord, TransitionRecord
from store.drills import protected_of


def run_summary(run: RunRecord) -> RunSummary:
    """A run without its plan and outcome (but how many VMs the plan recovers)."""
    return RunSummary(
        id=run.id,
        kind=run.kind,
        target=run.target,
        pool=run.pool,
        protected_pool=protected_of(run.kind, run.plan),
        state=run.state,
        requested_by=run.requested_by,
        reason=run.reason,
        plan_hash=run.plan_hash,
        created_at=run.created_at.isoformat(),
        updated_at=run.updated_at.isoformat(),
        last_step=run.last_step,
        error=run.error,
        vm_count=vm_count(run.plan),
    )


def vm_count(plan: Mapping[str, Any]) -> int:
    """The VMs a plan (as stored: JSON) recovers: standalone ones and every vApp's."""
    return len(plan.get("standalone_vms") or []) + sum(
        len(group)
        for app in plan.get("appliances") or []
        for group in app.get("order_groups") or []
    )


def run_view(run: RunRecord, history: list[TransitionRecord], steps: list[StepRecord]) -> RunView:
    """A run in full: state history, the journal's steps, each VM's outcome, its notes."""
    return RunView(
        run=run_summary(run),
        history=[
            Transition(
                at=h.at.isoformat(), from_state=h.from_state, to_state=h.to_state, reason=h.reason
            )
            for h in history
        ],
        steps=[
            StepView(
                key=s.key,
                name=s.name,
                subject=s.subject,
                status=s.status,
                attempts=s.attempts,
                task_ref=s.task_ref,
                error=s.error,
            )
            for s in steps
        ],
        vms=sorted(
            (
                VMOutcomeView(
                    uuid=uuid, name=o.name, appliance=o.appliance, status=o.status, error=o.error
                )
                for uuid, o in run.outcome.vms.items()
            ),
            key=lambda v: (v.appliance or "", v.name),
        ),
        notes=list(run.outcome.notes),
        storage_step=storage(run.paused_step),
    )


def storage(step: PausedStep | None) -> StorageStep | None:
    """The manual storage step a paused run waits for, if any."""
    if step is None:
        return None
    return StorageStep(lun=step.lun, action=step.action, instruction=step.instruction)


def approval_view(row: Mapping[str, Any]) -> ApprovalView:
    """An approval row (with its votes) as the front ends show it."""
    return ApprovalView.model_validate(
        {
            "id": row["id"],
            "action": row["action"],
            "request": row["request"],
            "requester": row["requester"],
            "reason": row["reason"],
            "run_id": row["run_id"],
            "plan_hash": row["plan_hash"],
            "quorum": row["quorum"],
            "votes": [{"actor": v["voter"], "at": v["at"]} for v in row["votes"]],
            "state": row["state"],
            "created_at": row["created_at"],
            "expires_at": row["expires_at"],
            "decided_at": row["decided_at"],
            "decided_by": row["decided_by"],
            "rejection": row["rejection"],
            "supersedes": row["supersedes"],
            "superseded_by": row["superseded_by"],
            "refs": row["refs"],
        }
    )


def audit_entry(row: Mapping[str, Any]) -> AuditEntry:
    return AuditEntry.model_validate({k: row.get(k) for k in AuditEntry.model_fields})
