"""Typed results of the service for a large estate, built from the contract's models (as the
service returns them), for the Block Kit tests and the benchmark."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from commands.actor import Actor
from commands.requests import FailoverRequest
from commands.results import ApprovalView, RunSummary, RunView, VMOutcomeView, Vote
from engine.models import AppliancePlan, Check, LunPlan, Plan, VMPlan

NOW = datetime(2026, 12, 4, 17, 0, tzinfo=UTC)
OLIVIA = Actor(id="U0ONCALL01", name="olivia", via="slack", channel="C0DROPS001")
ALEX = Actor(id="U0APPROV01", name="Alex A.", via="slack", channel="C0DROPS001")


def big_plan(
    apps: int = 100, per_app: int = 10, standalone: int = 0, luns: int = 40, warnings: int = 60
) -> Plan:
    """A failover plan of `apps` vApps of `per_app` VMs in two start groups, `luns` SRs to
    promote, `warnings` warnings and one passed check."""
    appliances = []
    for a in range(apps):
        vms = [
            VMPlan(uuid=f"vm-{a:03d}-{v:02d}", name=f"app{a:03d}-vm{v:02d}", order=v // 5)
            for v in range(per_app)
        ]
        appliances.append(
            AppliancePlan(
                uuid=f"app-{a:03d}",
                name=f"service-{a:03d}",
                order_groups=[vms[: per_app // 2], vms[per_app // 2 :]],
            )
        )
    return Plan(
        kind="failover",
        target="all",
        source_pool="prod",
        dest_pool="dr",
        luns=[
            LunPlan(
                lun=f"lun-{n}", sr_uuid=f"sr-{n}", sr_name=f"Gold iSCSI {n:02d}", action="promote"
            )
            for n in range(luns)
        ],
        appliances=appliances,
        standalone_vms=[VMPlan(uuid=f"solo-{n}", name=f"solo-{n}") for n in range(standalone)],
        checks=[
            Check(name="network", status="warning", subject=f"app{n:03d}-vm00", message="no VLAN")
            for n in range(warnings)
        ]
        + [Check(name="ha", status="ok", subject="dr", message="HA off")],
        estimated_rto_seconds=1260.0,
        hash="f" * 64,
    )


def approval(
    plan: Plan, *, state: str = "pending", votes: int = 0, run_id: int | None = None
) -> ApprovalView:
    return ApprovalView(
        id=7,
        action="failover",
        request=FailoverRequest(target="all", reason="DC1 lost power"),
        requester=OLIVIA,
        reason="DC1 lost power",
        run_id=run_id,
        plan_hash=plan.hash,
        quorum=2,
        votes=[Vote(actor=ALEX, at=NOW)] * votes,
        state=state,  # type: ignore[arg-type]  # a literal the tests choose
        created_at=NOW,
        expires_at=NOW + timedelta(minutes=30),
    )


def run_summary(
    run_id: int = 12, state: str = "partially-succeeded", kind: str = "failover"
) -> RunSummary:
    return RunSummary(
        id=run_id,
        kind=kind,
        target="all",
        pool="dr",
        state=state,
        requested_by="slack:U0ONCALL01",
        created_at=NOW.isoformat(),
        updated_at=NOW.isoformat(),
    )


def run_view(plan: Plan, failed_every: int = 50, kind: str = "failover") -> RunView:
    vms = []
    for n, (app, vm) in enumerate((a, v) for a in plan.appliances for v in a.vms):
        bad = failed_every and n % failed_every == 0
        vms.append(
            VMOutcomeView(
                uuid=vm.uuid,
                name=vm.name,
                appliance=app.name,
                status="start-failed" if bad else "started",
                error="VM.start: HOST_NOT_ENOUGH_FREE_MEMORY" if bad else None,
            )
        )
    return RunView(run=run_summary(kind=kind), history=[], steps=[], vms=vms)
