"""Store rows -> the result models front ends render (one place, so both show the same)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pydantic import BaseModel

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
from store import PausedStep


def plain(row: Mapping[str, Any] | BaseModel) -> dict[str, Any]:
    """A store row as a dict, whether the store returns dicts or models."""
    if isinstance(row, BaseModel):
        return row.model_dump(mode="json")
    return dict(row)


def run_summary(row: Mapping[str, Any] | BaseModel) -> RunSummary:
    """A run without its plan and outcome."""
    data = plain(row)
    return RunSummary.model_validate({k: data.get(k) for k in RunSummary.model_fields})


def run_view(
    row: Mapping[str, Any] | BaseModel,
    history: list[Any],
    steps: list[Any],
    storage_step: PausedStep | None,
) -> RunView:
    """A run in full: state history, the journal's steps, each VM's outcome."""
    data = plain(row)
    return RunView(
        run=run_summary(data),
        history=[
            Transition.model_validate({k: plain(h).get(k) for k in Transition.model_fields})
            for h in history
        ],
        steps=[
            StepView.model_validate({k: plain(s).get(k) for k in StepView.model_fields})
            for s in steps
        ],
        vms=vm_outcomes(data.get("outcome") or {}),
        storage_step=storage(storage_step),
    )


def vm_outcomes(outcome: Mapping[str, Any]) -> list[VMOutcomeView]:
    """Each VM's outcome, by name; entries that are not VMs (notes) are left out."""
    vms = outcome.get("vms", outcome) if isinstance(outcome.get("vms"), Mapping) else outcome
    views = [
        VMOutcomeView(
            uuid=uuid,
            name=str(o.get("name") or uuid),
            appliance=o.get("appliance"),
            status=str(o.get("status") or ""),
            error=o.get("error"),
        )
        for uuid, o in vms.items()
        if not uuid.startswith("_") and isinstance(o, Mapping)
    ]
    return sorted(views, key=lambda v: (v.appliance or "", v.name))


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
