"""What a person may ask the service, one typed request per command (a discriminated union).

Both front ends build these: the Slack bot from `/dr` text (`commands.parse`) and from button
clicks and modals, the CLI from its typer options. The service then decides and acts on the
request alone, so the same words give the same decision, plan, audit entries and run.

Targets are kept as the person wrote them, normalised to `a,b,c` (items split on commas,
semicolons and new lines, blanks dropped): the planner resolves each item (`all`, a vApp name
or uuid, a VM name or uuid, `app:NAME`, `vm:NAME`).

A failover or failback needs a reason; `reason` is None only while a front end asks for it
(the Slack bot opens a modal): the service refuses such a request with `ReasonNeeded`.
"""

from __future__ import annotations

import re
from typing import Annotated, Literal, get_args

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, TypeAdapter

from commands import messages
from engine.models import PowerAfter
from store import Kind

MAX_TARGET = 2000
MAX_REASON = 1000
_SPLIT = re.compile(r"[,;\n]+")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def normalise_target(text: str) -> str:
    """`'web, crm;;db'` -> `'web,crm,db'`; refuses an empty target or control characters."""
    items = [item.strip() for item in _SPLIT.split(text)]
    items = [item for item in items if item]
    if not items:
        raise ValueError(messages.TARGET_EMPTY)
    for item in items:
        if _CONTROL.search(item):
            raise ValueError(messages.TARGET_CONTROL)
    return ",".join(items)


def _reason(text: str) -> str:
    text = text.strip()
    if not text:
        raise ValueError(messages.REASON_EMPTY)
    return text


Target = Annotated[str, Field(max_length=MAX_TARGET), AfterValidator(normalise_target)]
Reason = Annotated[str, Field(max_length=MAX_REASON), AfterValidator(_reason)]
RunId = Annotated[int, Field(ge=1)]
ApprovalId = Annotated[int, Field(ge=1)]
PoolName = Annotated[str, Field(min_length=1, max_length=200)]


