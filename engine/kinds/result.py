"""What a kind reports at the end of a run."""

from __future__ import annotations

from dataclasses import dataclass, field

OK_STATUSES = frozenset({"started", "started-paused", "recovered", "stopped", "halted"})


@dataclass
class Result:
    """The overall state the run ends in, why, and its measured RTO (None if not measured)."""

    state: str
    reason: str = ""
    rto_seconds: float | None = None
    left_behind: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def verdict(outcomes: dict[str, dict], wanted: set[str]) -> str:
    """`succeeded` when every VM reached a wanted status, `failed` when none did, else
    `partially-succeeded`."""
    if not outcomes:
        return "succeeded"
    good = sum(1 for o in outcomes.values() if o.get("status") in wanted)
    if good == len(outcomes):
        return "succeeded"
    return "failed" if good == 0 else "partially-succeeded"
