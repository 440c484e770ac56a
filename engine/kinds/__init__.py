"""The three kinds of run: test failover, failover (planned or not) and failback.

Each kind module has `execute(ctx) -> Result` and `abort(ctx) -> Result`; both are idempotent
over the run's journal, so the runner resumes a run by calling `execute` again. What they share:
`context` (the run's context and per-VM outcomes), `lookups` (reading a pool), `storage_steps`
(the array adapter and attaching SRs), `recovery` (recover and start in vApp order), `shutdown`
(reverse order), `cleanup` (remove what the run created, verify), `ha` (HA off and back on).

Every side effect goes through the run's journal (synchronous ones through `Journal.effect`,
Async ones through `engine.executor`), keyed by `engine.stepkeys` (one constructor per kind of
step, `StepKey.parse` to read a key back), so that a resumed run skips what is done and checks
the world for what was begun.
"""

from __future__ import annotations

from typing import Protocol

from engine.kinds import failback, failover, test_failover
from engine.kinds.context import RunContext
from engine.kinds.result import Result
from store import Kind


class RunKind(Protocol):
    """What the runner calls on a kind module (see the module docstring)."""

    def execute(self, ctx: RunContext) -> Result: ...

    def abort(self, ctx: RunContext) -> Result: ...


KINDS: dict[Kind, RunKind] = {
    Kind.TEST_FAILOVER: test_failover,
    Kind.FAILOVER: failover,
    Kind.FAILBACK: failback,
}

__all__ = ["KINDS", "Result", "RunKind"]
