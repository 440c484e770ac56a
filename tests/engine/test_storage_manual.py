"""The manual storage adapter pauses each step until a person confirms it."""

from __future__ import annotations

import pytest

from engine.config import StorageSettings
from engine.errors import ManualStepRequired, StorageError
from engine.storage import adapter_from_config
from engine.storage.base import ReplicatedLun, StorageAdapter
from engine.storage.manual import ManualStorageAdapter

LUN = ReplicatedLun(
    lun="gold-01",
    sr_uuid="0b1e6a52-1f1c-4a55-9f55-5a1c0e4c1b01",
    name="Gold iSCSI 01",
    state="replicating",
    mirror_device_config={"target": "10.20.1.50", "SCSIid": "3600a0b8"},
)


def test_each_step_waits_for_confirmation_with_an_instruction():
    """promote raises ManualStepRequired naming the LUN and what to do, until confirmed."""
    adapter = ManualStorageAdapter([LUN])
    with pytest.raises(ManualStepRequired) as err:
        adapter.promote("gold-01")
    assert err.value.lun == "gold-01"
    assert err.value.action == "promote"
    assert "Break the mirror" in err.value.instruction
    assert "Confirm" in str(err.value)
    adapter.confirm("gold-01", "promote")
    assert adapter.promote("gold-01").state == "promoted"
    assert adapter.state()[0].state == "promoted"


def test_confirmations_are_per_action_and_can_live_in_a_caller_store():
    """A confirmation of one action does not confirm another; the mapping passed in keeps them."""
    kept: dict[str, bool] = {}
    adapter = ManualStorageAdapter([LUN], confirmed=kept)
    adapter.confirm("gold-01", "present_test_copy")
    copy = adapter.present_test_copy("gold-01")
    assert copy.test_copy_device_config == LUN.mirror_device_config
    with pytest.raises(ManualStepRequired):
        adapter.remove_test_copy("gold-01")
    again = ManualStorageAdapter([LUN], confirmed=kept)
    assert again.is_confirmed("gold-01", "present_test_copy")


def test_unknown_lun_is_a_storage_error_saying_where_to_configure():
    """Acting on a LUN that is not configured names the config section to fix."""
    adapter = ManualStorageAdapter([LUN])
    with pytest.raises(StorageError, match=r"storage\.luns"):
        adapter.sync("nope")


def test_adapter_from_config_builds_the_configured_adapter():
    """storage.adapter = manual with luns gives a ManualStorageAdapter over those LUNs."""
    settings = StorageSettings(
        adapter="manual",
        luns=[{"lun": "gold-01", "sr_uuid": LUN.sr_uuid, "mirror_device_config": {"a": "b"}}],
    )
    adapter = adapter_from_config(settings)
    assert isinstance(adapter, StorageAdapter)
    assert adapter.name == "manual"
    assert [lun.lun for lun in adapter.state()] == ["gold-01"]


def _confirmed(adapter: ManualStorageAdapter, action: str) -> tuple[str, str]:
    """Do `action` as the storage team would; returns (the LUN's state, the instruction seen)."""
    with pytest.raises(ManualStepRequired) as err:
        getattr(adapter, action)("gold-01")
    adapter.confirm("gold-01", action)
    return getattr(adapter, action)("gold-01").state, err.value.instruction


def test_failover_then_failback_ends_replicating_towards_the_dr_site_again():
    """promote, reverse, promote, reverse: the LUN is 'replicating' again, also after a restart."""
    kept: dict = {}
    adapter = ManualStorageAdapter([LUN], confirmed=kept)
    assert _confirmed(adapter, "promote")[0] == "promoted"
    state, told = _confirmed(adapter, "reverse")
    assert (state, "back to the primary" in told) == ("reversed", True)
    state, told = _confirmed(adapter, "promote")
    assert (state, "primary site's copy" in told) == ("promoted", True)
    state, told = _confirmed(adapter, "reverse")
    assert (state, "re-protection" in told) == ("replicating", True)
    assert ManualStorageAdapter([LUN], confirmed=kept).state()[0].state == "replicating"
