"""Shutting VMs down in reverse vApp order (planned failover, failback)."""

from __future__ import annotations

from typing import Any

from engine import run_messages
from engine import stepkeys as keys
from engine.errors import XapiRejected
from engine.executor import Action, Outcome
from engine.kinds.context import RunContext
from engine.kinds.lookups import LIVE_STATES, vm_record
from engine.models import VMPlan
from engine.pool_api import PoolAPI
from engine.stepkeys import StepKey


def shutdown_in_reverse_order(
    ctx: RunContext, client: PoolAPI, pool: str
) -> dict[StepKey, Outcome]:
    """Cleanly shut down the plan's VMs that are running in `pool`: vApp groups in descending
    order (each group after the later one), standalone VMs in parallel."""
    actions: list[Action] = []

    def shut(vm: VMPlan, after: tuple[StepKey, ...]) -> Action:
        def launch() -> str:
            rec = vm_record(client, vm.uuid)
            if rec is None:
                raise XapiRejected("UUID_INVALID", ["VM", vm.uuid], "VM.get_by_uuid")
            # As XenCenter does (reference §5.2.6 b): a clean shutdown when the VM allows one
            # (it runs), else a hard one (XAPI refuses clean_shutdown for Paused / Suspended).
            allowed = rec.get("allowed_operations") or []
            clean = "clean_shutdown" in allowed or (
                not allowed and rec.get("power_state") == "Running"
            )
            method = "VM.clean_shutdown" if clean else "VM.hard_shutdown"
            return client.start_async(method, rec["ref"])

        def reconcile() -> dict[str, Any] | None:
            rec = vm_record(client, vm.uuid)
            if rec is None or rec.get("power_state") == "Halted":
                return {"power_state": "Halted"}
            return None

        return Action(
            key=keys.shutdown_vm(pool, vm.uuid),
            name=run_messages.SHUTDOWN_VM,
            subject=vm.name,
            launch=launch,
            reconcile=reconcile,
            after=after,
            lane="shutdown",
            cost=15.0 + (vm.shutdown_delay or 0),
            methods=("VM.clean_shutdown", "VM.hard_shutdown"),
        )

    def live(vm: VMPlan) -> bool:
        rec = vm_record(client, vm.uuid)
        done = ctx.journal.is_done(keys.shutdown_vm(pool, vm.uuid))
        return done or (rec is not None and rec.get("power_state") in LIVE_STATES)

    for app in ctx.plan.appliances:
        previous: tuple[StepKey, ...] = ()
        for group in reversed(app.order_groups):
            group_keys: list[StepKey] = []
            for vm in group:
                if live(vm):
                    a = shut(vm, previous)
                    actions.append(a)
                    group_keys.append(a.key)
            if group_keys:
                previous = tuple(group_keys)
    for vm in ctx.plan.standalone_vms:
        if live(vm):
            actions.append(shut(vm, ()))
    return ctx.executor(client).run(actions)
