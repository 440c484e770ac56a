"""The scheduled DR drill: a test failover of the configured scope, pre-approved by the
configuration and audited as the system actor, run to its end through the engine.

Pre-approval is the `[reports.drill]` section: whoever may change the configuration approved
the drill in advance, so the audit trail records `DrillPreApproved` by the system actor with
the plan's hash before the run starts, and the run itself is requested by that actor. A test
failover changes nothing at the primary (it works on test copies of the mirrors) and removes
everything it created; a plan with blockers does not run and is reported as such.

Scope: `all` protected vApps, or a rotating `sample` of `sample_size` vApps, so that over a
few weeks every vApp is drilled (the position is kept in the store).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from bot.reports import messages as m
from bot.reports.config import DrillConfig
from engine.errors import DRError
from engine.models import Plan
from engine.runner import Runner
from store import Store
from store.outcomes import Kind

ROTATION = "reports.drill-rotation"  # kv: "next" -> the index of the next vApp to drill


class DrillEngine(Protocol):
    """What a drill needs of the engine's wiring (`commands.wiring.Wiring`)."""

    store: Store

    def plan(
        self,
        kind: Kind,
        target: str,
        pool: str | None,
        *,
        power_after: str | None = ...,
        planned: bool = ...,
        disable_ha: bool = ...,
    ) -> Plan:
        """The plan of `kind` for `target` (raises `DRError` with what to fix)."""
        ...

    @property
    def runner(self) -> Runner:
        """The process's runner (start, wait)."""
        ...


@dataclass(frozen=True)
class DrillStarted:
    """How a drill went: its run id, or why it could not start."""

    run_id: int | None
    target: str
    blocked: str = ""


def choose_target(engine: DrillEngine, config: DrillConfig) -> str:
    """`all`, or the next `sample_size` vApps in name order, wrapping around."""
    if config.scope == "all":
        return "all"
    everything = engine.plan(Kind.TEST_FAILOVER, "all", config.pair)
    names = sorted(app.name for app in everything.appliances)
    if not names:
        return "all"
    rotation = engine.store.kv(ROTATION)
    start = int(rotation.get("next", 0)) % len(names)
    count = min(config.sample_size, len(names))
    chosen = [names[(start + i) % len(names)] for i in range(count)]
    rotation["next"] = (start + count) % len(names)
    return ",".join(chosen)


def run_drill(engine: DrillEngine, config: DrillConfig, schedule: str = "drill") -> DrillStarted:
    """Plan, pre-approve (audited), run and wait for the drill; never raises for what a person
    must fix (blockers, a busy pool, a lost site): that is in `blocked`, and audited."""
    store = engine.store
    target = "all"
    try:
        target = choose_target(engine, config)
        plan = engine.plan(
            Kind.TEST_FAILOVER,
            target,
            config.pair,
            power_after=config.power,
            disable_ha=config.disable_ha,
        )
        if plan.blockers:
            why = "; ".join(f"{c.name} {c.subject}: {c.message}" for c in plan.blockers)
            raise DRError(why)
        store.audit.append(
            "DrillPreApproved",
            m.DRILL_ACTOR,
            {
                "schedule": schedule,
                "target": plan.target,
                "plan_hash": plan.hash,
                "source_pool": plan.source_pool,
                "dest_pool": plan.dest_pool,
                "approved_by": "configuration [reports.drill]",
            },
        )
        runner = engine.runner
        run_id = runner.start(plan, requested_by=m.DRILL_ACTOR, reason=m.DRILL_REASON)
    except DRError as exc:
        store.audit.append(
            "DrillBlocked", m.DRILL_ACTOR, {"schedule": schedule, "target": target, "why": str(exc)}
        )
        return DrillStarted(None, target, m.DRILL_BLOCKED.format(why=exc))
    runner.wait(run_id, timeout=config.timeout_seconds)
    return DrillStarted(run_id, plan.target)
