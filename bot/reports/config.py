"""The `[reports]` section: where and when drbot posts summaries, alerts, drills and digests.

```toml
[reports]
timezone = "Europe/Paris"          # cron expressions are read in this zone (DST included)
channel = "C0DRREPORT"             # readiness summaries, alerts and drill reports
audit_channel = "G0DRAUDIT1"       # the daily audit digest and chain alerts
rto_target_seconds = 1800          # a drill passes when every vApp runs within this
rpo_target_seconds = 300           # replication lag above this is called out
metadata_stale_seconds = 3600      # metadata older than this is called out
history_days = 35                  # readiness samples kept this long

[reports.schedules.drill]          # any of the schedules below, to change when it runs
cron = "0 2 * * 1"
misfire_grace_seconds = 21600      # run once if the bot comes back within 6 h of the time

[reports.drill]
scope = "sample"                   # "all" protected vApps, or a rotating "sample"
sample_size = 3
```

Channels are Slack channel IDs (the bot must be a member to upload charts).
"""

from __future__ import annotations

from typing import Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from bot.schedules import cron_trigger

# The scheduled jobs drbot knows, with their default times (cron, minute hour dom month dow).
READINESS_CHECK = "readiness-check"
READINESS_SUMMARY = "readiness-summary"
DRILL = "drill"
AUDIT_DIGEST = "audit-digest"
AUDIT_VERIFY = "audit-verify"
DEFAULT_CRONS = {
    READINESS_CHECK: "*/5 * * * *",
    READINESS_SUMMARY: "0 8 * * *",
    DRILL: "0 2 * * 1",
    AUDIT_DIGEST: "0 7 * * *",
    AUDIT_VERIFY: "15 * * * *",
}
# How late a job may still run after its time (the bot was down, or busy): a readiness check
# is worthless late, a summary is fine within the morning, a drill within the night.
DEFAULT_GRACE = {
    READINESS_CHECK: 120,
    READINESS_SUMMARY: 4 * 3600,
    DRILL: 6 * 3600,
    AUDIT_DIGEST: 4 * 3600,
    AUDIT_VERIFY: 3600,
}


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ScheduleConfig(_Section):
    """When one job runs: a cron expression in the section's time zone, how late it may still
    run, and whether it runs at all."""

    cron: str
    misfire_grace_seconds: float = Field(default=3600, ge=0)
    enabled: bool = True

    @field_validator("cron")
    @classmethod
    def _cron(cls, value: str) -> str:
        try:
            cron_trigger(value)
        except ValueError as exc:
            raise ValueError(
                f"{value!r} is not a cron expression ({exc}); write five fields, "
                "minute hour day-of-month month day-of-week, e.g. '0 2 * * 1'"
            ) from None
        return value


class DrillConfig(_Section):
    """What the weekly drill tests. It is pre-approved by this configuration and audited as the
    system actor; its test failover changes nothing at the primary and cleans up after itself."""

    scope: Literal["all", "sample"] = "all"
    sample_size: int = Field(default=3, ge=1)
    pair: str | None = None  # the protected pool; None: the first pair
    disable_ha: bool = False  # turn HA off at the DR pool for the test (a plan blocker if on)
    power: Literal["start", "start-paused", "leave-off"] = "start-paused"
    timeout_seconds: float = Field(default=4 * 3600, gt=0)


def _default_schedules() -> dict[str, ScheduleConfig]:
    return {
        name: ScheduleConfig(cron=cron, misfire_grace_seconds=DEFAULT_GRACE[name])
        for name, cron in DEFAULT_CRONS.items()
    }


class ReportsConfig(_Section):
    """Scheduled readiness summaries and alerts, weekly drills and audit digests."""

    timezone: str = "UTC"
    channel: str = ""
    alerts_channel: str = ""  # empty: the reports channel
    audit_channel: str = ""
    rto_target_seconds: float = Field(default=1800, gt=0)
    rpo_target_seconds: float = Field(default=300, gt=0)
    metadata_stale_seconds: float = Field(default=3600, gt=0)
    history_days: int = Field(default=35, ge=31)
    trend_drills: int = Field(default=12, ge=1)
    schedules: dict[str, ScheduleConfig] = Field(default_factory=_default_schedules)
    drill: DrillConfig = Field(default_factory=DrillConfig)

    @field_validator("timezone")
    @classmethod
    def _zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(
                f"unknown time zone {value!r}; use an IANA name such as 'Europe/Paris' or 'UTC'"
            ) from None
        return value

    @model_validator(mode="after")
    def _known_schedules(self) -> ReportsConfig:
        unknown = sorted(set(self.schedules) - set(DEFAULT_CRONS))
        if unknown:
            raise ValueError(
                f"unknown schedule(s) {', '.join(unknown)}; the schedules are "
                f"{', '.join(DEFAULT_CRONS)}"
            )
        # A section that names one schedule keeps the defaults of the others, and a schedule
        # given only a new time keeps its own grace.
        for name, schedule in self.schedules.items():
            if "misfire_grace_seconds" not in schedule.model_fields_set:
                schedule.misfire_grace_seconds = DEFAULT_GRACE[name]
        self.schedules = {**_default_schedules(), **self.schedules}
        return self

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    @property
    def alerts_to(self) -> str:
        return self.alerts_channel or self.channel


def for_simulators(channels: dict[str, str]) -> dict[str, object]:
    """The `[reports]` section for the Slack double's default workspace (`drbot sim serve
    --config`, the demo): its #dr-reports and #dr-audit, and a drill that turns HA off at the
    DR pool for the test (the demo's DR pool has HA on, which blocks a test failover)."""
    return {
        "channel": channels.get("dr-reports", ""),
        "audit_channel": channels.get("dr-audit", ""),
        "drill": {"disable_ha": True},
    }
