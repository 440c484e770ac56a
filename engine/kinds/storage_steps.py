"""Storage steps of a run: asking the array adapter, and attaching replicated SRs (DR_task)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from defusedxml.ElementTree import ParseError, fromstring

from engine import run_messages
from engine import stepkeys as keys
from engine.errors import (
    DRError,
    ManualStepRequired,
    StorageError,
    XapiError,
    XapiRejected,
    lost_contact,
)
from engine.executor import Action
from engine.kinds.context import RunContext
from engine.kinds.lookups import ref_by_uuid
from engine.models import NULL_REF, LunPlan
from engine.pool_api import PoolAPI
from engine.storage.base import Action as StorageAction
from engine.storage.base import ReplicatedLun, StorageAdapter
from store import VMStatus

# DR_task.create calls in flight at once. XenCenter creates one DR_task at a time and stops at
# the first failure; sm runs every iscsiadm of a host under one lock, so parallel creates
# gain little on the iSCSI part while their discovery, login and logout sequences interleave
# on one initiator, which no upstream client does (docs/xapi-behaviours.md §9).
ATTACH_AT_ONCE = 1


def _ask(adapter: StorageAdapter, action: StorageAction, lun: str) -> ReplicatedLun:
    """Call the adapter's method for `action` (spelled out, so a type checker follows it)."""
    methods: dict[StorageAction, Callable[[str], ReplicatedLun]] = {
        "present_test_copy": adapter.present_test_copy,
        "remove_test_copy": adapter.remove_test_copy,
        "promote": adapter.promote,
        "reverse": adapter.reverse,
        "sync": adapter.sync,
    }
    return methods[action](lun)


def storage_step(ctx: RunContext, action: StorageAction, lun: LunPlan) -> dict[str, Any]:
    """Ask the storage adapter for `action` on `lun`, journaled; returns the LUN's state.

    `ManualStepRequired` propagates (the run pauses; the step stays `failed` in the journal and
    is retried on resume, after a person confirmed it).
    """
    key = keys.storage(action, lun.lun)

    def act(_step: int) -> dict[str, Any]:
        state = _ask(ctx.adapter, action, lun.lun)
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


def earlier_test_copy(ctx: RunContext, lun: LunPlan) -> dict[str, str] | None:
    """The device_config of a test copy of `lun` that was presented before this run asked for
    one (None: none was), read from the adapter once and journaled under
    `storage:presented-before:<lun>`, so a resumed run and its cleanup know it too."""

    def act(_step: int) -> dict[str, Any]:
        for item in ctx.adapter.state():
            if item.lun == lun.lun:
                return {"device_config": item.test_copy_device_config}
        return {"device_config": None}

    found = ctx.journal.effect(
        keys.storage("presented-before", lun.lun), "note test copy", lun.sr_name or lun.lun, act
    )
    config = found.get("device_config")
    return dict(config) if config else None


def test_copy_is_ours(ctx: RunContext, lun: LunPlan, presented_now: bool) -> bool:
    """Whether the run's journal proves the test copy of `lun` presented now is its own: its
    present step is done, or it was begun (even if it failed after the array acted) while
    no copy was presented before it. A copy that was there before the run never is."""
    row = ctx.journal.row(keys.storage("present_test_copy", lun.lun))
    if row is None:
        return False
    if row.done:
        return True
    noted = ctx.journal.result(keys.storage("presented-before", lun.lun))
    if noted is None:
        # Journaled before the note existed: only a step begun and never failed may be ours.
        return presented_now and row.status == "started"
    return presented_now and not noted.get("device_config")


def reprotect(ctx: RunContext, lun: LunPlan) -> dict[str, Any]:
    """End a failback: reverse `lun`'s replication once more, so the primary replicates to the
    DR site again (`replicating`) and readiness and drills work again. Journaled under
    `storage:reprotect:<lun>`; with the manual adapter it pauses for a person to confirm the
    `reverse`, with an instruction that says it is the re-protection."""

    def act(_step: int) -> dict[str, Any]:
        try:
            state = ctx.adapter.reverse(lun.lun)
        except ManualStepRequired as exc:
            instruction = run_messages.REPROTECT_INSTRUCTION.format(lun=lun.lun)
            raise ManualStepRequired(exc.lun, exc.action, instruction) from exc
        return state.model_dump(mode="json")

    def reconcile() -> dict[str, Any] | None:
        for item in ctx.adapter.state():
            if item.lun == lun.lun and item.state == "replicating":
                return item.model_dump(mode="json")
        return None

    return ctx.journal.effect(
        keys.reprotect(lun.lun),
        "storage re-protect",
        lun.sr_name or lun.lun,
        act,
        reconcile=reconcile,
    )


