"""What the reports read and say, as plain pydantic data: a pool's readiness sample, and a
drill measured from the store's records."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, Field

Verdict = Literal["ready", "degraded", "not-ready", "unknown"]
# How bad a verdict is: an alert is posted when a pool gets worse than what was last announced.
RANK: dict[str, int] = {"ready": 0, "degraded": 1, "not-ready": 2, "unknown": 2}


class PoolReadiness(BaseModel):
    """One readiness check of a protected pool against its DR pool."""

    pool: str
    dr_pool: str = ""
    verdict: Verdict
    at: datetime
    lag_seconds: float | None = None  # the worst replication lag of the pool's LUNs (the RPO)
    metadata_age_seconds: float | None = None  # how old the DR copy of the pool metadata is
    capacity_needed_bytes: int | None = None
    capacity_free_bytes: int | None = None
    capacity_fits: bool | None = None
    unprotected: list[str] = Field(default_factory=list)  # VM names that cannot be recovered
    missing_networks: list[str] = Field(default_factory=list)
    reasons: list[str] = Field(default_factory=list)


class VMResult(BaseModel):
    """One VM of a drill, as the run's records say."""

    uuid: str
    name: str
    appliance: str | None = None
    status: str
    error: str | None = None
    ok: bool  # reached what the drill asked of it (started, or recovered if left off)
    recovered: bool
    started: bool
    rto_recovered_seconds: float | None = None  # from the run's RTO start to recovered
    rto_running_seconds: float | None = None  # from the run's RTO start to started
    lag_seconds: float | None = None  # replication lag of its LUNs when planned (its RPO)
    cleaned_up: bool = False


class ApplianceResult(BaseModel):
    name: str
    vms: int
    failed: int
    rto_seconds: float | None  # the slowest VM to running (or recovered, if left off)
    within_target: bool


class DrillReport(BaseModel):
    """A drill (a test failover run) and its figures, read from the store."""

    run_id: int
    state: str
    reason: str = ""
    target: str
    source_pool: str
    dest_pool: str
    requested_by: str = ""
    started_at: datetime | None = None
    ended_at: datetime | None = None
    rto_seconds: float | None = None
    rto_target_seconds: float
    rpo_seconds: float | None = None
    metadata_age_seconds: float | None = None
    cleanup_verified: bool = False
    left_behind: str = ""
    vms: list[VMResult] = Field(default_factory=list)
    appliances: list[ApplianceResult] = Field(default_factory=list)

    @property
    def passed(self) -> bool:
        """Every VM recovered and started, within the RTO target, and nothing left behind."""
        return (
            self.state == "succeeded"
            and self.cleanup_verified
            and self.rto_seconds is not None
            and self.rto_seconds <= self.rto_target_seconds
        )

    @property
    def failed_vms(self) -> list[VMResult]:
        return [v for v in self.vms if not v.ok]


class DrillPoint(BaseModel):
    """One past drill for the trend chart."""

    run_id: int
    at: datetime
    rto_seconds: float | None
    outcome: str
