"""The states of a run and the only transitions allowed between them.

A run is a persisted state machine (shared/reference/style.md lesson 8): every change of state
goes through `Runs.transition`, which checks `ALLOWED` and writes the journal row in the same
transaction, so the history of a run can never disagree with its current state.

`interrupted` is the *crashed* state, kept apart from `failed`: a run is interrupted when the
process that drove it died (found at boot with an expired lease), failed when the run itself
decided it could not go on. Only a person moves an interrupted run on, by resume or abort.
"""

from __future__ import annotations

from enum import StrEnum


class RunState(StrEnum):
    """Where a run is. Terminal states are listed in `TERMINAL`."""

    QUEUED = "queued"
    """Created and holding its pool's lease; no side effect yet."""
    RUNNING = "running"
    """A worker is executing steps."""
    PAUSED = "paused"
    """Waiting for a person to confirm a manual storage step."""
    SUCCEEDED = "succeeded"
    """Every VM reached its planned outcome."""
    PARTIALLY_SUCCEEDED = "partially-succeeded"
    """Some VMs reached their outcome and some did not; each VM's outcome is recorded."""
    FAILED = "failed"
    """The run stopped on an error it could not get past."""
    INTERRUPTED = "interrupted"
    """The process driving the run died; resume or abort it."""
    CANCELLED = "cancelled"
    """A person asked the run to stop; what it created was cleaned up where the kind says so."""
    ABORTING = "aborting"
    """Undoing what the run created, newest first."""
    ABORTED = "aborted"
    """Everything the run created was undone."""


TERMINAL = frozenset(
    {
        RunState.SUCCEEDED,
        RunState.PARTIALLY_SUCCEEDED,
        RunState.FAILED,
        RunState.CANCELLED,
        RunState.ABORTED,
    }
)

ACTIVE = frozenset({RunState.QUEUED, RunState.RUNNING, RunState.PAUSED, RunState.ABORTING})
"""States in which a worker (or a person, for `paused`) is expected to move the run on."""

HOLDS_POOL = ACTIVE | {RunState.INTERRUPTED}
"""States in which a run keeps its pool from any other run."""

_S = RunState
ALLOWED: dict[RunState, frozenset[RunState]] = {
    _S.QUEUED: frozenset({_S.RUNNING, _S.CANCELLED, _S.FAILED, _S.INTERRUPTED}),
    _S.RUNNING: frozenset(
        {
            _S.PAUSED,
            _S.SUCCEEDED,
            _S.PARTIALLY_SUCCEEDED,
            _S.FAILED,
            _S.INTERRUPTED,
            _S.CANCELLED,
            _S.ABORTING,
        }
    ),
    _S.PAUSED: frozenset({_S.RUNNING, _S.INTERRUPTED, _S.CANCELLED, _S.ABORTING, _S.FAILED}),
    _S.INTERRUPTED: frozenset({_S.RUNNING, _S.ABORTING}),
    _S.ABORTING: frozenset({_S.ABORTED, _S.FAILED, _S.INTERRUPTED}),
    # A failed or cancelled run may still have left things behind: abort cleans them up.
    _S.FAILED: frozenset({_S.ABORTING}),
    _S.CANCELLED: frozenset({_S.ABORTING}),
    _S.SUCCEEDED: frozenset(),
    _S.PARTIALLY_SUCCEEDED: frozenset(),
    _S.ABORTED: frozenset(),
}


def can_transition(src: RunState | str, dst: RunState | str) -> bool:
    """True when `src -> dst` is in the table."""
    return RunState(dst) in ALLOWED[RunState(src)]
