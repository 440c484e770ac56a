"""The sim storage adapter reads and steers replication through the simulator's control API."""

from __future__ import annotations

import pytest

from engine.errors import StorageError
from engine.inventory import Inventory


def test_state_lists_the_replicated_luns_of_the_demo(sim):
    """Every replicated SR of prod appears once, with its uuid, sites and lag."""
    world = sim("demo")
    luns = world.storage().state()
    inv = Inventory.load(world.client("prod"))
    replicated = {
        sr.uuid for sr in inv.srs.values() if sr.name_label.startswith(("Gold", "Silver"))
    }
    assert {lun.sr_uuid for lun in luns} == replicated
    assert all(lun.source_site == "primary" for lun in luns)
    assert all(lun.target_site == "dr" for lun in luns)
    assert all(lun.state == "replicating" for lun in luns)
    assert all(lun.mirror_device_config for lun in luns)


def test_test_copy_is_presented_and_removed(sim):
    """present_test_copy gives a device config for the copy; remove_test_copy takes it away."""
    world = sim("demo")
    adapter = world.storage()
    lun = adapter.state()[0].lun
    presented = adapter.present_test_copy(lun)
    assert presented.test_copy_device_config
    assert presented.test_copy_device_config != presented.mirror_device_config
    assert adapter.remove_test_copy(lun).test_copy_device_config is None


def test_promote_and_sync_change_the_state(sim):
    """sync leaves no pending write; promote breaks the mirror."""
    world = sim("demo")
    adapter = world.storage()
    lun = next(x for x in adapter.state() if x.pending_writes)
    assert adapter.sync(lun.lun).pending_writes == 0
    assert adapter.promote(lun.lun).state == "promoted"


def test_unknown_lun_is_a_storage_error_with_the_simulators_reason(sim):
    """Acting on a LUN the array does not know raises StorageError quoting the reason."""
    world = sim("demo")
    with pytest.raises(StorageError) as err:
        world.storage().promote("no-such-lun")
    assert "no-such-lun" in str(err.value)
