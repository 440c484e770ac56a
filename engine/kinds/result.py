"""What a kind reports at the end of a run."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from store import RunState, VMOutcome


@dataclass
class Result:
    """The overall state the run ends in, why, and its measured RTO (None if not measured)."""

    state: RunState
    reason: str = ""
    rto_seconds: float | None = None
    left_behind: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def verdict(outcomes: Iterable[VMOutcome], power_after: str) -> RunState:
    """`succeeded` when every VM reached what the plan's power setting wants (or there was no
    VM), `failed` when none did, else `partially-succeeded`."""
    reached = [o.status.succeeded(power_after) for o in outcomes]
    if all(reached):
        return RunState.SUCCEEDED
    return RunState.FAILED if not any(reached) else RunState.PARTIALLY_SUCCEEDED
