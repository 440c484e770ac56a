"""How long a run will take, from start to every VM up: the plan's RTO estimate."""

from __future__ import annotations

import statistics

from engine import messages as m
from engine.models import Plan
from engine.planning.options import History, PlanOptions
from engine.planning.policy import POLICIES

# Seconds per operation when no drill history exists (XAPI defaults seen on real pools; the
# simulator's latency model uses the same orders of magnitude).
CALLS_PER_STEP = 4  # a step is its Async call, its event wait, a record read, task.destroy
DEFAULT_OP_SECONDS: dict[str, float] = {
    "storage_action": 10.0,
    "attach_sr": 8.0,
    "open_database": 2.0,
    "recover_vm": 2.0,
    "vm_start": 20.0,
    "vm_clean_shutdown": 15.0,
}


def estimate_rto(
    p: Plan, options: PlanOptions, history: History | None = None, latency: float | None = None
) -> tuple[float, str]:
    """Seconds from start to every VM up: from drill history if there is some, else a model.

    The model follows the run's shape, each step costing its typical duration plus a few round
    trips at the `latency` seen on the destination's connection: storage actions and SR
    attaches per LUN, recoveries `concurrency` at a time, then the longest vApp chain (per order
    group, the start time plus the group's longest start delay) against the standalone starts.
    """
    if history is not None:
        past = [float(x) for x in history(p.kind, p.source_pool, p.dest_pool) if x and x > 0]
        if past:
            recent = past[-5:]
            basis = (
                m.RTO_FROM_LAST if len(recent) == 1 else m.RTO_FROM_HISTORY.format(n=len(recent))
            )
            return float(statistics.median(recent)), basis
    op = {**DEFAULT_OP_SECONDS, **options.op_seconds}
    par = max(1, options.concurrency)
    # Every step is a few XAPI round trips; over a slow WAN link those add up.
    rtt = latency or 0.0
    op = {k: v + CALLS_PER_STEP * rtt for k, v in op.items()}
    n_units = len(p.appliances) + len(p.standalone_vms)
    total = len(p.luns) * op["storage_action"] / par + len(p.luns) * op["attach_sr"]
    total += op["open_database"] + -(-n_units // par) * op["recover_vm"]
    if p.planned and POLICIES[p.kind].syncs_when_planned:
        total += op["vm_clean_shutdown"] + op["storage_action"]
    if p.power_after != "leave-off":
        chains = [
            sum(op["vm_start"] + max(v.start_delay for v in group) for group in app.order_groups)
            for app in p.appliances
        ]
        standalone = -(-len(p.standalone_vms) // par) * op["vm_start"] if p.standalone_vms else 0
        total += max([*chains, standalone, 0.0])
    return round(total, 1), m.RTO_FROM_MODEL.format(par=par, rtt=round(rtt * 1000, 1))
