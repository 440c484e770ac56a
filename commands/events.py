"""Events the service publishes besides the engine's run events: approvals changing state."""

from __future__ import annotations

from collections.abc import Callable
from typing import Literal

from pydantic import BaseModel, ConfigDict

from commands.results import ApprovalView
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


ServiceEvent = RunEvent | ApprovalEvent
Listener = Callable[[ServiceEvent], None]
