"""A drill of any size written into a real store through the store's own API, the way the
engine's runner writes one (run with its frozen plan, the journaled RTO start, per-VM outcomes,
the end transition and the drill row): for the 1,000-VM report test and the benchmark, where a
simulated test failover of that size would only add minutes.

The times are drawn from a seeded random generator, so the test's expectations are what was
written here, never what the code under test computes.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import datetime, timedelta

from engine.clock import ManualClock
from engine.models import AppliancePlan, LunPlan, Plan, VMPlan
from store import RunOutcome, RunState, Store, VMOutcome


@dataclass
class Written:
    run_id: int
    rto_start: datetime
    start_at: dict[str, datetime]  # VM name -> when it was started (absent: it failed)
    failed: dict[str, str]  # VM name -> error


def record_drill(
    store: Store,
    clock: ManualClock,
    *,
    vms: int = 1000,
    apps: int = 100,
    failures: int = 0,
    seed: int = 7,
) -> Written:
    """Write a finished test failover of `vms` VMs in `apps` vApps, `failures` of which failed
    to start; returns what was written."""
    rng = random.Random(seed)
    luns = [
        LunPlan(lun=f"lun-{i}", sr_uuid=f"sr-{i}", lag_seconds=30.0 * (i + 1)) for i in range(4)
    ]
    per_app = vms // apps
    appliances = []
    for a in range(apps):
        members = [
            VMPlan(
                uuid=f"vm-{a:03}-{v:03}",
                name=f"app{a:03}-vm{v:03}-{'x' * 12}",
                appliance_uuid=f"app-{a:03}",
                sr_uuids=[f"sr-{(a + v) % 4}"],
            )
            for v in range(per_app)
        ]
        appliances.append(
            AppliancePlan(uuid=f"app-{a:03}", name=f"vapp-{a:03}", order_groups=[members])
        )
    plan = Plan(
        kind="test-failover",
        target="all",
        source_pool="prod",
        dest_pool="dr",
        power_after="start",
        luns=luns,
        appliances=appliances,
    ).sealed()
    run_id = store.runs.create(
        "test-failover", "all", "dr", plan.hash, plan.model_dump_json(), "system:drbot-scheduler"
    )
    store.runs.transition(run_id, RunState.RUNNING, "started")
    rto_start = clock.now()
    step = store.steps.begin(run_id, "mark:rto-start", "mark", "rto-start")
    store.steps.finish(step, {"at": rto_start.isoformat()})
    failing = set(rng.sample([vm.uuid for vm in plan.vms], failures))
    outcome, start_at, failed = {}, {}, {}
    for vm in plan.vms:
        recovered = rto_start + timedelta(seconds=rng.uniform(20, 200))
        entry = {
            "name": vm.name,
            "appliance": next(a.name for a in appliances if a.uuid == vm.appliance_uuid),
            "recovered_at": recovered.isoformat(),
            "cleaned_up": True,
        }
        if vm.uuid in failing:
            entry.update(status="start-failed", error="VM_REQUIRES_NETWORK: the VIF's network")
            failed[vm.name] = entry["error"]
        else:
            started = recovered + timedelta(seconds=rng.uniform(5, 900))
            entry.update(status="started", error=None, started_at=started.isoformat())
            start_at[vm.name] = started
        outcome[vm.uuid] = entry
    rto = max(start_at.values()) - rto_start
    clock.advance(rto.total_seconds() + 60)
    state = RunState.PARTIALLY_SUCCEEDED if failures else RunState.SUCCEEDED
    ended = RunOutcome(vms={u: VMOutcome.model_validate(e) for u, e in outcome.items()})
    store.runs.transition(run_id, state, f"RTO {rto.total_seconds():.0f} s", outcome=ended)
    store.drills.record(run_id, "test-failover", "dr", rto.total_seconds(), state.value, outcome)
    return Written(run_id, rto_start, start_at, failed)