def each_lun(
    ctx: RunContext,
    luns: list[LunPlan],
    action: str,
    do: Callable[[LunPlan], Any],
) -> dict[str, Any]:
    """Do the storage step(s) `do` for each LUN; a LUN whose step fails stops only its VMs.

    Returns, per LUN that went through, what `do` returned. The VMs of a failed LUN (on its SR,
    in a vApp with a VM on it, or recovered from metadata on it) end `not-run` with the storage
    error and leave the run's plan, so the rest go on (each VM gets a clear outcome).
    Raises `DRError` when no LUN went through, or nothing is left to recover;
    `ManualStepRequired` propagates (the run pauses there).
    """
    done: dict[str, Any] = {}
    failed: dict[str, tuple[LunPlan, str]] = {}
    for lun in luns:
        try:
            done[lun.lun] = do(lun)
        except StorageError as exc:  # ManualStepRequired is no StorageError: it propagates
            failed[lun.lun] = (lun, str(exc))
    if not failed:
        return done
    items = "; ".join(f"{name}: {error}" for name, (_, error) in failed.items())
    had_vms = bool(ctx.plan.vms)
    drop_vms_of_failed_luns(ctx, action, list(failed.values()))
    if not done or (had_vms and not ctx.plan.vms):
        raise StorageError(run_messages.ALL_LUNS_FAILED.format(items=items))
    return done


def drop_vms_of_failed_luns(
    ctx: RunContext, action: str, failed: list[tuple[LunPlan, str]]
) -> None:
    """Mark the VMs that depend on a failed LUN `not-run` (saying why) and remove them, and
    the vApps they belong to, from the run's plan (in memory: a resumed run asks again)."""
    plan = ctx.plan
    meta_sr = {m.vdi_uuid: m.sr_uuid for m in plan.metadata_vdis}
    why: dict[str, str] = {}  # vm uuid -> reason
    cause: dict[str, tuple[LunPlan, str]] = {}  # vm uuid -> the failed LUN it needs, its error

    def on_lun(vm_srs: list[str], metadata_vdi: str | None) -> tuple[LunPlan, str, str] | None:
        # Its own disks first: that is the reason a person can act on.
        for lun, error in failed:
            if lun.sr_uuid in vm_srs:
                return lun, error, run_messages.LUN_STEP_FAILED_VM
        for lun, error in failed:
            if metadata_vdi and meta_sr.get(metadata_vdi) == lun.sr_uuid:
                return lun, error, run_messages.LUN_STEP_FAILED_METADATA
        return None

    for vm in plan.vms:
        hit = on_lun(vm.sr_uuids, vm.metadata_vdi_uuid)
        if hit:
            lun, error, text = hit
            cause[vm.uuid] = (lun, error)
            why[vm.uuid] = text.format(action=action, lun=lun.lun, error=error)
    appliances = []
    for app in plan.appliances:
        hit = on_lun([], app.metadata_vdi_uuid)
        struck = [vm.uuid for vm in app.vms if vm.uuid in cause]
        if hit is None and not struck:
            appliances.append(app)
            continue
        # VM_appliance.recover brings the vApp back whole or not at all: its members wait too.
        lun, error = (hit[0], hit[1]) if hit else cause[struck[0]]
        for vm in app.vms:
            why.setdefault(
                vm.uuid,
                run_messages.LUN_STEP_FAILED_APP.format(
                    app=app.name, lun=lun.lun, action=action, error=error
                ),
            )
    standalone = [vm for vm in plan.standalone_vms if vm.uuid not in why]
    ctx.plan = plan.model_copy(update={"appliances": appliances, "standalone_vms": standalone})
    for uuid, reason in why.items():
        ctx.vm_status(uuid, VMStatus.NOT_RUN, reason)
    for lun, error in failed:
        ctx.notes.append(
            run_messages.LUN_STEP_FAILED_NOTE.format(action=action, lun=lun.lun, error=error)
        )
    ctx.flush_outcomes()


