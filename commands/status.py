"""`status`: the readiness of each pair, replication of each LUN, active runs, the last drill,
and what fits where when a whole site is lost (engine/readiness.py `assess_estate`).

A pool drbot cannot reach or log in to gives an `unknown` verdict saying why; it never stops the
report (status is what a person asks first on the night a site is lost).
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

from commands.results import DrillSummary, LunStatus, PairStatus, StatusResult
from commands.views import run_summary
from commands.wiring import Wiring
from engine import readiness
from engine.config import PoolPair
from engine.errors import DRError
from engine.protection import Site
from engine.storage.base import ReplicatedLun
from store import ACTIVE, RunState

UNKNOWN = "unknown"
NOT_ENDED = ACTIVE | {RunState.INTERRUPTED}
ACTIVE_SHOWN = 50
MAX_READERS = 16  # pools read at once: threads waiting on XAPI, not computing


def status(wiring: Wiring, pool: str | None) -> StatusResult:
    """The report for every pair, or for the pair `pool` names. Each pool is read once, all of
    them at once (XAPI calls wait on the network), however many pairs share it."""
    replication: list[LunStatus] = []
    replication_error = None
    luns: list[ReplicatedLun] | None = None
    try:
        luns = wiring.adapter.state()
        replication = [
            LunStatus(lun=lun.lun, name=lun.name, state=lun.state, lag_seconds=lun.lag_seconds)
            for lun in luns
        ]
    except DRError as exc:
        replication_error = str(exc)
    pairs = [wiring.pair(pool)] if pool is not None else list(wiring.config.pairs)
    active = wiring.store.runs.list(limit=ACTIVE_SHOWN, states=set(NOT_ENDED))
    return StatusResult(
        pairs=_pair_statuses(wiring, pairs, luns),
        replication=replication,
        replication_error=replication_error,
        active_runs=[run_summary(r) for r in active],
    )


def _pair_statuses(
    wiring: Wiring, pairs: list[PoolPair], luns: list[ReplicatedLun] | None
) -> list[PairStatus]:
    """Every pair's status from one read of each pool (`read_pools`) and the estate's site-loss
    capacity; a pair that cannot be assessed is `unknown` with why."""
    if not pairs:
        return []
    try:
        sites = read_pools(wiring, [name for p in pairs for name in (p.protected, p.dr)])
        estate = readiness.assess_estate(
            pairs,
            sites,
            storage=luns if luns is not None else wiring.adapter,
            last_drill=wiring.store.drills.recent,
            max_lag_seconds=wiring.config.storage.max_lag_seconds,
            clock=wiring.clock,
        )
    except DRError:
        return [pair_status(wiring, pair) for pair in pairs]  # each says why it is unknown
    return [
        _pair_status(wiring, pair, result) for pair, result in zip(pairs, estate.pairs, strict=True)
    ]


def read_pools(wiring: Wiring, names: list[str]) -> dict[str, Site]:
    """Each of `names` read once (connected, inventory loaded), in parallel threads."""

    def read(name: str) -> Site:
        try:
            return wiring.site(name)
        finally:
            wiring.release_thread()  # the thread ends with the pool; its connections too

    unique = list(dict.fromkeys(names))
    with ThreadPoolExecutor(max_workers=max(1, min(MAX_READERS, len(unique)))) as pool:
        return dict(zip(unique, pool.map(read, unique), strict=True))


def pair_status(wiring: Wiring, pair: PoolPair) -> PairStatus:
    """One pair's verdict with every reason; `unknown` (with why) if it cannot be assessed."""
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
            last_drill=last_drill(wiring, pair),
        )
    return _pair_status(wiring, pair, result)


def _pair_status(wiring: Wiring, pair: PoolPair, result: readiness.Readiness) -> PairStatus:
    return PairStatus(
        protected=pair.protected,
        dr=pair.dr,
        verdict=result.verdict,
        reasons=[f"{r.severity}: {r.subject}: {r.message}" for r in result.reasons],
        protected_vms=result.protected_count,
        vms=len(result.vms),
        rpo_seconds=result.rpo_seconds,
        last_drill=last_drill(wiring, pair),
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
