"""The [policy] section: defaults from the brief, the shipped example, and bad values refused."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.settings import load_settings
from commands.config import PolicyConfig
from engine.errors import ConfigError

EXAMPLE = Path(__file__).resolve().parents[2] / "deploy" / "drbot.example.toml"


def test_defaults_are_two_approvals_for_failover_and_failback_one_for_a_test():
    """Without a [policy] section: quorum 2/2/1, 30 minutes, no role given to anyone."""
    config = PolicyConfig()
    assert (config.quorum.of("failover"), config.quorum.of("failback")) == (2, 2)
    assert config.quorum.of("test-failover") == 1
    assert config.approval_minutes == 30
    assert config.roles.approver == []
    assert config.channels == []


def test_the_example_configuration_has_a_working_policy_section():
    """deploy/drbot.example.toml loads with its roles, channel and quorums."""
    policy = load_settings(EXAMPLE).policy
    assert policy.channels == ["C0DRWARROOM"]
    assert policy.roles.approver == ["S0DRAPPROVERS"]
    assert policy.quorum.of("test-failover") == 1
    assert policy.quorum.of("failover") == 2
    assert policy.drill.target == "all"


def test_a_zero_quorum_is_allowed_for_a_test_failover_only(tmp_path):
    """quorum.test-failover = 0 loads; quorum.failover = 0 is refused naming the setting."""
    base = EXAMPLE.read_text()
    ok = tmp_path / "ok.toml"
    ok.write_text(base.replace("test-failover = 1 ", "test-failover = 0 "))
    assert load_settings(ok).policy.quorum.of("test-failover") == 0
    bad = tmp_path / "bad.toml"
    bad.write_text(base.replace("failover = 2", "failover = 0"))
    with pytest.raises(ConfigError, match=r"policy\.quorum\.failover"):
        load_settings(bad)


def test_an_unknown_policy_key_is_refused(tmp_path):
    """A misspelt key in [policy] (approval_minute) is an error, not silently ignored."""
    bad = tmp_path / "bad.toml"
    bad.write_text(EXAMPLE.read_text().replace("approval_minutes", "approval_minute"))
    with pytest.raises(ConfigError, match="approval_minute"):
        load_settings(bad)
