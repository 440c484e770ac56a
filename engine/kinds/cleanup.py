"""Removing what a run created, each removal journaled, and proving nothing is left."""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import Any

from engine import stepkeys as keys
from engine.errors import XapiError, XapiRejected
from engine.executor import Action, Executor
from engine.kinds.context import RunContext
from engine.kinds.lookups import LIVE_STATES, ref_by_uuid, vm_record
from engine.kinds.storage_steps import storage_step, test_copy_is_ours
from engine.pool_api import PoolAPI


def created_by_run(ctx: RunContext) -> dict[str, list[str]]:
    """What the journal says this run created at the destination: VM and vApp uuids it
    recovered (or began to), DR_tasks it made and SRs those introduced."""
    vms: list[str] = []
    apps: list[str] = []
    dr_tasks: list[str] = []
    srs: list[str] = []
    plan_vms = {vm.uuid: vm for vm in ctx.plan.vms}
    for step in ctx.journal.steps():
        key, result = keys.StepKey.parse(step.key), step.result or {}
        if key == keys.recover_app(key.subject):
            apps.append(key.subject)
            app = next((a for a in ctx.plan.appliances if a.uuid == key.subject), None)
            vms += [vm.uuid for vm in app.vms] if app else []
        elif key == keys.recover_vm(key.subject):
            vms.append(key.subject)
        elif key.verb is keys.Verb.ATTACH:
            if result.get("dr_task_uuid") and result.get("introduced", True):
                dr_tasks.append(result["dr_task_uuid"])
            srs += result.get("introduced_srs") or []
            if not step.done:
                # Begun but not finished: the SR may have been introduced; look for it.
                srs.append(key.subject)
    vms = [u for u in dict.fromkeys(vms) if u in plan_vms]
    return {
        "vms": vms,
        "apps": list(dict.fromkeys(apps)),
        "dr_tasks": list(dict.fromkeys(dr_tasks)),
        "srs": list(dict.fromkeys(srs)),
    }


def destroy_vm(client: PoolAPI, uuid: str) -> None:
    """Destroy a (halted) VM, its snapshots, VBDs and VIFs; its disks (VDIs) are kept."""
    rec = vm_record(client, uuid)
    if rec is None:
        return
    for snap in rec.get("snapshots") or []:
        _destroy_vm_ref(client, snap)
    _destroy_vm_ref(client, rec["ref"], rec)


def _destroy_vm_ref(client: PoolAPI, ref: str, rec: dict[str, Any] | None = None) -> None:
    try:
        rec = rec or client.call("VM.get_record", ref)
        for vbd in rec.get("VBDs") or []:
            _quiet(client, "VBD.destroy", vbd)
        for vif in rec.get("VIFs") or []:
            _quiet(client, "VIF.destroy", vif)
        client.call("VM.destroy", ref)
    except XapiRejected as exc:
        if exc.code != "HANDLE_INVALID":
            raise


def _quiet(client: PoolAPI, method: str, ref: str) -> None:
    try:
        client.call(method, ref)
    except XapiRejected as exc:
        if exc.code != "HANDLE_INVALID":
            raise


def forget_sr(client: PoolAPI, uuid: str) -> None:
    """Unplug (coordinator last) and destroy every PBD of an SR, then forget it."""
    ref = ref_by_uuid(client, "SR", uuid)
    if ref is None:
        return
    master = None
    try:
        pool = next(iter(client.call("pool.get_all")))
        master = client.call("pool.get_master", pool)
    except (XapiError, StopIteration):
        master = None
    pbds = client.call("SR.get_PBDs", ref)
    recs = {pbd: client.call("PBD.get_record", pbd) for pbd in pbds}
    ordered = sorted(pbds, key=lambda p: recs[p].get("host") == master)
    for pbd in ordered:
        if recs[pbd].get("currently_attached"):
            client.call("PBD.unplug", pbd)
    for pbd in ordered:
        _quiet(client, "PBD.destroy", pbd)
    client.call("SR.forget", ref)


