"""Storage replication adapters: how the engine reads and steers the array's LUN replication.

The port is `base.StorageAdapter`; `adapter_from_config` picks an implementation here, above
them, so that no implementation and the port import each other.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from engine.storage.base import ReplicatedLun, StorageAdapter
from engine.storage.manual import ManualStorageAdapter
from engine.storage.sim import SimStorageAdapter

if TYPE_CHECKING:
    from engine.config import StorageSettings

__all__ = ["ReplicatedLun", "StorageAdapter", "adapter_from_config"]


def adapter_from_config(settings: StorageSettings) -> StorageAdapter:
    """The adapter the configuration names."""
    if settings.adapter == "sim":
        assert settings.control_url is not None
        return SimStorageAdapter(settings.control_url)
    return ManualStorageAdapter(
        [ReplicatedLun.model_validate(lun.model_dump()) for lun in settings.luns]
    )
