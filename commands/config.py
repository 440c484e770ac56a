"""The `[policy]` section of the configuration: roles, channels, quorums, expiry, the drill.

```toml
[policy]
channels = ["C0DRWARROOM"]        # where failover and failback may be asked in chat
[policy.roles]                    # Slack user ids (U…/W…) and user-group ids (S…)
operator = ["U0OLIVIA"]
approver = ["S0DRAPPROVERS"]
[policy.quorum]
failover = 2
```
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from commands.results import ApprovalAction, Role


class Roles(BaseModel):
    """Who holds each role: user ids and group ids (a group's members hold its role)."""

    model_config = ConfigDict(extra="forbid")

    viewer: list[str] = Field(default_factory=list)
    operator: list[str] = Field(default_factory=list)
    approver: list[str] = Field(default_factory=list)
    admin: list[str] = Field(default_factory=list)

    def holders(self, role: Role) -> list[str]:
        """The user and group ids that hold `role`."""
        by_role = {
            "viewer": self.viewer,
            "operator": self.operator,
            "approver": self.approver,
            "admin": self.admin,
        }
        return by_role[role]


class Quorum(BaseModel):
    """Approvals needed (besides the requester) before a run starts, per kind of request."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    test_failover: int = Field(default=1, ge=0, le=10, alias="test-failover")
    failover: int = Field(default=2, ge=1, le=10)
    failback: int = Field(default=2, ge=1, le=10)
    resume: int = Field(default=1, ge=1, le=10)
    abort: int = Field(default=1, ge=1, le=10)

    def of(self, action: ApprovalAction) -> int:
        """The quorum of `action`."""
        by_action = {
            "test-failover": self.test_failover,
            "failover": self.failover,
            "failback": self.failback,
            "resume": self.resume,
            "abort": self.abort,
        }
        return by_action[action]


class Drill(BaseModel):
    """What `drill` (and the weekly schedule) runs: a test failover of `target`."""

    model_config = ConfigDict(extra="forbid")

    target: str = "all"
    disable_ha: bool = True


class PolicyConfig(BaseModel):
    """Who may ask what, where, and how many must agree."""

    model_config = ConfigDict(extra="forbid")

    roles: Roles = Field(default_factory=Roles)
    channels: list[str] = Field(default_factory=list)
    quorum: Quorum = Field(default_factory=Quorum)
    approval_minutes: float = Field(default=30.0, gt=0, le=24 * 60)
    group_cache_seconds: float = Field(default=300.0, ge=0, le=3600)
    storage_role: Role = "operator"
    group_prefix: str = Field(default="S", min_length=1)
    """Holders starting with this are groups (Slack user-group ids start with S)."""
    drill: Drill = Field(default_factory=Drill)