def cleanup(ctx: RunContext, client: PoolAPI, *, remove_test_copies: bool) -> list[str]:
    """Remove everything the run created in `client`'s pool, newest first, each removal
    journaled; then verify nothing is left. Returns what is left (empty when clean)."""
    created = created_by_run(ctx)
    ctx.phase("cleanup")
    # 1. Stop the recovered VMs that run (in parallel, hard: they are test copies or an abort).
    actions = []
    for uuid in created["vms"]:
        rec = vm_record(client, uuid)
        if rec is None or rec.get("power_state") not in LIVE_STATES:
            continue
        name = _name(ctx, uuid)
        actions.append(
            Action(
                key=keys.cleanup_stop_vm(uuid),
                name="stop VM",
                subject=name,
                launch=partial(client.start_async, "VM.hard_shutdown", rec["ref"]),
                reconcile=partial(_halted, client, uuid),
                lane="shutdown",
                methods=("VM.hard_shutdown",),
            )
        )
    if actions:
        # Cleanup must go on even if the run was cancelled: use a fresh cancel flag.
        ex = Executor(
            client, ctx.journal, limits=ctx.limits.as_dict(), task_timeout=ctx.task_timeout
        )
        ex.run(actions)
    # 2. VMs, then vApps.
    names = {u: _name(ctx, u) for u in created["vms"]}
    _remove_all(ctx, client, "vm", "destroy VM", "VM", names, destroy_vm)
    apps = {u: u for u in created["apps"]}
    _remove_all(ctx, client, "app", "destroy vApp", "VM_appliance", apps, destroy_app)
    # Networks recovery made for VIFs whose network the pool lacked (reference §2.6): PIF-less,
    # and without VIFs now that the VMs are gone.
    created_networks = networks_created(ctx, client)
    nets = {u: rec.get("name_label", u) for u, rec in created_networks.items()}
    _remove_all(ctx, client, "network", "destroy network", "network", nets, _destroy_network)
    # 3. DR_tasks (forgets the SRs still introduced by them), then SRs recovery kept attached.
    tasks = {u: u for u in created["dr_tasks"]}
    _remove_all(ctx, client, "drtask", "destroy DR_task", "DR_task", tasks, destroy_dr_task)
    srs = {u: u for u in created["srs"]}
    _remove_all(ctx, client, "sr", "forget SR", "SR", srs, forget_sr)
    # 4. Test copies at the array.
    if remove_test_copies:
        presented = {item.lun for item in ctx.adapter.state() if item.test_copy_device_config}
        for lun in ctx.plan.luns:
            # Ours to remove only when the journal proves this run presented it: a present
            # that failed because an earlier drill's copy was there leaves that copy alone.
            if test_copy_is_ours(ctx, lun, lun.lun in presented):
                storage_step(ctx, "remove_test_copy", lun)
    # 5. Verify.
    left = []
    for cls, uuids in (
        ("VM", created["vms"]),
        ("VM_appliance", created["apps"]),
        ("DR_task", created["dr_tasks"]),
        ("SR", created["srs"]),
        ("network", list(created_networks)),
    ):
        left += [f"{cls} {u}" for u in uuids if ref_by_uuid(client, cls, u) is not None]
    return left


def note_networks(ctx: RunContext, client: PoolAPI) -> None:
    """Journal the destination's networks before recovery, so cleanup can tell the ones
    recovery created (journaled once: a resumed run keeps the list from before it began)."""
    ctx.journal.effect(
        keys.NETWORKS_BEFORE,
        "note networks",
        ctx.plan.dest_pool,
        lambda _s: {"uuids": sorted(r["uuid"] for r in client.get_all_records("network").values())},
    )


def networks_created(ctx: RunContext, client: PoolAPI) -> dict[str, dict[str, Any]]:
    """Networks that appeared since `note_networks` and are unused: no PIF, no VIF."""
    before = ctx.journal.result(keys.NETWORKS_BEFORE)
    if not before:
        return {}
    known = set(before["uuids"])
    return {
        rec["uuid"]: rec
        for rec in client.get_all_records("network").values()
        if rec["uuid"] not in known and not rec.get("PIFs") and not rec.get("VIFs")
    }


def _destroy_network(client: PoolAPI, uuid: str) -> None:
    ref = ref_by_uuid(client, "network", uuid)
    if ref is not None:
        client.call("network.destroy", ref)


def _halted(client: PoolAPI, uuid: str) -> dict[str, Any] | None:
    rec = vm_record(client, uuid)
    return {"power_state": "Halted"} if rec is None or rec["power_state"] == "Halted" else None


def destroy_app(client: PoolAPI, uuid: str) -> None:
    ref = ref_by_uuid(client, "VM_appliance", uuid)
    if ref is not None:
        client.call("VM_appliance.destroy", ref)


def destroy_dr_task(client: PoolAPI, uuid: str) -> None:
    ref = ref_by_uuid(client, "DR_task", uuid)
    if ref is not None:
        client.call("DR_task.destroy", ref)


def _remove_all(
    ctx: RunContext,
    client: PoolAPI,
    kind: str,
    name: str,
    cls: str,
    subjects: dict[str, str],
    destroy: Callable[[PoolAPI, str], None],
) -> None:
    """`remove_journaled` for each uuid of `subjects` (uuid -> what to call it), under the
    journal keys `cleanup:<kind>:<uuid>`."""
    for uuid, subject in subjects.items():
        remove_journaled(
            ctx,
            keys.cleanup(kind, uuid),
            name,
            subject,
            client,
            cls,
            uuid,
            partial(destroy, client, uuid),
        )


def remove_journaled(
    ctx: RunContext,
    key: keys.StepKey,
    name: str,
    subject: str,
    client: PoolAPI,
    cls: str,
    uuid: str,
    act: Callable[[], None],
) -> None:
    """A removal, journaled; done when the object is gone (so repeating it is harmless)."""

    def gone() -> dict[str, Any] | None:
        return {"gone": True} if ref_by_uuid(client, cls, uuid) is None else None

    def do(_step: int) -> dict[str, Any]:
        act()
        return {"gone": True}

    if ctx.journal.is_done(key):
        return
    if gone() is not None and ctx.journal.row(key) is None:
        return  # never there (e.g. a recovery that failed): nothing to remove, nothing to journal
    ctx.journal.effect(key, name, subject, do, reconcile=gone)


def destroy_dr_tasks(ctx: RunContext, client: PoolAPI) -> None:
    """Destroy the DR_tasks this run created (SRs that recovered VMs use stay attached:
    recovery cleared their `introduced_by`, reference §2.4)."""
    for uuid in created_by_run(ctx)["dr_tasks"]:
        remove_journaled(
            ctx,
            keys.finish_dr_task(uuid),
            "destroy DR_task",
            uuid,
            client,
            "DR_task",
            uuid,
            partial(destroy_dr_task, client, uuid),
        )


def _name(ctx: RunContext, vm_uuid: str) -> str:
    """The VM's name as the run knows it (its uuid if the run does not)."""
    outcome = ctx.outcomes.get(vm_uuid)
    return outcome.name if outcome is not None else vm_uuid
