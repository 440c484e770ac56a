"""Who may ask what, and where: roles, rights, channels; every decision carries its reason.

Roles are ordered viewer < operator < approver < admin, each holding the rights of those below.
A person's role is the highest given to their id or to a group they belong to; groups are read
through the front end's `members` lookup (Slack: `usergroups.users.list`) and cached for
`group_cache_seconds` on the clock, so a person removed from the approvers' group loses the
right within that time.

The CLI is the break-glass path (`via="cli"`): whoever can run it with the configuration file
holds the pools' passwords already, so it holds admin and no channel rule applies; the service
still demands `--break-glass` and a reason for a failover or failback from it. The scheduler
(`via="schedule"`) holds operator: it asks for the drill it was configured to run, and never
for anything that changes production.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterable

from pydantic import BaseModel, ConfigDict

from commands import messages as m
from commands.actor import Actor
from commands.config import PolicyConfig
from commands.requests import Command
from commands.results import ROLES, RefusalCode, Role
from engine.clock import Clock

log = logging.getLogger(__name__)

Members = Callable[[str], Iterable[str]]
"""A front end's lookup of a user group's members: group id -> user ids (may raise)."""

RIGHTS: dict[Command, Role | None] = {
    "help": None,
    "status": "viewer",
    "plan": "viewer",
    "runs": "viewer",
    "show": "viewer",
    "audit": "viewer",
    "test-failover": "operator",
    "failover": "operator",
    "failback": "operator",
    "cancel": "operator",
    "drill": "operator",
    "resume": "operator",
    "abort": "operator",
    "approve": "approver",
    "reject": "approver",
    "confirm-storage": "operator",  # replaced by `storage_role` from the configuration
}
"""The weakest role that may use each command (None: anyone)."""

DESTRUCTIVE_KINDS = frozenset({"failover", "failback"})
"""Kinds of run that change production: asked only in the configured channels, and their
resume or abort from chat needs approval."""


class Decision(BaseModel):
    """Whether `actor` may do `command`, and why (audited as it is)."""

    model_config = ConfigDict(frozen=True)

    allowed: bool
    reason: str
    role: Role | None
    code: RefusalCode | None = None
    hint: str = ""


def rank(role: Role | None) -> int:
    """0 for no role, then 1 (viewer) .. 4 (admin)."""
    return 0 if role is None else ROLES.index(role) + 1


class Policy:
    """Decides on commands from the configuration and the groups' members."""

    def __init__(self, config: PolicyConfig, clock: Clock, members: Members | None = None) -> None:
        self.config = config
        self._clock = clock
        self._members = members
        self._groups: dict[str, tuple[float, frozenset[str]]] = {}
        self._lock = threading.Lock()

    def needed(self, command: Command) -> Role | None:
        """The weakest role that may use `command`."""
        if command == "confirm-storage":
            return self.config.storage_role
        return RIGHTS[command]

    def role_of(self, actor: Actor) -> Role | None:
        """The highest role `actor` holds (the CLI: admin; the scheduler: operator)."""
        if actor.via == "cli":
            return "admin"
        if actor.via == "schedule":
            return "operator"
        best: Role | None = None
        for role in ROLES:
            holders = self.config.roles.holders(role)
            if any(h == actor.id or self._in_group(actor.id, h) for h in holders):
                best = role
        return best

    def may(self, command: Command, role: Role | None) -> bool:
        return rank(role) >= rank(self.needed(command))

    def decide(self, command: Command, actor: Actor, *, destructive: bool = False) -> Decision:
        """May `actor` use `command` here? `destructive`: it changes production (a failover or
        failback, or the resume or abort of one)."""
        role = self.role_of(actor)
        needed = self.needed(command)
        if not self.may(command, role):
            return Decision(
                allowed=False,
                role=role,
                code="not-allowed",
                reason=m.NOT_ALLOWED.format(
                    who=actor.shown, command=command, needed=needed, role=role or m.NO_ROLE
                ),
                hint=m.ASK_ADMIN_FOR_ROLE.format(needed=needed),
            )
        if destructive and actor.via == "schedule":
            return Decision(
                allowed=False,
                role=role,
                code="not-allowed",
                reason=m.SCHEDULE_NOT_DESTRUCTIVE.format(command=command),
                hint=m.ASK_IN_CHAT,
            )
        if destructive and actor.via == "slack" and actor.channel not in self.config.channels:
            hint = m.USE_CHANNELS.format(channels=", ".join(self.config.channels))
            if not self.config.channels:
                hint = m.CONFIGURE_CHANNELS
            return Decision(
                allowed=False,
                role=role,
                code="wrong-channel",
                reason=m.WRONG_CHANNEL.format(command=command),
                hint=hint,
            )
        return Decision(
            allowed=True,
            role=role,
            reason=m.ALLOWED.format(role=role or m.NO_ROLE, needed=needed or m.ANYONE),
        )

    # -- groups ---------------------------------------------------------------------------------

    def _in_group(self, user_id: str, holder: str) -> bool:
        if not holder.startswith(self.config.group_prefix) or self._members is None:
            return False
        return user_id in self._group(holder)

    def _group(self, group_id: str) -> frozenset[str]:
        now = self._clock.monotonic()
        with self._lock:
            cached = self._groups.get(group_id)
        if cached is not None and cached[0] > now:
            return cached[1]
        assert self._members is not None
        try:
            members = frozenset(self._members(group_id))
        except Exception:
            # A lookup that fails grants nothing; the last known members still count until
            # the front end answers again (a brief Slack outage must not lock approvers out).
            log.warning("could not read the members of group %s", group_id, exc_info=True)
            return cached[1] if cached is not None else frozenset()
        with self._lock:
            self._groups[group_id] = (now + self.config.group_cache_seconds, members)
        return members
