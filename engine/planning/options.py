"""What a person chooses for a run, and the planner's history of past runs."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from pydantic import BaseModel, ConfigDict, Field

from engine.models import PowerAfter


class PlanOptions(BaseModel):
    """Choices a person makes for a run (all of them are part of the plan's hash)."""

    model_config = ConfigDict(extra="forbid")

    power_after: PowerAfter | None = None
    planned: bool = False
    network_map: dict[str, str] = Field(default_factory=dict)
    disable_ha: bool = False
    stop_on_failure: bool = False
    # Leave VMs that were halted at the source off after recovery, as they were in production.
    mirror_power_state: bool = False
    read_metadata: bool = True
    max_lag_seconds: float = 300.0
    op_seconds: dict[str, float] = Field(default_factory=dict)
    concurrency: int = 8


# History of past runs: (kind, source pool, dest pool) -> RTOs in seconds, most recent last.
History = Callable[[str, str, str], Sequence[float]]
