"""What a run is and how it ended: its kind, each VM's status and outcome, and the run's notes.

These are the words a run is recorded in, so they live at the bottom of the house: the engine
writes them, the store keeps them (as JSON), and the front ends read them back as these types.

`RunOutcome` is what a run leaves: one `VMOutcome` per VM of its plan (keyed by VM uuid) and
the notes a person must read (irreversible steps, LUNs that failed or were not re-protected),
kept apart so nothing needs to tell a VM from a note.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, model_validator


class Kind(StrEnum):
    """What a run does to the pools."""

    TEST_FAILOVER = "test-failover"
    """Recover test copies of the mirrors at the DR site, start, measure, then remove it all."""
    FAILOVER = "failover"
    """Promote the mirrors and recover at the DR site (planned: shut down at the source first)."""
    FAILBACK = "failback"
    """Recover at the original pool from the DR site's replicated metadata, then re-protect."""


class VMStatus(StrEnum):
    """Where one VM of a run stands. The same for every kind: a VM succeeded when it reached
    what the plan's power setting asks (`succeeded`): started (or started paused) for a plan
    that starts VMs, recovered for a plan that leaves them off (`power_after = leave-off`)."""

    PENDING = "pending"
    """Not reached yet. Never final: a run that stops settles every pending VM as `not-run`."""
    RECOVERED = "recovered"
    """Recreated in the destination pool from the metadata, not started (yet). Final, and a
    success, when the plan leaves VMs off; otherwise the VM still has to start."""
    STARTED = "started"
    """Recovered and running in the destination pool. Final; a success for every kind."""
    STARTED_PAUSED = "started-paused"
    """Recovered and started paused (a test failover's default: no network traffic). Final;
    a success for every kind."""
    NOT_IN_METADATA = "not-in-metadata"
    """The replicated metadata does not hold the VM (created inside the replication lag?).
    Final; a failure."""
    NOT_PROTECTED = "not-protected"
    """A disk of the VM (or of its snapshots, or its suspend image) is on storage that is not
    replicated to the DR site (local storage, an SR whose LUN is not mirrored): it was never
    recoverable there, which readiness and the planner call "not protected"; `error` names the
    SR. Found by the run only when its plan was made blind (the source unread). Final; a
    failure."""
    RECOVER_FAILED = "recover-failed"
    """XAPI refused to recover the VM (or its vApp); `error` says why. Final; a failure."""
    START_FAILED = "start-failed"
    """Recovered, but XAPI could not start it; `error` says why. Final; a failure."""
    HA_REFUSED = "ha-refused"
    """Recovered, but XAPI refused to start it because the destination's HA could then no
    longer restart its protected VMs after the host failures it must tolerate
    (`HA_OPERATION_WOULD_BREAK_FAILOVER_PLAN`); `error` says what to do. Final; a failure."""
    SKIPPED = "skipped"
    """Not attempted because a step it depends on failed (e.g. its vApp's recovery). Final;
    a failure."""
    NOT_RUN = "not-run"
    """The run stopped (failed, cancelled, a LUN it needs failed) before reaching it; `error`
    says why. Final; a failure."""

    @property
    def settled(self) -> bool:
        """Nothing more happens to the VM in this run (`recovered` aside: see `settled_for`)."""
        return self not in (VMStatus.PENDING, VMStatus.RECOVERED)

    def settled_for(self, power_after: str) -> bool:
        """Nothing more happens to the VM in a run whose plan says `power_after`."""
        return self.settled or (self is VMStatus.RECOVERED and power_after == "leave-off")

    def succeeded(self, power_after: str) -> bool:
        """The VM reached what a plan with this `power_after` wants."""
        if power_after == "leave-off":
            return self is VMStatus.RECOVERED
        return self in (VMStatus.STARTED, VMStatus.STARTED_PAUSED)


class VMOutcome(BaseModel):
    """How one VM of a run ended (or stands, while the run goes)."""

    model_config = ConfigDict(extra="forbid")

    name: str
    appliance: str | None = None
    status: VMStatus = VMStatus.PENDING
    error: str | None = None
    recovered_at: str | None = None
    """When its recovery finished (ISO 8601), if it did."""
    started_at: str | None = None
    """When its start finished (ISO 8601), if it did."""
    cleaned_up: bool = False
    """A test failover removed it again."""
    step: str | None = None
    """The step that failed for it ("recover VM", "start VM"), if one did."""
    code: str | None = None
    """The error code of that failure: XAPI's (`HOST_NOT_ENOUGH_FREE_MEMORY`), or ours
    (`TIMEOUT`: its task outlived the task timeout; `NOT_IN_METADATA`)."""


class RunOutcome(BaseModel):
    """What a run leaves: each VM's outcome by uuid, and notes for a person."""

    model_config = ConfigDict(extra="forbid")

    vms: dict[str, VMOutcome] = Field(default_factory=dict)
    notes: list[str] = Field(default_factory=list)

    @model_validator(mode="before")
    @classmethod
    def _from_first_format(cls, data: Any) -> Any:
        """Runs recorded before this model kept the VMs at the top level beside a `_notes`
        entry (and `recover_at` / `start_at`): read them as this model."""
        if not isinstance(data, dict) or "vms" in data or "notes" in data:
            return data
        notes = (data.get("_notes") or {}).get("notes", [])
        vms = {}
        for uuid, entry in data.items():
            if uuid.startswith("_") or not isinstance(entry, dict):
                continue
            entry = dict(entry)
            for old, new in (("recover_at", "recovered_at"), ("start_at", "started_at")):
                if old in entry:
                    entry[new] = entry.pop(old)
            vms[uuid] = entry
        return {"vms": vms, "notes": notes}

    def statuses(self) -> dict[str, VMStatus]:
        """VM name -> status (names are unique within a plan)."""
        return {o.name: o.status for o in self.vms.values()}
