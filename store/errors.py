"""What the store refuses, as exceptions that say what to do.

The store knows nothing of the engine; the runner translates these into the engine's
`RunConflict` / `RunStateError` where it needs to.
"""

from __future__ import annotations


class StoreError(Exception):
    """Anything the store refuses."""


class RunNotFound(StoreError):
    def __init__(self, run_id: int) -> None:
        super().__init__(f"No run {run_id} in the store; list runs with `drbot runs`.")
        self.run_id = run_id


class IllegalTransition(StoreError):
    def __init__(self, run_id: int, src: str, dst: str, allowed: list[str]) -> None:
        options = ", ".join(allowed) or "none (the run is finished)"
        super().__init__(
            f"Run {run_id} is {src} and cannot become {dst}; from {src} it may become: {options}."
        )
        self.run_id, self.src, self.dst = run_id, src, dst


class LeaseHeld(StoreError):
    def __init__(self, pool: str, run_id: int, holder: str, until: str) -> None:
        super().__init__(
            f"Pool {pool!r} is busy with run {run_id} (held by {holder} until {until}); "
            f"wait for it to finish, or resume/abort it with `drbot resume {run_id}` / "
            f"`drbot abort {run_id}`."
        )
        self.pool, self.run_id, self.holder, self.until = pool, run_id, holder, until


class StepAlreadyDone(StoreError):
    def __init__(self, run_id: int, key: str) -> None:
        super().__init__(
            f"Step {key!r} of run {run_id} is already done; a step is never done twice."
        )
        self.run_id, self.key = run_id, key