def attach_sr(
    ctx: RunContext, client: PoolAPI, lun: LunPlan, device_config: dict[str, str]
) -> dict[str, Any]:
    """Make the SR of `lun` attached in `client`'s pool, journaled under `attach:<sr uuid>`.

    If the pool does not know the SR, `DR_task.create` introduces and plugs it (the result names
    the DR_task and the SRs it introduced: the run created those and its cleanup removes them).
    If the pool already knows it (a trap of reference §7.7: DR_task.create would silently skip
    it), its unplugged PBDs are plugged instead and nothing is recorded as created.
    """
    key = keys.attach(lun.sr_uuid)

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
        if row is not None and row.task_ref:
            try:
                rec = client.call("task.get_record", row.task_ref)
                if rec.get("status") == "pending":
                    client.wait([row.task_ref], timeout=ctx.task_timeout)
            except XapiRejected:
                pass
        found = existing()
        if found is None:
            return None
        return {**found, "introduced_srs": [lun.sr_uuid] if found["introduced"] else []}

    return ctx.journal.effect(
        key, "attach SR", lun.sr_name or lun.sr_uuid, act, reconcile=reconcile
    )


def lun_identity(config: dict[str, str]) -> str | None:
    """What names one LUN in a device_config, for comparing two: its SCSIid (iSCSI, HBA), else
    the NFS server and path, else the local device; None when it names none."""
    if config.get("SCSIid"):
        return f"SCSIid={config['SCSIid']}"
    if config.get("serverpath"):
        return f"NFS {config.get('server', '')}:{config['serverpath']}"
    if config.get("device"):
        return f"device={config['device']}"
    return None


def removal_hint(client: PoolAPI, sr_ref: str, sr_uuid: str) -> str:
    """How a person removes an SR the run did not make: through the DR_task that introduced
    it when there is one (DR_task.destroy unplugs and forgets it), else by hand."""
    task = client.call("SR.get_introduced_by", sr_ref)
    if task not in (None, "", NULL_REF):
        try:
            return run_messages.KNOWN_SR_HOW_TASK.format(
                task=client.call("DR_task.get_uuid", task), uuid=sr_uuid
            )
        except XapiRejected:
            pass
    return run_messages.KNOWN_SR_HOW.format(uuid=sr_uuid)


def known_sr_not_ours(
    ctx: RunContext, client: PoolAPI, lun: LunPlan, config: dict[str, str]
) -> str | None:
    """Why an SR of `lun`'s uuid that the destination already knows is not provably the LUN
    this run promoted or presented (`config`), or None when it is, or is not known.

    A test copy keeps the SR uuid of the mirror it was taken from (a snapshot of the volume
    group), so the uuid proves nothing: only the LUN its PBDs reach does. An SR whose PBDs all
    reach the LUN of `config` is ours (a run resumed, or a failover run again); anything else
    (another LUN, no PBD, no `config` to compare with) is a conflict to report.
    """
    ref = ref_by_uuid(client, "SR", lun.sr_uuid)
    if ref is None:
        return None
    pbds = [client.call("PBD.get_record", p) for p in client.call("SR.get_PBDs", ref)]
    reached = {lun_identity(p.get("device_config") or {}) or "an unknown LUN" for p in pbds}
    ours = lun_identity(config)
    if ours is not None and reached == {ours}:
        return None
    attached = any(p.get("currently_attached") for p in pbds)
    task = client.call("SR.get_introduced_by", ref)
    through = ""
    if task not in (None, "", NULL_REF):
        try:
            through = f", introduced by DR_task {client.call('DR_task.get_uuid', task)}"
        except XapiRejected:
            through = ""
    what = run_messages.KNOWN_SR_WHAT.format(
        devices=", ".join(sorted(reached)) or "no LUN (it has no PBD)",
        attached="attached" if attached else "detached",
        task=through,
    )
    return run_messages.KNOWN_SR_NOT_OURS.format(
        pool=ctx.plan.dest_pool,
        sr=lun.sr_name or lun.lun,
        uuid=lun.sr_uuid,
        made=f"presented ({ours})" if ctx.plan.kind == "test-failover" else f"promoted ({ours})",
        what=what,
        how=removal_hint(client, ref, lun.sr_uuid),
    )


