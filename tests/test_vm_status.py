"""What each VM status means for a run, checked against a table written out here (not read
from `store.outcomes`): which statuses end a VM's part in a run, and which count as success
for each power setting a plan can carry."""

from __future__ import annotations

import pytest

from store.outcomes import Kind, VMStatus

STATUSES = [
    "pending",
    "recovered",
    "started",
    "started-paused",
    "not-in-metadata",
    "not-protected",
    "recover-failed",
    "start-failed",
    "ha-refused",
    "skipped",
    "not-run",
]
# power_after -> the statuses that are a success under it
SUCCESS = {
    "start": {"started", "started-paused"},
    "start-paused": {"started", "started-paused"},
    "leave-off": {"recovered"},
}
# Not final: a pending VM is still to come; a recovered one still has to start (unless the
# plan leaves VMs off).
NOT_FINAL = {"pending", "recovered"}


def test_the_statuses_and_kinds_are_the_documented_ones() -> None:
    """A VM's statuses and a run's kinds are exactly these words (they are stored as JSON)."""
    assert [s.value for s in VMStatus] == STATUSES
    assert [k.value for k in Kind] == ["test-failover", "failover", "failback"]


@pytest.mark.parametrize("power_after", sorted(SUCCESS))
@pytest.mark.parametrize("status", STATUSES)
def test_success_per_power_setting(status: str, power_after: str) -> None:
    """A VM succeeded exactly when its status is in the table's row for the plan's power."""
    assert VMStatus(status).succeeded(power_after) is (status in SUCCESS[power_after])


@pytest.mark.parametrize("status", STATUSES)
def test_which_statuses_are_final(status: str) -> None:
    """Every status but pending and recovered is final; recovered is final only for a plan
    that leaves VMs off, and pending never is."""
    vm = VMStatus(status)
    assert vm.settled is (status not in NOT_FINAL)
    assert vm.settled_for("start") is (status not in NOT_FINAL)
    assert vm.settled_for("leave-off") is (status != "pending")
