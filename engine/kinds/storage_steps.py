"""Storage steps of a run: asking the array adapter, and attaching replicated SRs (DR_task)."""

from __future__ import annotations

from typing import Any

from engine import run_messages
from engine.errors import DRError, XapiError, XapiRejected
from engine.executor import Action
from engine.kinds.context import RunContext
from engine.kinds.lookups import ref_by_uuid
from engine.models import NULL_REF, LunPlan


def storage_step(ctx: RunContext, action: str, lun: LunPlan) -> dict[str, Any]:
    """Ask the storage adapter for `action` on `lun`, journaled; returns the LUN's state.

    `ManualStepRequired` propagates (the run pauses; the step stays `failed` in the journal and
    is retried on resume, after a person confirmed it).
    """
    key = f"storage:{action}:{lun.lun}"

    def act(_step: int) -> dict[str, Any]:
        state = getattr(ctx.adapter, action)(lun.lun)
        return state.model_dump(mode="json")

    def reconcile() -> dict[str, Any] | None:
        # An adapter's actions are idempotent; what it reports now tells whether it is done.
        for item in ctx.adapter.state():
            if item.lun != lun.lun:
                continue
            done = {
                "present_test_copy": item.test_copy_device_config is not None,
                "remove_test_copy": item.test_copy_device_config is None,
                "promote": item.state == "promoted",
                "reverse": item.state == "reversed",
                "sync": (item.lag_seconds or 0) == 0 and item.state != "promoted",
            }.get(action, False)
            return item.model_dump(mode="json") if done else None
        return None

    return ctx.journal.effect(
        key, f"storage {action}", lun.sr_name or lun.lun, act, reconcile=reconcile
    )


def attach_sr(ctx: RunContext, client: Any, lun: LunPlan, device_config: dict[str, str]) -> dict:
    """Make the SR of `lun` attached in `client`'s pool, journaled under `attach:<sr uuid>`.

    If the pool does not know the SR, `DR_task.create` introduces and plugs it (the result names
    the DR_task and the SRs it introduced: the run created those and its cleanup removes them).
    If the pool already knows it (a trap of reference §7.7: DR_task.create would silently skip
    it), its unplugged PBDs are plugged instead and nothing is recorded as created.
    """
    key = f"attach:{lun.sr_uuid}"

    def existing() -> dict[str, Any] | None:
        ref = ref_by_uuid(client, "SR", lun.sr_uuid)
        if ref is None:
            return None
        sr = client.call("SR.get_record", ref)
        task = sr.get("introduced_by") or NULL_REF
        dr_task_uuid = None
        if task != NULL_REF:
            try:
                dr_task_uuid = client.call("DR_task.get_uuid", task)
            except XapiRejected:
                dr_task_uuid = None
        return {"sr_ref": ref, "dr_task_uuid": dr_task_uuid, "introduced": dr_task_uuid is not None}

    def act(step_id: int) -> dict[str, Any]:
        found = existing()
        if found is not None:
            # Known to the pool before this run: not ours to forget, only to plug.
            plugged = plug_all(client, found["sr_ref"])
            return {"sr_ref": found["sr_ref"], "introduced": False, "plugged_by_run": plugged}
        if not device_config:
            raise DRError(run_messages.ATTACH_NO_CONFIG.format(lun=lun.lun))
        task = client.start_async("DR_task.create", lun.sr_type, device_config, [lun.sr_uuid])
        ctx.journal.attach(step_id, task)
        out = client.wait([task], timeout=ctx.task_timeout)[task]
        if out.error is not None:
            raise out.error
        dr_task = str(out.result)
        dr_uuid = client.call("DR_task.get_uuid", dr_task)
        introduced = client.call("DR_task.get_introduced_SRs", dr_task)
        sr_uuids = [client.call("SR.get_uuid", sr) for sr in introduced]
        return {"dr_task_uuid": dr_uuid, "introduced": True, "introduced_srs": sr_uuids}

    def reconcile() -> dict[str, Any] | None:
        row = ctx.journal.row(key)
        if row and row.get("task_ref"):
            try:
                rec = client.call("task.get_record", row["task_ref"])
                if rec.get("status") == "pending":
                    client.wait([row["task_ref"]], timeout=ctx.task_timeout)
            except XapiRejected:
                pass
        found = existing()
        if found is None:
            return None
        return {**found, "introduced_srs": [lun.sr_uuid] if found["introduced"] else []}

    return ctx.journal.effect(
        key, "attach SR", lun.sr_name or lun.sr_uuid, act, reconcile=reconcile
    )