def attach_all(
    ctx: RunContext, client: PoolAPI, luns: list[LunPlan], configs: dict[str, dict[str, str]]
) -> list[LunPlan]:
    """Attach the SRs of all `luns` at once: one `Async.DR_task.create` per LUN in flight
    together (each plugs the SR on every host one after the other, so doing LUNs one by one
    would add up). SRs the pool already knows are plugged through `attach_sr`.

    Returns the LUNs attached. A LUN that cannot be attached stops only the VMs that need it
    (they end `not-run` saying why, as in `each_lun`); raises `DRError` when none could be
    attached or nothing is left to recover.
    """
    if ctx.plan.kind != "failback":
        # At the DR site an SR already known by uuid may be an earlier drill's copy (stale
        # metadata and disks): stop before anything is attached or recovered. (A failback's
        # home pool knows its own SRs from before the failover: those are its own.)
        stale = [
            why
            for lun in luns
            if ctx.journal.row(keys.attach(lun.sr_uuid)) is None
            and (
                why := known_sr_not_ours(
                    ctx, client, lun, configs.get(lun.lun) or lun.device_config
                )
            )
        ]
        if stale:
            raise DRError(" ".join(stale))
    actions = []
    failed: list[tuple[LunPlan, str]] = []
    before = set(client.get_all_records("DR_task"))
    for lun in luns:
        key = keys.attach(lun.sr_uuid)
        if ctx.journal.is_done(key):
            continue
        if ctx.journal.row(key) is None and ref_by_uuid(client, "SR", lun.sr_uuid) is not None:
            try:
                attach_sr(ctx, client, lun, configs.get(lun.lun) or {})
            except DRError as exc:
                if lost_contact(exc):
                    raise
                failed.append((lun, str(exc)))
            continue
        config = configs.get(lun.lun) or lun.device_config
        if not config:
            failed.append((lun, run_messages.ATTACH_NO_CONFIG.format(lun=lun.lun)))
            continue
        actions.append(_attach_action(client, lun, config))
    if actions:
        executor = ctx.executor(client)
        executor.limits = {**executor.limits, "attach": ATTACH_AT_ONCE}
        outcomes = executor.run(actions)
        if any(outcomes[a.key].status not in ("done", "failed") for a in actions):
            # Cancelled or skipped: nothing is to be recovered from a half-attached set.
            items = "; ".join(
                f"{a.subject}: {outcomes[a.key].error}"
                for a in actions
                if outcomes[a.key].status != "done"
            )
            raise DRError(run_messages.ATTACH_FAILED.format(items=items))
        by_key = {keys.attach(lun.sr_uuid): lun for lun in luns}
        failed += [
            (by_key[a.key], str(outcomes[a.key].error))
            for a in actions
            if outcomes[a.key].status == "failed"
        ]
        for a in actions:
            lun = by_key[a.key]
            result = outcomes[a.key].result or {}
            if outcomes[a.key].status == "done" and not _attached(client, lun, result):
                found = probed_srs(client, lun, configs.get(lun.lun) or lun.device_config)
                _destroy_dr_task(ctx, client, str(result.get("dr_task_uuid")), lun)
                failed.append(
                    (
                        lun,
                        run_messages.ATTACH_NOTHING.format(
                            lun=lun.lun, sr=lun.sr_uuid, found=found
                        ),
                    )
                )
        ours = {str((o.result or {}).get("dr_task_uuid")) for o in outcomes.values()}
        for ref, rec in client.get_all_records("DR_task").items():
            if ref not in before and rec["uuid"] not in ours:
                # Left by a DR_task.create that failed: xapi makes the task before it plugs.
                _destroy_dr_task(ctx, client, rec["uuid"], None)
    bad = {lun.lun for lun, _ in failed}
    failed += scan_attached(client, [lun for lun in luns if lun.lun not in bad])
    if not failed:
        return list(luns)
    items = "; ".join(f"{lun.sr_name or lun.lun}: {error}" for lun, error in failed)
    bad = {lun.lun for lun, _ in failed}
    attached = [lun for lun in luns if lun.lun not in bad]
    had_vms = bool(ctx.plan.vms)
    drop_vms_of_failed_luns(ctx, "attach", failed)
    if not attached or (had_vms and not ctx.plan.vms):
        raise DRError(run_messages.ATTACH_FAILED.format(items=items))
    return attached


