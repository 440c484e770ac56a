"""An estate of many pools: what a request over several pools means, and how its runs go.

- `runs_of`: the run history of one protected pool (runs are stored under the pool they
  recover into; a DR pool takes several protected pools).
"""

from __future__ import annotations

from commands.results import RunSummary
from commands.views import run_summary
from store import Store

# Runs read to find a protected pool's newest ones: the history is filtered here, not in SQL
# (the pool is in the stored plan), so a pool whose runs are older than this many is not shown.
RUNS_SCANNED = 5000


def runs_of(store: Store, limit: int, pool: str | None) -> list[RunSummary]:
    """The newest `limit` runs, or the newest `limit` of protected pool `pool`."""
    if pool is None:
        return [run_summary(r) for r in store.runs.list(limit=limit)]
    found = []
    for record in store.runs.list(limit=RUNS_SCANNED):
        summary = run_summary(record)
        if summary.protected_pool == pool:
            found.append(summary)
            if len(found) == limit:
                break
    return found
