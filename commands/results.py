"""What the service answers: one typed result per outcome (a discriminated union on `type`).

A front end renders these and nothing else: the Slack bot as blocks, the CLI as rich tables or
JSON. Every refusal says why (`reason`) and what to do (`hint`); input that is not a command
gets its usage line and the nearest valid command. Nothing here knows Slack.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, JsonValue

from commands.actor import Actor
from commands.requests import NeedsReason, Request
from engine.models import Plan

Role = Literal["viewer", "operator", "approver", "admin"]
ROLES: tuple[Role, ...] = ("viewer", "operator", "approver", "admin")
"""The roles, weakest first: each holds every right of the ones before it."""

ApprovalAction = Literal["test-failover", "failover", "failback", "resume", "abort"]
ApprovalState = Literal[
    "pending",  # waiting for votes
    "approved",  # quorum reached; the run is being started (a moment)
    "started",  # the run started (`run_id`)
    "rejected",  # an approver rejected it (`rejection`)
    "expired",  # nobody decided before `expires_at`
    "superseded",  # the plan changed before the run: `superseded_by` is the new approval
    "failed",  # quorum reached but the run could not start (`rejection` says why)
]

RefusalCode = Literal[
    "not-allowed",  # the caller's role does not allow the command
    "wrong-channel",  # a destructive command outside the configured channels
    "break-glass",  # a failover/failback from the CLI without --break-glass and a reason
    "blocked",  # the plan has blockers (`plan` says which)
    "self-approval",  # the requester tried to approve their own request
    "already-voted",  # this approver already approved (a double click, a retry)
    "not-pending",  # the approval was already decided, expired or superseded
    "expired",  # the approval expired before this click
    "not-found",  # no such run or approval
    "busy",  # another run holds a pool of this one
    "run-state",  # the run is not in a state that allows this
    "storage-pending",  # the run waits for a manual storage step to be confirmed
    "engine",  # the engine refused (a target not found, a pool not configured ...)
]


class _Result(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class RunSummary(_Result):
    """A run as lists show it (no plan, no outcome)."""

    id: int
    kind: str
    target: str
    pool: str
    """The pool the run recovers into."""
    protected_pool: str = ""
    """The protected pool it acts for (its source; for a failback, where it goes back to)."""
    state: str
    requested_by: str | None = None
    reason: str | None = None
    plan_hash: str | None = None
    created_at: str
    updated_at: str
    last_step: str | None = None
    error: str | None = None
    vm_count: int = 0
    """How many VMs its plan recovers (for progress bars)."""


class Transition(_Result):
    """One change of a run's state."""

    at: str
    from_state: str | None = None
    to_state: str
    reason: str | None = None


class StepView(_Result):
    """One journaled step of a run."""

    key: str
    name: str
    subject: str | None = None
    status: str
    attempts: int = 0
    task_ref: str | None = None
    error: str | None = None


class VMOutcomeView(_Result):
    """What happened to one VM in a run."""

    uuid: str
    name: str
    appliance: str | None = None
    status: str = ""
    error: str | None = None


class StorageStep(_Result):
    """The manual storage step a paused run waits for."""

    lun: str
    action: str
    instruction: str = ""


class Vote(_Result):
    """One approval by an approver."""

    actor: Actor
    at: datetime


class ApprovalView(_Result):
    """An approval as the front ends show it; `refs` are the front end's own coordinates
    (e.g. the Slack channel and message ts), opaque to the service."""

    id: int
    action: ApprovalAction
    request: Request
    requester: Actor
    reason: str | None = None
    run_id: int | None = None
    plan_hash: str
    quorum: int
    votes: list[Vote] = Field(default_factory=list)
    state: ApprovalState
    created_at: datetime
    expires_at: datetime
    decided_at: datetime | None = None
    decided_by: Actor | None = None
    rejection: str | None = None
    supersedes: int | None = None
    superseded_by: int | None = None
    refs: dict[str, JsonValue] = Field(default_factory=dict)

    @property
    def missing(self) -> int:
        """How many more approvals the quorum needs."""
        return max(0, self.quorum - len(self.votes))


class HelpEntry(_Result):
    name: str
    usage: str
    summary: str


class HelpResult(_Result):
    """The commands the caller may use (only those), or one command's usage."""

    type: Literal["help"] = "help"
    role: Role | None
    commands: list[HelpEntry]


class DrillSummary(_Result):
    run_id: int
    kind: str
    outcome: str
    rto_seconds: float | None = None
    at: str


class PairStatus(_Result):
    """The readiness of one protected pool and its DR pool."""

    protected: str
    dr: str
    verdict: str
    reasons: list[str] = Field(default_factory=list)
    protected_vms: int | None = None
    vms: int | None = None
    rpo_seconds: float | None = None
    last_drill: DrillSummary | None = None


class LunStatus(_Result):
    lun: str
    name: str
    state: str
    lag_seconds: float | None = None


