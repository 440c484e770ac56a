"""The store's rows as the models its callers get back (never bare dicts).

Each model is built from one row of its table (`from_row`), with the JSON columns decoded into
their types: a run's outcome into `RunOutcome`, the manual step a paused run waits for into
`PausedStep`, a step's result into the JSON value the kind recorded.
"""

from __future__ import annotations

import json
from datetime import datetime
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict

from store.outcomes import Kind, RunOutcome
from store.states import RunState


def _json(text: str | None) -> Any:
    return json.loads(text) if text else None


class PausedStep(BaseModel):
    """The storage step a paused run waits for a person to do (the paused state's details)."""

    model_config = ConfigDict(frozen=True)

    lun: str
    action: str
    instruction: str


class RunRecord(BaseModel):
    """One run as the store keeps it."""

    model_config = ConfigDict(frozen=True)

    id: int
    kind: Kind
    target: str
    pool: str
    """The destination pool (where the run recovers)."""
    state: RunState
    plan_hash: str | None
    plan_json: str | None
    """The plan as approved, frozen at creation (`engine.models.Plan` JSON)."""
    requested_by: str | None
    reason: str | None
    created_at: datetime
    updated_at: datetime
    last_step: str | None
    outcome: RunOutcome
    error: str | None
    paused_step: PausedStep | None = None
    """While `state` is `paused`: the step it waits for. None in every other state."""

    @property
    def plan(self) -> dict[str, Any]:
        """The plan as a JSON mapping (the engine reads it as its `Plan` model)."""
        return dict(_json(self.plan_json) or {})

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> RunRecord:
        paused = _json(row.get("state_details_json"))
        return cls(
            id=row["id"],
            kind=row["kind"],
            target=row["target"],
            pool=row["pool"],
            state=row["state"],
            plan_hash=row["plan_hash"],
            plan_json=row["plan_json"],
            requested_by=row["requested_by"],
            reason=row["reason"],
            created_at=row["created_at"],
            updated_at=row["updated_at"],
            last_step=row["last_step"],
            outcome=RunOutcome.model_validate(_json(row["outcome_json"]) or {}),
            error=row["error"],
            paused_step=PausedStep.model_validate(paused) if paused else None,
        )


class TransitionRecord(BaseModel):
    """One change of a run's state, as journaled with the change."""

    model_config = ConfigDict(frozen=True)

    id: int
    run_id: int
    from_state: RunState | None
    to_state: RunState
    reason: str | None
    at: datetime


class StepStatus(StrEnum):
    """Where one journaled side effect stands."""

    STARTED = "started"
    """Begun (written before the effect); after a crash, the world tells whether it happened."""
    DONE = "done"
    """Happened; never done again."""
    FAILED = "failed"
    """Did not happen, or not completely; may be begun again."""


class StepRecord(BaseModel):
    """One journaled side effect of a run."""

    model_config = ConfigDict(frozen=True)

    id: int
    run_id: int
    key: str
    name: str
    subject: str | None
    status: StepStatus
    task_ref: str | None
    result: Any
    """What the effect produced (JSON), once done."""
    error: str | None
    attempts: int
    started_at: datetime
    finished_at: datetime | None

    @property
    def done(self) -> bool:
        return self.status is StepStatus.DONE

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> StepRecord:
        fields = {k: v for k, v in row.items() if k != "result_json"}
        return cls(**fields, result=_json(row["result_json"]))


class LeaseRecord(BaseModel):
    """Which run holds a pool, which process drives it, and until when."""

    model_config = ConfigDict(frozen=True)

    pool: str
    run_id: int
    holder: str
    until: datetime
