"""`drbot status`: readiness of every pair, replication, active runs and the last drill."""

from __future__ import annotations

from typing import Any

from rich.markup import escape
from rich.table import Table

from bot.ops import messages
from bot.ops.options import ConfigOpt, JsonOpt
from bot.ops.output import console, dump
from bot.ops.render import run_summary, runs_table
from bot.ops.wiring import Ops, operating
from engine.errors import DRError
from store import HOLDS_POOL


def status(config: ConfigOpt = None, as_json: JsonOpt = False) -> None:
    """Readiness of every protected pool, replication, active runs and the last drill."""
    with operating(config) as ops:
        report: dict[str, Any] = {"pairs": [], "active_runs": [], "replication": []}
        try:
            report["replication"] = [lun.model_dump(mode="json") for lun in ops.adapter.state()]
        except DRError as exc:
            report["replication_error"] = str(exc)
        for pair in ops.config.pairs:
            entry: dict[str, Any] = {"protected": pair.protected, "dr": pair.dr}
            try:
                entry["readiness"] = _readiness(ops, pair)
            except DRError as exc:
                entry["readiness"] = {"verdict": "unknown", "reasons": [str(exc)]}
            entry["last_drill"] = _last_drill(ops, pair)
            report["pairs"].append(entry)
        active = ops.store.runs.list(limit=50, states=set(HOLDS_POOL))
        report["active_runs"] = [run_summary(r) for r in active]
        if as_json:
            dump(report)
            return
        table = Table("protected", "DR pool", "verdict", "reasons", "last drill")
        for entry in report["pairs"]:
            rd = entry["readiness"]
            last = entry["last_drill"]
            table.add_row(
                entry["protected"],
                entry["dr"],
                rd.get("verdict", "?"),
                escape("\n".join(rd.get("reasons", [])[:8])),
                f"{last['outcome']} ({last['rto_seconds'] or 0:.0f} s)" if last else messages.NEVER,
            )
        console.print(table)
        if report["replication"]:
            rep = Table("LUN", "SR", "state", "lag (s)")
            for lun in report["replication"]:
                lag = "" if lun["lag_seconds"] is None else f"{lun['lag_seconds']:.0f}"
                rep.add_row(lun["lun"], lun["name"], lun["state"], lag)
            console.print(rep)
        if active:
            runs_table(active)


def _last_drill(ops: Ops, pair: Any) -> dict[str, Any] | None:
    """The pair's last test failover, as readiness counts drills: recorded under the DR pool
    (else the protected pool); a real failover or failback is not a drill and is passed over,
    however recent."""
    for pool in (pair.dr, pair.protected):
        drills = ops.store.drills.recent(pool, limit=1, kind="test-failover")
        if drills:
            return {k: drills[0][k] for k in ("run_id", "kind", "outcome", "rto_seconds", "at")}
    return None


def _readiness(ops: Ops, pair: Any) -> dict[str, Any]:
    """The readiness verdict of a pair (engine.readiness), with every reason."""
    from engine import readiness

    result = readiness.assess(
        pair,
        protected=ops.site(pair.protected),
        dr=ops.site(pair.dr),
        storage=ops.adapter,
        last_drill=ops.store.drills.recent,
        max_lag_seconds=ops.config.storage.max_lag_seconds,
        clock=ops.clock,
    )
    return {
        "verdict": result.verdict,
        "reasons": [f"{r.severity}: {r.subject}: {r.message}" for r in result.reasons],
        "protected_vms": result.protected_count,
        "vms": len(result.vms),
        "rpo_seconds": result.rpo_seconds,
    }
