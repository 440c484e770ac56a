"""Events the service publishes besides the engine's run events: approvals changing state."""

from __future__ import annotations

from collections.abc import Callable
from typing import Literal

from pydantic import BaseModel, ConfigDict

from commands.results import ApprovalView, EstateResult
from engine.events import RunEvent

ApprovalChange = Literal[
    "opened", "voted", "rejected", "expired", "superseded", "started", "failed"
]


class ApprovalEvent(BaseModel):
    """An approval changed: a front end updates the message it posted for it (`approval.refs`)."""

    model_config = ConfigDict(frozen=True)

    type: Literal["approval"] = "approval"
    change: ApprovalChange
    approval: ApprovalView


class EstateEvent(BaseModel):
    """A request over several pools moved (commands/estate.py): a pool's run started
    (`result.phase` started), or every run ended (`finished`: the one summary of the request)."""

    model_config = ConfigDict(frozen=True)

    type: Literal["estate"] = "estate"
    result: EstateResult


ServiceEvent = RunEvent | ApprovalEvent | EstateEvent
Listener = Callable[[ServiceEvent], None]
