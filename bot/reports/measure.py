"""A drill's figures, read from the store's records of its run: nothing is re-measured.

- the run (state, why it ended, the plan it executed: vApps, VMs, LUNs and their lag);
- its journal (`mark:rto-start`, the moment the recovery began, journaled so that it survives
  a resume);
- each VM's outcome as the engine recorded it (`recover_at`, `start_at`, `cleaned_up`);
- the drill row the runner wrote (the measured RTO of the run);
- the readiness history (the age of the pool metadata at the DR site when the drill began).

Per VM: recovered, started, RTO to recovered and to running (from the run's RTO start), RPO
(the replication lag of its LUNs when planned). Per vApp: its slowest VM against the target.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime
from typing import Any

from bot.reports.models import ApplianceResult, DrillPoint, DrillReport, VMResult
from engine import stepkeys
from engine.run_messages import LEFT_BEHIND
from store import Store

RTO_START = str(stepkeys.mark("rto-start"))  # the key the kinds journal it under
STANDALONE = "(standalone VMs)"
RECOVERED = {"recovered", "started", "started-paused"}
STARTED = {"started", "started-paused"}
_LEFT_BEHIND_PREFIX = LEFT_BEHIND.split("{", 1)[0]


def _at(value: Any) -> datetime | None:
    return datetime.fromisoformat(value) if isinstance(value, str) and value else None


def _since(start: datetime | None, value: Any) -> float | None:
    at = _at(value)
    return (at - start).total_seconds() if at is not None and start is not None else None


def drill_report(store: Store, run_id: int, rto_target_seconds: float) -> DrillReport:
    """The figures of the test failover `run_id` (raises `RunNotFound` for an unknown run)."""
    run = store.runs.get(run_id)
    plan: dict[str, Any] = run.plan
    history = store.runs.history(run_id)
    reason = (history[-1].reason if history else "") or ""
    steps = {s.key: s for s in store.steps.for_run(run_id)}
    mark = steps.get(RTO_START)
    rto_start = _at((mark.result or {}).get("at")) if mark else None
    drill_rows = list(store.db["drills"].rows_where("run_id = ?", [run_id], limit=1))
    rto = drill_rows[0]["rto_seconds"] if drill_rows else None

    lag_by_sr = {lun["sr_uuid"]: lun.get("lag_seconds") for lun in plan.get("luns", [])}
    srs_by_vm: dict[str, list[str]] = {}
    for app in plan.get("appliances", []):
        for group in app.get("order_groups", []):
            for vm in group:
                srs_by_vm[vm["uuid"]] = vm.get("sr_uuids", [])
    for vm in plan.get("standalone_vms", []):
        srs_by_vm[vm["uuid"]] = vm.get("sr_uuids", [])
    leave_off = plan.get("power_after") == "leave-off"

    vms: list[VMResult] = []
    for uuid, o in sorted(run.outcome.vms.items(), key=lambda kv: kv[1].name):
        lags = [lag_by_sr[sr] for sr in srs_by_vm.get(uuid, []) if lag_by_sr.get(sr) is not None]
        vms.append(
            VMResult(
                uuid=uuid,
                name=o.name or uuid,
                appliance=o.appliance,
                status=o.status.value,
                error=o.error,
                ok=o.status.succeeded(plan.get("power_after") or "start"),
                recovered=o.status in RECOVERED,
                started=o.status in STARTED,
                rto_recovered_seconds=_since(rto_start, o.recovered_at),
                rto_running_seconds=_since(rto_start, o.started_at),
                lag_seconds=max(lags) if lags else None,
                cleaned_up=o.cleaned_up,
            )
        )

    by_app: dict[str, list[VMResult]] = defaultdict(list)
    for v in vms:
        by_app[v.appliance or STANDALONE].append(v)
    appliances = []
    for name, members in sorted(by_app.items()):
        times = [(v.rto_recovered_seconds if leave_off else v.rto_running_seconds) for v in members]
        known = [t for t in times if t is not None]
        app_rto = max(known) if known else None
        appliances.append(
            ApplianceResult(
                name=name,
                vms=len(members),
                failed=sum(1 for v in members if not v.ok),
                rto_seconds=app_rto,
                within_target=app_rto is not None and app_rto <= rto_target_seconds,
            )
        )

    lags = [lun.get("lag_seconds") for lun in plan.get("luns", [])]
    known_lags = [lag for lag in lags if lag is not None]
    started_at = run.created_at
    sample = store.history.latest(plan.get("source_pool", ""), at_or_before=started_at)
    left = reason if reason.startswith(_LEFT_BEHIND_PREFIX) else ""
    return DrillReport(
        run_id=run_id,
        state=run.state.value,
        reason=reason,
        target=run.target,
        source_pool=plan.get("source_pool", ""),
        dest_pool=plan.get("dest_pool", run.pool),
        requested_by=run.requested_by or "",
        started_at=started_at,
        ended_at=history[-1].at if history else None,
        rto_seconds=rto,
        rto_target_seconds=rto_target_seconds,
        rpo_seconds=max(known_lags) if known_lags else None,
        metadata_age_seconds=sample["metadata_age_seconds"] if sample else None,
        cleanup_verified=bool(vms) and all(v.cleaned_up for v in vms) and not left,
        left_behind=left,
        vms=vms,
        appliances=appliances,
    )


def drill_trend(store: Store, protected_pool: str, limit: int = 12) -> list[DrillPoint]:
    """The last `limit` test failovers of `protected_pool`, oldest first (the trend chart)."""
    rows = store.drills.recent(protected_pool, limit=limit, kind="test-failover")
    return [
        DrillPoint(
            run_id=r["run_id"],
            at=datetime.fromisoformat(r["at"]),
            rto_seconds=r["rto_seconds"],
            outcome=r["outcome"],
        )
        for r in reversed(rows)
    ]


def last_drill_id(store: Store) -> int | None:
    """The newest test failover's run id, if any."""
    rows = list(
        store.db["drills"].rows_where(
            "kind = ?", ["test-failover"], order_by="id desc", limit=1, select="run_id"
        )
    )
    return int(rows[0]["run_id"]) if rows else None