def attach_all(
    ctx: RunContext, client: Any, luns: list[LunPlan], configs: dict[str, dict[str, str]]
) -> None:
    """Attach the SRs of all `luns` at once: one `Async.DR_task.create` per LUN in flight
    together (each plugs the SR on every host one after the other, so doing LUNs one by one
    would add up). SRs the pool already knows are plugged through `attach_sr`. Raises
    `DRError` if any LUN cannot be attached."""
    actions = []
    for lun in luns:
        key = f"attach:{lun.sr_uuid}"
        if ctx.journal.is_done(key):
            continue
        if ctx.journal.row(key) is None and ref_by_uuid(client, "SR", lun.sr_uuid) is not None:
            attach_sr(ctx, client, lun, configs.get(lun.lun) or {})
            continue
        config = configs.get(lun.lun) or lun.device_config
        if not config:
            raise DRError(run_messages.ATTACH_NO_CONFIG.format(lun=lun.lun))
        actions.append(_attach_action(client, lun, config))
    if not actions:
        return
    outcomes = ctx.executor(client).run(actions)
    failed = [
        f"{a.subject}: {outcomes[a.key].error}" for a in actions if outcomes[a.key].status != "done"
    ]
    if failed:
        raise DRError(run_messages.ATTACH_FAILED.format(items="; ".join(failed)))


def _attach_action(client: Any, lun: LunPlan, config: dict[str, str]) -> Action:
    def launch() -> str:
        return client.start_async("DR_task.create", lun.sr_type, config, [lun.sr_uuid])

    def interpret(dr_task: Any) -> dict[str, Any]:
        dr_uuid = client.call("DR_task.get_uuid", str(dr_task))
        introduced = client.call("DR_task.get_introduced_SRs", str(dr_task))
        sr_uuids = [client.call("SR.get_uuid", sr) for sr in introduced]
        return {"dr_task_uuid": dr_uuid, "introduced": True, "introduced_srs": sr_uuids}

    def reconcile() -> dict[str, Any] | None:
        ref = ref_by_uuid(client, "SR", lun.sr_uuid)
        if ref is None:
            return None
        task = client.call("SR.get_introduced_by", ref)
        if task in (None, "", NULL_REF):
            return {"introduced": False, "introduced_srs": []}
        dr_uuid = client.call("DR_task.get_uuid", task)
        return {"dr_task_uuid": dr_uuid, "introduced": True, "introduced_srs": [lun.sr_uuid]}

    return Action(
        key=f"attach:{lun.sr_uuid}",
        name="attach SR",
        subject=lun.sr_name or lun.sr_uuid,
        launch=launch,
        reconcile=reconcile,
        interpret=interpret,
        lane="attach",
        method="DR_task.create",
    )


def plug_all(client: Any, sr_ref: str) -> list[str]:
    """Plug every unplugged PBD of an SR; returns the PBD refs plugged."""
    plugged = []
    for pbd in client.call("SR.get_PBDs", sr_ref):
        if not client.call("PBD.get_currently_attached", pbd):
            client.call("PBD.plug", pbd)
            plugged.append(pbd)
    return plugged


def scan_srs(client: Any, sr_uuids: list[str]) -> None:
    """Rescan SRs so newly replicated VDIs (metadata) are visible (best effort)."""
    for uuid in sr_uuids:
        ref = ref_by_uuid(client, "SR", uuid)
        if ref is not None:
            try:
                client.call("SR.scan", ref)
            except XapiError:
                pass
