"""A `ReadinessProbe` made from the engine: each pair's readiness (engine.readiness) turned into
the `PoolReadiness` samples the reports keep.

Metadata age is the age of the newest consistent copy of the LUNs that hold the pool's
metadata at the DR site: the time since their last replication when the adapter reports it,
else their replication lag.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from bot.reports.models import PoolReadiness
from bot.reports.readiness import ReadinessProbe
from engine.errors import DRError
from engine.readiness import Readiness


def sample(result: Readiness, at: datetime) -> PoolReadiness:
    """The sample the reports keep of one readiness result."""
    metadata_srs = {t.sr_name for t in result.metadata_targets if t.replicated}
    ages = []
    for lun in result.replication:
        if lun.sr_name not in metadata_srs:
            continue
        if lun.last_replicated_at is not None:
            ages.append(max(0.0, (at - lun.last_replicated_at).total_seconds()))
        elif lun.lag_seconds is not None:
            ages.append(lun.lag_seconds)
    cap = result.capacity
    return PoolReadiness(
        pool=result.pool,
        dr_pool=result.dr_pool,
        verdict=result.verdict,
        at=at,
        lag_seconds=result.rpo_seconds,
        metadata_age_seconds=max(ages) if ages else None,
        capacity_needed_bytes=cap.needed_bytes if cap else None,
        capacity_free_bytes=cap.free_bytes if cap else None,
        capacity_fits=cap.fits if cap else None,
        unprotected=sorted(v.name for v in result.unprotected),
        missing_networks=sorted(n.source_name for n in result.networks if n.matched_by == "none"),
        reasons=[f"{r.severity}: {r.subject}: {r.message}" for r in result.reasons],
    )


def engine_probe(ops: Any) -> ReadinessProbe:
    """A probe over the engine's wiring `ops` (`commands.wiring.Wiring`): every pair, assessed
    as `drbot status` assesses it; a pair that cannot be assessed is `unknown`, with why."""
    from engine import readiness

    def probe() -> list[PoolReadiness]:
        out = []
        for pair in ops.config.pairs:
            at = ops.clock.now()
            try:
                result = readiness.assess(
                    pair,
                    protected=ops.site(pair.protected),
                    dr=ops.site(pair.dr),
                    storage=ops.adapter,
                    last_drill=ops.store.drills.recent,
                    max_lag_seconds=ops.config.storage.max_lag_seconds,
                    clock=ops.clock,
                )
            except DRError as exc:
                out.append(
                    PoolReadiness(
                        pool=pair.protected,
                        dr_pool=pair.dr,
                        verdict="unknown",
                        at=at,
                        reasons=[str(exc)],
                    )
                )
                continue
            out.append(sample(result, at))
        return out

    return probe