class _Request(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class HelpRequest(_Request):
    """`help [COMMAND]`: the commands the caller may use (or one command's usage)."""

    command: Literal["help"] = "help"
    topic: str | None = Field(default=None, max_length=100)


class StatusRequest(_Request):
    """`status [POOL]`: readiness of every pair (or the pair of POOL), replication, runs."""

    command: Literal["status"] = "status"
    pool: PoolName | None = None


class PlanRequest(_Request):
    """`plan KIND TARGET`: the dry run; what a run of KIND would do, with its checks and hash."""

    command: Literal["plan"] = "plan"
    kind: Kind
    target: Target
    pool: PoolName | None = None
    power: PowerAfter | None = None
    planned: bool = False
    disable_ha: bool = False


class TestFailoverRequest(_Request):
    """`test-failover TARGET`: recover copies at the DR pool, start nothing live, clean up."""

    __test__ = False  # not a pytest class, whatever its name says

    command: Literal["test-failover"] = "test-failover"
    target: Target
    reason: Reason | None = None  # optional for a test: recorded with the run when given
    pool: PoolName | None = None
    power: PowerAfter | None = None
    disable_ha: bool = False


class FailoverRequest(_Request):
    """`failover TARGET [--planned] --reason TEXT`: move production to the DR pool."""

    command: Literal["failover"] = "failover"
    target: Target
    reason: Reason | None = None
    planned: bool = False
    pool: PoolName | None = None
    power: PowerAfter | None = None
    break_glass: bool = False


class FailbackRequest(_Request):
    """`failback TARGET --reason TEXT`: bring production back from the DR pool."""

    command: Literal["failback"] = "failback"
    target: Target
    reason: Reason | None = None
    pool: PoolName | None = None
    power: PowerAfter | None = None
    break_glass: bool = False


class RunsRequest(_Request):
    """`runs [--pool POOL]`: the newest runs first (only those of protected pool POOL)."""

    command: Literal["runs"] = "runs"
    limit: int = Field(default=20, ge=1, le=200)
    pool: PoolName | None = None


class ShowRequest(_Request):
    """`show RUN`: one run with its history, journal and each VM's outcome."""

    command: Literal["show"] = "show"
    run_id: RunId


class CancelRequest(_Request):
    """`cancel RUN`: stop a running run (steps in flight finish; a test failover cleans up)."""

    command: Literal["cancel"] = "cancel"
    run_id: RunId


class ResumeRequest(_Request):
    """`resume RUN [--storage-done]`: go on with an interrupted or paused run."""

    command: Literal["resume"] = "resume"
    run_id: RunId
    storage_done: bool = False


class AbortRequest(_Request):
    """`abort RUN`: undo what a run created."""

    command: Literal["abort"] = "abort"
    run_id: RunId


class DrillRequest(_Request):
    """`drill`: the weekly DR drill (a test failover of the configured target), now."""

    command: Literal["drill"] = "drill"
    pool: PoolName | None = None


class AuditRequest(_Request):
    """`audit [N]`: the last N entries of the audit trail, and whether the chain verifies."""

    command: Literal["audit"] = "audit"
    limit: int = Field(default=20, ge=1, le=500)


class ApproveRequest(_Request):
    """The Approve button of an approval."""

    command: Literal["approve"] = "approve"
    approval_id: ApprovalId


class RejectRequest(_Request):
    """The Reject button (and its modal asking why)."""

    command: Literal["reject"] = "reject"
    approval_id: ApprovalId
    reason: Reason | None = None


class ConfirmStorageRequest(_Request):
    """The storage team's Done button: the manual storage step a run waits for was done.

    `lun` and `action` name the step the button was posted for: a Done clicked on an older
    step's message (a stale screen, a second click after the run went on to the next LUN)
    must not confirm the step the run waits for now, which nobody has done yet."""

    command: Literal["confirm-storage"] = "confirm-storage"
    run_id: RunId
    lun: str | None = Field(default=None, max_length=200)
    action: str | None = Field(default=None, max_length=40)


Request = Annotated[
    HelpRequest
    | StatusRequest
    | PlanRequest
    | TestFailoverRequest
    | FailoverRequest
    | FailbackRequest
    | RunsRequest
    | ShowRequest
    | CancelRequest
    | ResumeRequest
    | AbortRequest
    | DrillRequest
    | AuditRequest
    | ApproveRequest
    | RejectRequest
    | ConfirmStorageRequest,
    Field(discriminator="command"),
]
"""Any request; `REQUEST.validate_python({"command": "status"})` builds one from plain data."""

REQUEST: TypeAdapter[Request] = TypeAdapter(Request)

RunRequest = TestFailoverRequest | FailoverRequest | FailbackRequest
"""The requests that start a run of the engine."""

NeedsReason = FailoverRequest | FailbackRequest | RejectRequest
"""The requests that are refused without a reason (the bot asks for it in a modal)."""

Command = Literal[
    "help",
    "status",
    "plan",
    "test-failover",
    "failover",
    "failback",
    "runs",
    "show",
    "cancel",
    "resume",
    "abort",
    "drill",
    "audit",
    "approve",
    "reject",
    "confirm-storage",
]
COMMANDS: tuple[Command, ...] = get_args(Command)
"""Every command, in the order help lists them."""


ALL_POOLS = "all pools"
SITE_PREFIX = "site:"


class EstateScope(BaseModel):
    """A TARGET naming pools rather than VMs: every pool of a site (`site:NAME`), or every
    protected pool of the estate (`all pools`). Each pool's run recovers all its VMs."""

    model_config = ConfigDict(frozen=True)

    site: str | None = None
    """The site; None for every pool."""

    @property
    def label(self) -> str:
        return f"{SITE_PREFIX}{self.site}" if self.site is not None else ALL_POOLS


def estate_scope(target: str) -> EstateScope | None:
    """The scope a (normalised) TARGET names, or None for a TARGET of VMs and vApps. `/dr`
    splits `all pools` into two items (`all,pools`): both spellings mean every pool."""
    items = [item.strip() for item in target.split(",")]
    lowered = [item.lower() for item in items]
    if lowered in (["all pools"], ["all", "pools"]):
        return EstateScope()
    if len(items) == 1 and lowered[0].startswith(SITE_PREFIX) and items[0][len(SITE_PREFIX) :]:
        return EstateScope(site=items[0][len(SITE_PREFIX) :].strip())
    return None
