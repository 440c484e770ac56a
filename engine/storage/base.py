"""The storage replication adapter port: what the engine needs of the array that mirrors the LUNs.

XAPI knows nothing of array replication (reference §7.8: it cannot tell how far behind a mirror
is), so readiness reads the lag here, and every run asks the adapter to present, promote or
reverse mirrors before it attaches them with `DR_task.create`.

An implementation must guarantee:
- `state()` reads and never changes anything; it lists every replicated LUN it knows.
- The actions are idempotent: asking for what is already so (promoting a promoted LUN,
  removing an absent test copy) succeeds and changes nothing, so a resumed run can repeat them.
- Failures raise `engine.errors.StorageError` with a message saying what to do;
  `ManualStepRequired` means a person must act and then `confirm(lun, action)`.
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal, Protocol, runtime_checkable

from pydantic import BaseModel, ConfigDict, Field

LunState = Literal["replicating", "promoted", "reversed", "failed", "unknown"]
Action = Literal["present_test_copy", "remove_test_copy", "promote", "reverse", "sync"]


class ReplicatedLun(BaseModel):
    """One replicated LUN as the array reports it.

    `mirror_device_config` is what `DR_task.create` needs to reach the mirror at the DR site;
    `test_copy_device_config` the same for a presented test copy (None when none is presented).
    `lag_seconds` is the RPO right now (None when the adapter cannot know it).
    """

    model_config = ConfigDict(extra="ignore")

    lun: str
    sr_uuid: str
    name: str = ""
    source_site: str = ""
    target_site: str = ""
    state: LunState = "unknown"
    lag_seconds: float | None = None
    # Writes made at the source and not yet at the mirror (None when unknown).
    pending_writes: int | None = None
    last_replicated_at: datetime | None = None
    mirror_device_config: dict[str, str] = Field(default_factory=dict)
    test_copy_device_config: dict[str, str] | None = None


@runtime_checkable
class StorageAdapter(Protocol):
    """What the engine asks of the array (see the module docstring for the guarantees)."""

    name: str

    def state(self) -> list[ReplicatedLun]:
        """Every replicated LUN with its state and lag; no side effects."""
        ...

    def present_test_copy(self, lun: str) -> ReplicatedLun:
        """Present a writable copy of the mirror at the DR site; replication goes on."""
        ...

    def remove_test_copy(self, lun: str) -> ReplicatedLun:
        """Remove the test copy presented by `present_test_copy`."""
        ...

    def promote(self, lun: str) -> ReplicatedLun:
        """Break the mirror and make the DR copy writable (failover)."""
        ...

    def reverse(self, lun: str) -> ReplicatedLun:
        """Replicate from the DR site back to the primary (before a failback)."""
        ...

    def sync(self, lun: str) -> ReplicatedLun:
        """Push pending writes now; returns when the lag is zero (planned failover)."""
        ...
