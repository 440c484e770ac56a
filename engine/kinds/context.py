"""The context a kind executes in: the plan, the journal, clients, limits, per-VM outcomes."""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from engine import stepkeys as keys
from engine.clock import Clock
from engine.executor import Executor
from engine.journal import Journal
from engine.models import AppliancePlan, NetworkMapping, Plan, VMPlan
from engine.pool_api import PoolAPI
from engine.storage.base import StorageAdapter
from store import RunOutcome, VMOutcome, VMStatus


@dataclass
class Limits:
    """Async calls in flight at once, per lane."""

    recover: int = 8
    start: int = 16
    shutdown: int = 16

    def as_dict(self) -> dict[str, int]:
        return {"recover": self.recover, "start": self.start, "shutdown": self.shutdown}


@dataclass
class RunContext:
    """Everything a kind needs to execute one run."""

    run_id: int
    plan: Plan
    journal: Journal
    client: Callable[[str], PoolAPI]  # pool name -> its connection
    adapter: StorageAdapter
    clock: Clock
    limits: Limits
    cancel: threading.Event
    task_timeout: float = 3600.0
    # Whether the engine waits a VM's start_delay itself. XAPI's VM.start already sleeps it
    # before returning (reference §3.3), so by default the engine only chains the groups.
    engine_waits_start_delay: bool = False
    outcomes: dict[str, VMOutcome] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    save_outcomes: Callable[[RunOutcome], None] | None = None

    @property
    def dest(self) -> PoolAPI:
        return self.client(self.plan.dest_pool)

    @property
    def source(self) -> PoolAPI:
        return self.client(self.plan.source_pool)

    @property
    def stop_on_failure(self) -> bool:
        return self.plan.stop_on_failure

    def executor(self, client: PoolAPI) -> Executor:
        return Executor(
            client,
            self.journal,
            limits=self.limits.as_dict(),
            cancel=self.cancel,
            stop_on_failure=self.stop_on_failure,
            task_timeout=self.task_timeout,
        )

    def phase(self, name: str) -> None:
        self.journal.phase = name
        self.journal.emit("progress", message=name)

    # -- per-VM outcomes -----------------------------------------------------------------------

    def init_outcomes(self) -> None:
        if not self.plan.appliances and not self.plan.standalone_vms:
            # A blind plan that an earlier life of the run already read from the metadata.
            found = self.journal.result(keys.EXPAND_METADATA)
            if found:
                apply_expansion(self, found)
        self.fill_outcomes()

    def fill_outcomes(self) -> None:
        for app in self.plan.appliances:
            for vm in app.vms:
                self.outcomes.setdefault(vm.uuid, _vm_outcome(vm, app.name))
        for vm in self.plan.standalone_vms:
            self.outcomes.setdefault(vm.uuid, _vm_outcome(vm, None))

    def outcome(self) -> RunOutcome:
        """The run's outcome so far: each VM's, and the notes."""
        return RunOutcome(vms=dict(self.outcomes), notes=list(self.notes))

    def vm_status(self, uuid: str, status: VMStatus, error: str | None = None, **more: Any) -> None:
        """Set a VM's status (and why, and when: `recovered_at`, `started_at`), and say so."""
        entry = self.outcomes.get(uuid)
        if entry is None:
            return
        update: dict[str, Any] = {"status": status, **more}
        if error is not None:
            update["error"] = error
        entry = self.outcomes[uuid] = entry.model_copy(update=update)
        power_after = self.plan.power_after
        done = sum(1 for o in self.outcomes.values() if o.status.settled_for(power_after))
        self.journal.emit(
            "vm",
            subject=entry.name,
            vm_uuid=uuid,
            vm_status=status,
            message=error or "",
            done=done,
            total=len(self.outcomes),
        )

    def settle_pending(self, reason: str) -> None:
        """Give every VM the run never reached the outcome `not-run` and why (a run that stops
        early must not leave VMs `pending` with no word)."""
        for uuid, entry in list(self.outcomes.items()):
            if entry.status is VMStatus.PENDING:
                self.vm_status(uuid, VMStatus.NOT_RUN, reason)
        self.flush_outcomes()

    def flush_outcomes(self) -> None:
        if self.save_outcomes is not None:
            self.save_outcomes(self.outcome())


def _vm_outcome(vm: VMPlan, app: str | None) -> VMOutcome:
    return VMOutcome(name=vm.name, appliance=app)


def mark(ctx: RunContext, name: str) -> datetime:
    """A journaled point in time (the RTO's start and end survive a resume)."""
    result = ctx.journal.effect(
        keys.mark(name), "mark", name, lambda _s: {"at": ctx.clock.now().isoformat()}
    )
    return datetime.fromisoformat(result["at"])


def apply_expansion(ctx: RunContext, found: dict[str, Any]) -> None:
    """Make the run's plan the list read from the metadata by `engine.kinds.blind`: its vApps,
    VMs and network map, and the outcome of each VM it leaves out."""
    vms = [VMPlan(**v) for v in found["vms"]]
    appliances = []
    for uuid, app in found["apps"].items():
        members = sorted((v for v in vms if v.appliance_uuid == uuid), key=lambda v: v.order)
        if not members:
            continue
        orders = sorted({v.order for v in members})
        groups = [[v for v in members if v.order == o] for o in orders]
        appliances.append(
            AppliancePlan(
                uuid=uuid, name=app["name"], metadata_vdi_uuid=app["vdi"], order_groups=groups
            )
        )
    standalone = [v for v in vms if not v.appliance_uuid or v.appliance_uuid not in found["apps"]]
    update: dict[str, Any] = {"appliances": appliances, "standalone_vms": standalone}
    if "networks" in found:  # expansions journaled before networks were read have none
        update["network_map"] = [NetworkMapping(**n) for n in found["networks"]]
    ctx.plan = ctx.plan.model_copy(update=update)
    ctx.fill_outcomes()
    # The VMs the metadata holds that the run does not try (`engine.kinds.blind`): each gets
    # its outcome once, and keeps it on a resume.
    for left in found.get("unprotected", []):
        if left["uuid"] not in ctx.outcomes:
            ctx.outcomes[left["uuid"]] = VMOutcome(name=left["name"], appliance=left["appliance"])
        if ctx.outcomes[left["uuid"]].status is VMStatus.PENDING:
            ctx.vm_status(left["uuid"], VMStatus(left["status"]), left["why"])