class StatusResult(_Result):
    """Readiness of every pair, replication of every LUN, and the runs not yet ended."""

    type: Literal["status"] = "status"
    pairs: list[PairStatus]
    replication: list[LunStatus]
    replication_error: str | None = None
    active_runs: list[RunSummary]


class PlanResult(_Result):
    """The dry run: the plan, with its checks (blockers included) and hash."""

    type: Literal["plan"] = "plan"
    plan: Plan


class ApprovalOpened(_Result):
    """A run was asked for and waits for approval (or a superseded one was opened again)."""

    type: Literal["approval-opened"] = "approval-opened"
    approval: ApprovalView
    plan: Plan


class ApprovalUpdated(_Result):
    """A vote was counted (quorum not yet reached), or the approval was rejected."""

    type: Literal["approval-updated"] = "approval-updated"
    approval: ApprovalView


class RunStarted(_Result):
    """A run started in the engine's worker; follow it through `Service.subscribe`."""

    type: Literal["run-started"] = "run-started"
    run: RunSummary
    plan: Plan
    approval: ApprovalView | None = None


class RunUpdated(_Result):
    """A run was asked to cancel, resume or abort; the engine's worker does it."""

    type: Literal["run-updated"] = "run-updated"
    action: Literal["cancelling", "resumed", "aborting"]
    run: RunSummary
    storage_step: StorageStep | None = None


class RunView(_Result):
    """One run in full."""

    type: Literal["run"] = "run"
    run: RunSummary
    history: list[Transition]
    steps: list[StepView]
    vms: list[VMOutcomeView]
    notes: list[str] = Field(default_factory=list)
    storage_step: StorageStep | None = None


class RunsList(_Result):
    type: Literal["runs"] = "runs"
    runs: list[RunSummary]


class AuditEntry(_Result):
    seq: int
    at: str
    event_type: str
    actor: str
    payload: dict[str, JsonValue]
    hash: str


class AuditList(_Result):
    """The last entries of the audit trail, oldest first, and whether the chain verifies."""

    type: Literal["audit"] = "audit"
    entries: list[AuditEntry]
    verified: bool


class Refused(_Result):
    """The service will not do it: `reason` says why, `hint` what to do instead."""

    type: Literal["refused"] = "refused"
    code: RefusalCode
    reason: str
    hint: str = ""
    plan: Plan | None = None
    approval: ApprovalView | None = None


class Invalid(_Result):
    """The input is not a valid command: its usage line and the nearest valid command."""

    type: Literal["invalid"] = "invalid"
    message: str
    usage: str = ""
    suggestion: str | None = None


class ReasonNeeded(_Result):
    """The request needs a reason first (the Slack bot opens a modal; the CLI says --reason)."""

    type: Literal["reason-needed"] = "reason-needed"
    request: NeedsReason


EstatePhase = Literal["planned", "awaiting-approval", "started", "finished"]


class EstateItem(_Result):
    """One protected pool of a request over several pools (commands/estate.py)."""

    protected: str
    dr: str
    plan_hash: str
    vms: int = 0
    estimated_rto_seconds: float | None = None
    position: int = 1
    """Its place in the queue of runs into its DR pool when asked: 1 starts at once."""
    state: str = "planned"
    """planned, queued, then its run's state (`paused` while it waits for a person); `held`
    (a run that waits for a person keeps its pools) or `not-started` (its run could not
    start), with `note` saying why and what to type."""
    run_id: int | None = None
    note: str = ""
    vapps: int = 0
    srs: int = 0
    blockers: int = 0
    warnings: int = 0
    plan: Plan | None = None
    """The pool's whole plan, in a dry run (`plan KIND site:NAME`, `plan KIND all pools`)
    only: what each pool's run would do, its checks among it."""


class EstateResult(_Result):
    """A request over several pools (`site:NAME`, `all pools`): one run per protected pool,
    queued per DR pool, under one approval; the same shape when planned, started and at the
    end (`phase`), when it is the one summary of the whole request."""

    type: Literal["estate"] = "estate"
    request_id: str
    kind: str
    scope: str
    phase: EstatePhase
    items: list[EstateItem]
    plan_hash: str
    """What one approval covers: the hash of every pool's plan hash."""
    capacity: list[str] = Field(default_factory=list)
    """What would not fit where (warnings; a failover that does not fit is refused)."""
    approval: ApprovalView | None = None
    would_block: list[str] = Field(default_factory=list)
    """A dry run's (`phase` planned, each item's `plan` set): what would keep a real run of
    this request from starting, one line per pool with blockers (its blockers grouped) and a
    failover's shortfall of room; empty when a run would start. A preview states it; it
    refuses nothing."""


Result = Annotated[
    HelpResult
    | StatusResult
    | PlanResult
    | ApprovalOpened
    | ApprovalUpdated
    | RunStarted
    | RunUpdated
    | RunView
    | RunsList
    | AuditList
    | Refused
    | Invalid
    | ReasonNeeded
    | EstateResult,
    Field(discriminator="type"),
]
