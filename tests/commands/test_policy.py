"""The policy as tables: who may use each command, where, and how groups are read and cached."""

from __future__ import annotations

import pytest

from commands.actor import Actor
from commands.policy import Policy
from engine.clock import ManualClock
from tests.commands.conftest import (
    ADA,
    ALEX,
    CHANNEL,
    CLI,
    NOBODY,
    OLIVIA,
    SAM,
    SCHEDULE,
    VICTOR,
    person,
    policy,
)

GROUPS = {"S0APPROVERS": ["U0ALEX", "U0PRIYA"]}

# (actor, command, destructive, allowed, refusal code); literal expectations from the brief:
# viewer < operator < approver < admin, destructive kinds only in the configured channels.
TABLE = [
    (NOBODY, "help", False, True, None),
    (NOBODY, "status", False, False, "not-allowed"),
    (VICTOR, "status", False, True, None),
    (VICTOR, "plan", False, True, None),
    (VICTOR, "runs", False, True, None),
    (VICTOR, "show", False, True, None),
    (VICTOR, "audit", False, True, None),
    (VICTOR, "test-failover", False, False, "not-allowed"),
    (VICTOR, "approve", False, False, "not-allowed"),
    (OLIVIA, "test-failover", False, True, None),
    (OLIVIA, "failover", True, True, None),
    (OLIVIA, "failback", True, True, None),
    (OLIVIA, "drill", False, True, None),
    (OLIVIA, "cancel", False, True, None),
    (OLIVIA, "confirm-storage", False, True, None),
    (OLIVIA, "approve", False, False, "not-allowed"),
    (OLIVIA, "reject", False, False, "not-allowed"),
    (ALEX, "approve", False, True, None),
    (ALEX, "reject", False, True, None),
    (ALEX, "failover", True, True, None),
    (SAM, "approve", False, True, None),
    (ADA, "approve", False, True, None),
    (ADA, "failover", True, True, None),
    (person("U0OLIVIA", channel="C0RANDOM"), "failover", True, False, "wrong-channel"),
    (person("U0OLIVIA", channel=None), "failback", True, False, "wrong-channel"),
    (person("U0OLIVIA", channel="C0RANDOM"), "test-failover", False, True, None),
    (person("U0NOBODY", channel="C0RANDOM"), "failover", True, False, "not-allowed"),
    (CLI, "failover", True, True, None),
    (CLI, "approve", False, True, None),
    (SCHEDULE, "drill", False, True, None),
    (SCHEDULE, "status", False, True, None),
    (SCHEDULE, "approve", False, False, "not-allowed"),
    (Actor(id="U0OLIVIA", via="schedule"), "failover", True, False, "not-allowed"),
    (SCHEDULE, "resume", True, False, "not-allowed"),
    (SCHEDULE, "resume", False, True, None),
]


@pytest.mark.parametrize(("actor", "command", "destructive", "allowed", "code"), TABLE)
def test_each_rule_of_the_policy(actor, command, destructive, allowed, code):
    """Each (who, what, where) gets the decision of the table, and a reason either way."""
    rules = Policy(policy(), ManualClock(), lambda g: GROUPS.get(g, []))
    decision = rules.decide(command, actor, destructive=destructive)
    assert decision.allowed is allowed
    assert decision.code == code
    assert decision.reason
    if not allowed:
        assert decision.hint


def test_a_refusal_names_the_role_needed_and_the_role_held():
    """Victor asking for a test failover is told it needs operator and he holds viewer."""
    decision = Policy(policy(), ManualClock()).decide("test-failover", VICTOR)
    assert "operator" in decision.reason
    assert "viewer" in decision.reason
    assert "U0VICTOR" in decision.reason  # no display name: the id is shown


def test_no_channel_configured_refuses_destructive_commands_with_the_fix():
    """With `channels` empty, a failover from chat is refused and the hint says to set it."""
    decision = Policy(policy(channels=[]), ManualClock()).decide(
        "failover", OLIVIA, destructive=True
    )
    assert decision.code == "wrong-channel"
    assert "channels" in decision.hint


def test_the_channel_refusal_lists_the_configured_channels():
    """A failover typed elsewhere is refused naming where to ask."""
    decision = Policy(policy(), ManualClock()).decide(
        "failover", person("U0OLIVIA", channel="C0RANDOM"), destructive=True
    )
    assert CHANNEL in decision.hint


def test_storage_role_is_configurable():
    """With storage_role = approver, an operator may not confirm a storage step."""
    rules = Policy(policy(storage_role="approver"), ManualClock(), lambda g: GROUPS.get(g, []))
    assert not rules.decide("confirm-storage", OLIVIA).allowed
    assert rules.decide("confirm-storage", ALEX).allowed


def test_group_members_are_cached_until_the_expiry_then_read_again():
    """Groups are read once per group_cache_seconds: a removed approver loses the right after."""
    clock = ManualClock()
    members = {"S0APPROVERS": ["U0ALEX"]}
    calls: list[str] = []

    def lookup(group: str) -> list[str]:
        calls.append(group)
        return members.get(group, [])

    rules = Policy(policy(group_cache_seconds=60), clock, lookup)
    assert rules.role_of(ALEX) == "approver"
    assert rules.role_of(ALEX) == "approver"
    assert calls == ["S0APPROVERS"]
    members["S0APPROVERS"] = []
    clock.advance(59)
    assert rules.role_of(ALEX) == "approver"
    clock.advance(2)
    assert rules.role_of(ALEX) is None
    assert calls == ["S0APPROVERS", "S0APPROVERS"]


def test_a_failing_group_lookup_keeps_the_last_members_and_never_grants_more():
    """If the lookup raises, known members keep their role and strangers get none."""
    clock = ManualClock()
    state = {"fail": False}

    def lookup(group: str) -> list[str]:
        if state["fail"]:
            raise ConnectionError("slack is down")
        return ["U0ALEX"]

    rules = Policy(policy(group_cache_seconds=10), clock, lookup)
    assert rules.role_of(ALEX) == "approver"
    state["fail"] = True
    clock.advance(11)
    assert rules.role_of(ALEX) == "approver"
    assert rules.role_of(NOBODY) is None
    fresh = Policy(policy(), clock, lookup)
    assert fresh.role_of(ALEX) is None


def test_user_ids_are_never_looked_up_as_groups():
    """Only holders with the group prefix are asked for members (user ids are compared)."""
    asked: list[str] = []
    rules = Policy(policy(), ManualClock(), lambda g: asked.append(g) or [])
    rules.role_of(NOBODY)
    assert asked == ["S0APPROVERS"]
