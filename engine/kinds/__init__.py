"""The three kinds of run: test failover, failover (planned or not) and failback.

Each kind module has `execute(ctx) -> Result` and `abort(ctx) -> Result`; both are idempotent
over the run's journal, so the runner resumes a run by calling `execute` again.
"""

from __future__ import annotations

from engine.kinds import failback, failover, test_failover
from engine.kinds.result import Result

KINDS = {
    "test-failover": test_failover,
    "failover": failover,
    "failback": failback,
}

__all__ = ["KINDS", "Result"]
