"""Storage replication adapters: how the engine reads and steers the array's LUN replication."""

from engine.storage.base import ReplicatedLun, StorageAdapter, adapter_from_config

__all__ = ["ReplicatedLun", "StorageAdapter", "adapter_from_config"]
