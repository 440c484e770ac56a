"""Store rows -> the result models front ends render (one place, so both show the same)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from commands import messages as m
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
from engine.models import Check, Plan
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


# -- a plan as people read it ----------------------------------------------------------------

CHECK_ORDER = {"blocker": 0, "warning": 1, "ok": 2}
SUBJECTS_WIDTH = 40  # characters of subject names a grouped check lists before "and N more"


def lun_action(action: str) -> str:
    """What the storage does to a LUN, in words ("test copy", not `present_test_copy`)."""
    return m.LUN_ACTIONS.get(action, action)


def grouped_checks(plan: Plan) -> list[Check]:
    """The plan's checks for people: blockers first, and the checks that say the same thing
    (same check, status and message) of several subjects as one, whose subject names how many
    and which (the first few). A failback that finds an older copy of each of 40 VMs says so
    once, not 40 times; the plan itself (`--json`, the store) keeps every check as the engine
    made it. Both front ends show this, so the CLI and Slack say the same."""
    groups: dict[tuple[str, str, str], list[Check]] = {}
    for c in plan.checks:
        groups.setdefault((c.status, c.name, c.message), []).append(c)
    nouns = [
        (m.SUBJECTS_VMS, {vm.name for vm in plan.vms}),
        (m.SUBJECTS_VAPPS, {app.name for app in plan.appliances}),
        (m.SUBJECTS_SRS, {lun.sr_name for lun in plan.luns}),
        (m.SUBJECTS_POOLS, {plan.source_pool, plan.dest_pool}),
    ]
    lines = []
    for (status, name, message), members in groups.items():
        subjects = list(dict.fromkeys(c.subject for c in members))
        subject = subjects[0] if len(subjects) == 1 else _subjects(subjects, nouns)
        lines.append(Check(name=name, status=status, subject=subject, message=message))
    return sorted(lines, key=lambda c: CHECK_ORDER.get(c.status, 3))


def _subjects(names: list[str], nouns: list[tuple[str, set[str]]]) -> str:
    """'40 VMs (crm-db, crm-app-01, crm-app-02 and 37 more)': the count, what they are when
    the plan says (VMs, vApps, SRs, pools), and the first names that fit `SUBJECTS_WIDTH`
    characters."""
    count = next(
        (noun.format(n=len(names)) for noun, known in nouns if all(n in known for n in names)),
        str(len(names)),
    )
    shown_names = [names[0]]
    for i, n in enumerate(names[1:], start=2):
        # "and 1 more" says no less than the name itself would: the last one is always shown.
        if i < len(names) and len(", ".join([*shown_names, n])) > SUBJECTS_WIDTH:
            break
        shown_names.append(n)
    listed = ", ".join(shown_names)
    rest = len(names) - len(shown_names)
    if rest:
        listed = m.SUBJECTS_MORE.format(listed=listed, n=rest)
    return f"{count} ({listed})"
