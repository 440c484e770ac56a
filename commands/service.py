"""The one service both front ends call: `Service(...).dispatch(request, actor) -> Result`.

See docs/contracts/commands.md for the whole contract. The service owns policy (who may ask
what, where, break-glass and reasons), planning with the right source and destination per kind,
approvals, runs and the audit trail; the front ends parse and render.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

from pydantic import JsonValue

from commands.actor import Actor
from commands.config import PolicyConfig
from commands.events import Listener
from commands.requests import Request
from commands.results import ApprovalView, Result, Role, RunSummary
from commands.wiring import Wiring

Members = Callable[[str], Iterable[str]]
"""A front end's lookup of a user group's members: group id -> user ids (may raise)."""


class Service:
    """What a person may ask, decided and done the same way for every front end.

    Args:
        wiring: store, clients, storage adapter, planner and runner, built once.
        policy: the `[policy]` section (roles, channels, quorums, expiry).
        members: group id -> member user ids (Slack: `usergroups.users.list`); cached for
            `policy.group_cache_seconds` on the wiring's clock.
    """

    def __init__(
        self, wiring: Wiring, policy: PolicyConfig, *, members: Members | None = None
    ) -> None:
        self.wiring = wiring
        self.policy = policy
        self._members = members

    def dispatch(self, request: Request, actor: Actor) -> Result:
        """Decide on `request` from `actor` and act; never raises for what a person can cause."""
        raise NotImplementedError  # lands with the service (next step of the commands lane)

    def subscribe(self, fn: Listener) -> Callable[[], None]:
        """Receive every run event and approval event; returns the unsubscribe function."""
        raise NotImplementedError

    def interrupted_at_start(self) -> list[RunSummary]:
        """Once at start: mark runs whose process died `interrupted` and return them."""
        raise NotImplementedError

    def expire_approvals(self) -> list[ApprovalView]:
        """Mark pending approvals past their expiry `expired`; returns them."""
        raise NotImplementedError

    def bind(self, approval_id: int, refs: dict[str, JsonValue]) -> ApprovalView:
        """Attach the front end's own coordinates (opaque JSON) to an approval."""
        raise NotImplementedError

    def approval(self, approval_id: int) -> ApprovalView:
        """One approval."""
        raise NotImplementedError

    def pending_approvals(self, actor: Actor) -> list[ApprovalView]:
        """Pending approvals `actor` may still vote on."""
        raise NotImplementedError

    def role_of(self, actor: Actor) -> Role | None:
        """The highest role `actor` holds, directly or through a group."""
        raise NotImplementedError

    def wait(self, run_id: int, timeout: float | None = None) -> RunSummary:
        """Wait (bounded) for this process's worker of a run to end; returns the run."""
        raise NotImplementedError

    def close(self) -> None:
        """Close clients and the store."""
        self.wiring.close()