def _attach_action(client: PoolAPI, lun: LunPlan, config: dict[str, str]) -> Action:
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
        key=keys.attach(lun.sr_uuid),
        name="attach SR",
        subject=lun.sr_name or lun.sr_uuid,
        launch=launch,
        reconcile=reconcile,
        interpret=interpret,
        lane="attach",
        methods=("DR_task.create",),
    )


def _attached(client: PoolAPI, lun: LunPlan, result: dict[str, Any]) -> bool:
    """Whether a DR_task.create that succeeded attached the LUN's SR (xapi succeeds with an
    empty DR_task when the probe found no SR of that uuid, docs/xapi-behaviours.md §2)."""
    if lun.sr_uuid in (result.get("introduced_srs") or []):
        return True
    ref = ref_by_uuid(client, "SR", lun.sr_uuid)
    return ref is not None and any(
        client.call("PBD.get_currently_attached", pbd) for pbd in client.call("SR.get_PBDs", ref)
    )


def probed_srs(client: PoolAPI, lun: LunPlan, config: dict[str, str]) -> str:
    """What a metadata probe of the LUN's device_config finds on the coordinator, for a
    message: the SR uuids, or why the probe failed."""
    try:
        pool = client.call("pool.get_all")[0]
        master = client.call("pool.get_master", pool)
        xml = client.call("SR.probe", master, config, lun.sr_type, {"metadata": "true"})
        uuids = [e.text.strip() for e in fromstring(xml).iter("UUID") if e.text]
    except (XapiError, ParseError, IndexError) as exc:
        if isinstance(exc, XapiError) and lost_contact(exc):
            raise
        return run_messages.PROBE_FAILED.format(error=exc)
    return ", ".join(uuids) if uuids else run_messages.PROBE_EMPTY


def _destroy_dr_task(ctx: RunContext, client: PoolAPI, uuid: str, lun: LunPlan | None) -> None:
    """Destroy a DR_task the run does not keep (empty, or left by a failed create),
    journaled under `finish:drtask:<uuid>`."""

    def gone() -> dict[str, Any] | None:
        return {"gone": True} if ref_by_uuid(client, "DR_task", uuid) is None else None

    def act(_step: int) -> dict[str, Any]:
        ref = ref_by_uuid(client, "DR_task", uuid)
        if ref is not None:
            client.call("DR_task.destroy", ref)
        return {"gone": True}

    subject = (lun.sr_name or lun.lun) if lun else uuid
    ctx.journal.effect(keys.finish_dr_task(uuid), "destroy DR_task", subject, act, reconcile=gone)


def plug_all(client: PoolAPI, sr_ref: str) -> list[str]:
    """Plug every unplugged PBD of an SR; returns the PBD refs plugged."""
    plugged = []
    for pbd in client.call("SR.get_PBDs", sr_ref):
        if not client.call("PBD.get_currently_attached", pbd):
            client.call("PBD.plug", pbd)
            plugged.append(pbd)
    return plugged


def scan_attached(client: PoolAPI, luns: list[LunPlan]) -> list[tuple[LunPlan, str]]:
    """`SR.scan` every attached SR; -> the LUNs whose scan failed, with the error.

    Since xen-api v23.22.0 (CA-379112) the coordinator's first plug no longer scans, and
    `SR.introduce` marks nothing for the periodic scanner: an SR the pool did not know has no
    VDI records (no metadata VDI, no disk) until someone scans it. On older releases the plug
    scanned already and this scan finds nothing new. See docs/xapi-behaviours.md.
    """
    failed = []
    for lun in luns:
        ref = ref_by_uuid(client, "SR", lun.sr_uuid)
        if ref is None:
            failed.append((lun, run_messages.SCAN_NO_SR.format(sr=lun.sr_uuid)))
            continue
        try:
            client.call("SR.scan", ref)
        except XapiError as exc:
            if lost_contact(exc):
                raise
            failed.append((lun, run_messages.SCAN_FAILED.format(error=exc)))
    return failed
