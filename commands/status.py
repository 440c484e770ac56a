"""`status`: the readiness of each pair, replication of each LUN, active runs, the last drill.

A pool drbot cannot reach or log in to gives an `unknown` verdict saying why; it never stops the
report (status is what a person asks first on the night a site is lost).
"""

from __future__ import annotations

from commands.results import DrillSummary, LunStatus, PairStatus, StatusResult
from commands.views import run_summary
from commands.wiring import Wiring
from engine import readiness
from engine.config import PoolPair
from engine.errors import DRError
from store import ACTIVE, RunState

UNKNOWN = "unknown"
NOT_ENDED = ACTIVE | {RunState.INTERRUPTED}
ACTIVE_SHOWN = 50


def status(wiring: Wiring, pool: str | None) -> StatusResult:
    """The report for every pair, or for the pair `pool` belongs to."""
    replication: list[LunStatus] = []
    replication_error = None
    try:
        replication = [
            LunStatus(lun=lun.lun, name=lun.name, state=lun.state, lag_seconds=lun.lag_seconds)
            for lun in wiring.adapter.state()
        ]
    except DRError as exc:
        replication_error = str(exc)
    pairs = [wiring.pair(pool)] if pool is not None else list(wiring.config.pairs)
    active = wiring.store.runs.list(limit=ACTIVE_SHOWN, states=set(NOT_ENDED))
    return StatusResult(
        pairs=[pair_status(wiring, pair) for pair in pairs],
        replication=replication,
        replication_error=replication_error,
        active_runs=[run_summary(r) for r in active],
    )


def pair_status(wiring: Wiring, pair: PoolPair) -> PairStatus:
    """One pair's verdict with every reason; `unknown` (with why) if it cannot be assessed."""
    last = last_drill(wiring, pair)
    try:
        result = readiness.assess(
            pair,
            protected=wiring.site(pair.protected),
            dr=wiring.site(pair.dr),
            storage=wiring.adapter,
            last_drill=wiring.store.drills.recent,
            max_lag_seconds=wiring.config.storage.max_lag_seconds,
            clock=wiring.clock,
        )
    except DRError as exc:
        return PairStatus(
            protected=pair.protected,
            dr=pair.dr,
            verdict=UNKNOWN,
            reasons=[str(exc)],
            last_drill=last,
        )
    return PairStatus(
        protected=pair.protected,
        dr=pair.dr,
        verdict=result.verdict,
        reasons=[f"{r.severity}: {r.subject}: {r.message}" for r in result.reasons],
        protected_vms=result.protected_count,
        vms=len(result.vms),
        rpo_seconds=result.rpo_seconds,
        last_drill=last,
    )


def last_drill(wiring: Wiring, pair: PoolPair) -> DrillSummary | None:
    """The protected pool's last test failover, as readiness counts drills (another pool's
    drill into the same DR pool is not this one's; a real failover or failback is not a drill
    and is passed over, however recent)."""
    drills = wiring.store.drills.recent(pair.protected, limit=1, kind="test-failover")
    if not drills:
        return None
    d = drills[0]
    return DrillSummary(
        run_id=d["run_id"],
        kind=d["kind"],
        outcome=d["outcome"],
        rto_seconds=d["rto_seconds"],
        at=d["at"],
    )
