"""What the three kinds of run share: the context, storage steps, attaching SRs, recovering and
starting in vApp order, shutting down in reverse order, and cleaning up what a run created.

Every side effect goes through the run's journal (synchronous ones through `Journal.effect`,
Async ones through `engine.executor`), keyed so that a resumed run skips what is done and checks
the world for what was begun. Keys:

    storage:<action>:<lun>      present_test_copy / promote / reverse / sync / remove_test_copy
    attach:<sr uuid>            DR_task.create for a LUN (result: dr_task uuid, introduced SRs)
    recover:app:<uuid>          Async.VM_appliance.recover
    recover:vm:<uuid>           Async.VM.recover (standalone VMs)
    start:vm:<uuid>             Async.VM.start
    shutdown:<pool>:vm:<uuid>   Async.VM.clean_shutdown (planned failover, failback)
    cleanup:...                 the undo of each of the above
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from engine import run_messages
from engine.clock import Clock
from engine.errors import DRError, XapiError, XapiRejected
from engine.executor import Action, Executor, Outcome
from engine.journal import Journal
from engine.models import NULL_REF, AppliancePlan, LunPlan, Plan, VMPlan

RECOVER_METHODS = ("VM.recover", "VM_appliance.recover")
LIVE_STATES = ("Running", "Paused", "Suspended")
# VM statuses after which nothing more happens to the VM in this run (progress counts them).
SETTLED = frozenset(
    {
        "started",
        "started-paused",
        "not-in-metadata",
        "recover-failed",
        "start-failed",
        "skipped",
        "not-run",
    }
)


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
    client: Callable[[str], Any]  # pool name -> XapiClient
    adapter: Any  # StorageAdapter
    clock: Clock
    limits: Limits
    cancel: threading.Event
    task_timeout: float = 3600.0
    # Whether the engine waits a VM's start_delay itself. XAPI's VM.start already sleeps it
    # before returning (reference §3.3), so by default the engine only chains the groups.
    engine_waits_start_delay: bool = False
    outcomes: dict[str, dict[str, Any]] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    save_outcomes: Callable[[dict[str, dict[str, Any]]], None] | None = None

    @property
    def dest(self) -> Any:
        return self.client(self.plan.dest_pool)

    @property
    def source(self) -> Any:
        return self.client(self.plan.source_pool)

    @property
    def stop_on_failure(self) -> bool:
        return bool(getattr(self.plan, "stop_on_failure", False))

    def executor(self, client: Any) -> Executor:
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
            found = self.journal.result("expand:metadata")
            if found:
                apply_expansion(self, found)
        self.fill_outcomes()

    def fill_outcomes(self) -> None:
        for app in self.plan.appliances:
            for vm in app.vms:
                self.outcomes.setdefault(vm.uuid, _vm_outcome(vm, app.name))
        for vm in self.plan.standalone_vms:
            self.outcomes.setdefault(vm.uuid, _vm_outcome(vm, None))

    def vm_status(self, uuid: str, status: str, error: str | None = None, **more: Any) -> None:
        entry = self.outcomes.get(uuid)
        if entry is None:
            return
        entry["status"] = status
        if error is not None:
            entry["error"] = error
        entry.update(more)
        settled = SETTLED | ({"recovered"} if self.plan.power_after == "leave-off" else set())
        done = sum(1 for o in self.outcomes.values() if o.get("status") in settled)
        self.journal.emit(
            "vm",
            subject=entry["name"],
            vm_uuid=uuid,
            vm_status=status,
            message=error or "",
            done=done,
            total=len(self.outcomes),
        )

    def flush_outcomes(self) -> None:
        if self.save_outcomes is not None:
            self.save_outcomes(self.outcomes)


def _vm_outcome(vm: VMPlan, app: str | None) -> dict[str, Any]:
    return {"name": vm.name, "appliance": app, "status": "pending", "error": None}


# ---------------------------------------------------------------------------------------------
# Lookups in a pool
# ---------------------------------------------------------------------------------------------


def ref_by_uuid(client: Any, cls: str, uuid: str) -> str | None:
    """The ref of the object with this uuid, or None if there is none."""
    try:
        return str(client.call(f"{cls}.get_by_uuid", uuid))
    except XapiRejected as exc:
        if exc.code in ("UUID_INVALID", "HANDLE_INVALID"):
            return None
        raise


def vm_record(client: Any, uuid: str) -> dict[str, Any] | None:
    ref = ref_by_uuid(client, "VM", uuid)
    if ref is None:
        return None
    try:
        rec = client.call("VM.get_record", ref)
    except XapiRejected:
        return None
    return {**rec, "ref": ref}


def _int(value: Any) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        return 0


# ---------------------------------------------------------------------------------------------
# Storage steps
# ---------------------------------------------------------------------------------------------


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


# ---------------------------------------------------------------------------------------------
# Attaching replicated SRs at the destination
# ---------------------------------------------------------------------------------------------


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


# ---------------------------------------------------------------------------------------------
# Recover and start, in vApp order
# ---------------------------------------------------------------------------------------------


class Databases:
    """The foreign metadata databases a recovery reads, opened once and closed at the end."""

    def __init__(self, client: Any, plan: Plan, sr_uuids: list[str]) -> None:
        self.client = client
        self.plan = plan
        self.sr_uuids = sr_uuids
        self._dbs: dict[str, Any] = {}  # vdi uuid -> ForeignDatabase

    def __enter__(self) -> Databases:
        return self

    def __exit__(self, *exc: object) -> None:
        for db in self._dbs.values():
            db.close()
        self._dbs.clear()

    def candidates(self) -> list[str]:
        wanted = [m.vdi_uuid for m in self.plan.metadata_vdis if m.latest]
        if wanted:
            return wanted
        # No metadata named by the plan: every latest metadata VDI on the attached SRs.
        # The pool's own metadata (its live redo log) is never a source to recover from.
        own = set(self.client.call("pool.get_all"))
        found = []
        for sr_uuid in self.sr_uuids:
            sr = ref_by_uuid(self.client, "SR", sr_uuid)
            if sr is None:
                continue
            for vdi in self.client.call("SR.get_VDIs", sr):
                rec = self.client.call("VDI.get_record", vdi)
                if (
                    rec.get("type") == "metadata"
                    and rec.get("metadata_latest")
                    and rec.get("metadata_of_pool") not in own
                ):
                    found.append(rec["uuid"])
        return found

    def open(self, vdi_uuid: str) -> Any:
        if vdi_uuid not in self._dbs:
            ref = ref_by_uuid(self.client, "VDI", vdi_uuid)
            if ref is None:
                raise DRError(run_messages.NO_METADATA.format(what=f"VDI {vdi_uuid}"))
            db = self.client.open_database(ref)
            db.open()
            self._dbs[vdi_uuid] = db
        return self._dbs[vdi_uuid]

    def find(self, cls: str, uuid: str, hint: str | None) -> tuple[Any, str]:
        """The database holding object `uuid` of `cls`, and its ref there (hint tried first)."""
        order = ([hint] if hint else []) + [v for v in self.candidates() if v != hint]
        for vdi in order:
            try:
                db = self.open(vdi)
            except (DRError, XapiError):
                continue
            try:
                return db, str(db.call(f"{cls}.get_by_uuid", uuid))
            except XapiRejected:
                continue
        raise DRError(run_messages.NO_METADATA.format(what=f"{cls} {uuid}"))


def recovered(client: Any, vm: VMPlan) -> dict[str, Any] | None:
    """The world's answer to "was this VM recovered?": its record at the destination if it
    exists there as a recovered copy (XAPI bumps `version` on recovery), else None."""
    rec = vm_record(client, vm.uuid)
    if rec is None:
        return None
    if vm.existing_in_dest != "none" and _int(rec.get("version")) <= vm.version:
        return None  # the copy that was there before the run, not ours
    return rec


class Placement:
    """Spreads the run's VM starts over the destination's live hosts.

    XAPI boots a limited number of VMs at once per host (xenopsd's worker pool), so where the
    starts land decides how many run in parallel. Each start goes to the live host with the
    fewest of this run's starts in flight among those with room for the VM's memory
    (`VM.start_on`); with one live host, or none with room, it is left to XAPI (`VM.start`).
    """

    def __init__(self, client: Any) -> None:
        self._lock = threading.Lock()
        self._free: dict[str, int] = {}
        self._busy: dict[str, int] = {}
        self._placed: dict[str, tuple[str, int]] = {}  # action key -> host, bytes
        try:
            hosts = client.get_all_records("host")
            metrics = client.get_all_records("host_metrics")
        except XapiError:
            return
        for ref, rec in hosts.items():
            m = metrics.get(rec.get("metrics", ""), {})
            if rec.get("enabled", True) and m.get("live", True):
                self._free[ref] = _int(m.get("memory_free"))
                self._busy[ref] = 0

    def choose(self, key: str, memory: int) -> str | None:
        with self._lock:
            if len(self._free) < 2:
                return None
            fits = [h for h, free in self._free.items() if free >= memory]
            if not fits:
                return None
            host = min(fits, key=lambda h: (self._busy[h], -self._free[h]))
            self._busy[host] += 1
            self._free[host] -= memory
            self._placed[key] = (host, memory)
            return host

    def release(self, key: str, started: bool) -> None:
        with self._lock:
            placed = self._placed.pop(key, None)
            if placed is None:
                return
            host, memory = placed
            self._busy[host] -= 1
            if not started:
                self._free[host] += memory


def recover_and_start_actions(
    ctx: RunContext, client: Any, dbs: Databases, power_after: str
) -> tuple[list[Action], dict[str, list[str]]]:
    """The DAG of one recovery: recover each vApp / standalone VM, then start its VMs group by
    group (each group after the previous one of its vApp), pipelined per vApp.

    Returns the actions, per action key the uuids of the VMs it concerns, and the placement of
    the starts (None when nothing is started).
    """
    plan = ctx.plan
    actions: list[Action] = []
    vms_of: dict[str, list[str]] = {}
    paused = power_after == "start-paused"
    start = power_after in ("start", "start-paused")
    refs: dict[str, str | None] = {}  # VM uuid -> ref at the destination, learnt on recovery
    placement = Placement(client) if start else None

    def recover_app(app: AppliancePlan) -> Action:
        def launch() -> str:
            db, ref = dbs.find("VM_appliance", app.uuid, app.metadata_vdi_uuid)
            return db.recover_appliance(ref, False)

        def reconcile() -> dict[str, Any] | None:
            # VM_appliance.recover imports the members together and rolls back on failure
            # (without force): one member recovered means the call happened.
            found = [vm.uuid for vm in app.vms if recovered(client, vm)]
            if found:
                return {"vms": found, "missing": [v.uuid for v in app.vms if v.uuid not in found]}
            return None

        def interpret(_result: Any) -> dict[str, Any]:
            # A vApp's metadata may lack a member (created inside the replication lag): say so.
            for vm in app.vms:
                refs[vm.uuid] = ref_by_uuid(client, "VM", vm.uuid)
            found = [vm.uuid for vm in app.vms if refs[vm.uuid]]
            return {"vms": found, "missing": [vm.uuid for vm in app.vms if vm.uuid not in found]}

        return Action(
            key=f"recover:app:{app.uuid}",
            name=run_messages.RECOVER_APP,
            subject=app.name,
            launch=launch,
            reconcile=reconcile,
            interpret=interpret,
            lane="recover",
            cost=2.0,
            method="VM_appliance.recover",
        )

    def recover_vm(vm: VMPlan) -> Action:
        def launch() -> str:
            db, ref = dbs.find("VM", vm.uuid, vm.metadata_vdi_uuid)
            return db.recover_vm(ref, False)

        def reconcile() -> dict[str, Any] | None:
            return {"vms": [vm.uuid]} if recovered(client, vm) else None

        return Action(
            key=f"recover:vm:{vm.uuid}",
            name=run_messages.RECOVER_VM,
            subject=vm.name,
            launch=launch,
            reconcile=reconcile,
            interpret=lambda _r: {"vms": [vm.uuid]},
            lane="recover",
            cost=2.0,
            method="VM.recover",
        )

    def start_vm(vm: VMPlan, after: tuple[str, ...]) -> Action:
        def launch() -> str:
            ref = refs.get(vm.uuid) or ref_by_uuid(client, "VM", vm.uuid)
            if ref is None:
                raise XapiRejected("UUID_INVALID", ["VM", vm.uuid], "VM.get_by_uuid")
            host = placement.choose(key, vm.memory_bytes) if placement else None
            if host is not None:
                return client.start_async("VM.start_on", ref, host, paused, False)
            return client.start_async("VM.start", ref, paused, False)

        key = f"start:vm:{vm.uuid}"

        def reconcile() -> dict[str, Any] | None:
            rec = vm_record(client, vm.uuid)
            if rec and rec.get("power_state") in ("Running", "Paused"):
                return {"power_state": rec["power_state"]}
            return None

        return Action(
            key=key,
            name=run_messages.START_VM,
            subject=vm.name,
            launch=launch,
            reconcile=reconcile,
            interpret=lambda _r: {"power_state": "Paused" if paused else "Running"},
            after=after[:1],
            after_any=after[1:],
            delay_after=float(vm.start_delay) if ctx.engine_waits_start_delay else 0.0,
            lane="start",
            cost=20.0 + (vm.start_delay or 0),
            method="VM.start_on" if placement and len(placement._free) > 1 else "VM.start",
        )

    for app in plan.appliances:
        rec = recover_app(app)
        actions.append(rec)
        vms_of[rec.key] = [vm.uuid for vm in app.vms]
        if not start:
            continue
        previous: tuple[str, ...] = (rec.key,)
        for group in app.order_groups:
            keys = []
            for vm in group:
                if vm.power_after == "leave-off":
                    continue
                a = start_vm(vm, previous)
                actions.append(a)
                vms_of[a.key] = [vm.uuid]
                keys.append(a.key)
            if keys:
                previous = (rec.key, *keys)
    for vm in plan.standalone_vms:
        rec = recover_vm(vm)
        actions.append(rec)
        vms_of[rec.key] = [vm.uuid]
        if start and vm.power_after != "leave-off":
            a = start_vm(vm, (rec.key,))
            actions.append(a)
            vms_of[a.key] = [vm.uuid]
    return actions, vms_of, placement


def expand_from_metadata(ctx: RunContext, client: Any, dbs: Databases) -> None:
    """A plan made blind (the source unknown and the mirror unreadable at planning time) says
    "everything on the latest metadata": read it now that it is attached, and make that the
    run's list of vApps and VMs. Journaled, so a resumed run recovers the same list."""

    def act(_step: int) -> dict[str, Any]:
        best: dict[str, tuple[int, dict[str, Any], str]] = {}  # vm uuid -> version, rec, vdi
        apps: dict[str, dict[str, Any]] = {}  # appliance uuid -> record (+ vdi)
        for vdi in dbs.candidates():
            try:
                db = dbs.open(vdi)
                vms = db.get_all_records("VM")
                appliances = db.get_all_records("VM_appliance")
            except (DRError, XapiError):
                continue
            app_uuid = {ref: rec["uuid"] for ref, rec in appliances.items()}
            for rec in appliances.values():
                apps.setdefault(rec["uuid"], {"name": rec.get("name_label", ""), "vdi": vdi})
            for rec in vms.values():
                if rec.get("is_a_template") or rec.get("is_a_snapshot"):
                    continue
                if rec.get("is_control_domain"):
                    continue
                version = _int(rec.get("version"))
                # The seed's most-recent rule across metadata copies: XAPI's version counter.
                if rec["uuid"] not in best or version > best[rec["uuid"]][0]:
                    rec = {**rec, "appliance_uuid": app_uuid.get(rec.get("appliance") or "")}
                    best[rec["uuid"]] = (version, rec, vdi)
        dest = {r["uuid"]: r for r in client.get_all_records("VM").values()}
        out_vms = []
        for version, rec, vdi in best.values():
            existing = dest.get(rec["uuid"])
            out_vms.append(
                {
                    "uuid": rec["uuid"],
                    "name": rec.get("name_label", ""),
                    "appliance_uuid": rec["appliance_uuid"],
                    "order": _int(rec.get("order")),
                    "start_delay": _int(rec.get("start_delay")),
                    "shutdown_delay": _int(rec.get("shutdown_delay")),
                    "memory_bytes": _int(rec.get("memory_static_max")),
                    "version": version,
                    "metadata_vdi_uuid": vdi,
                    "record_source": "metadata-vdi",
                    "power_after": ctx.plan.power_after,
                    "existing_in_dest": "none"
                    if existing is None
                    else ("older" if _int(existing.get("version")) < version else "newer-or-equal"),
                }
            )
        return {"apps": apps, "vms": out_vms}

    found = ctx.journal.effect("expand:metadata", "read metadata", ctx.plan.dest_pool, act)
    apply_expansion(ctx, found)
    dbs.plan = ctx.plan


def apply_expansion(ctx: RunContext, found: dict[str, Any]) -> None:
    """Make the run's plan the list read from the metadata by `expand_from_metadata`."""
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
    ctx.plan = ctx.plan.model_copy(update={"appliances": appliances, "standalone_vms": standalone})
    ctx.fill_outcomes()


def recover_and_start(ctx: RunContext, client: Any, sr_uuids: list[str], power_after: str) -> None:
    """Recover every vApp and standalone VM of the plan into `client`'s pool and start them as
    the plan says; records each VM's outcome. Failures of single VMs do not raise."""
    with Databases(client, ctx.plan, sr_uuids) as dbs:
        if not ctx.plan.appliances and not ctx.plan.standalone_vms:
            expand_from_metadata(ctx, client, dbs)
        actions, vms_of, placement = recover_and_start_actions(ctx, client, dbs, power_after)
        ex = ctx.executor(client)

        def on_outcome(action: Action, outcome: Outcome) -> None:
            if placement is not None and action.key.startswith("start:"):
                placement.release(action.key, outcome.status == "done")
            _record(ctx, action, outcome, vms_of)

        ex.on_outcome = on_outcome
        ex.run(actions)
    ctx.flush_outcomes()


def _record(
    ctx: RunContext, action: Action, outcome: Outcome, vms_of: dict[str, list[str]]
) -> None:
    kind = action.key.split(":", 1)[0]
    missing = set((outcome.result or {}).get("missing", [])) if outcome.status == "done" else set()
    for uuid in vms_of.get(action.key, []):
        if uuid in missing:
            ctx.vm_status(uuid, "not-in-metadata", run_messages.NOT_IN_METADATA)
        elif ctx.outcomes.get(uuid, {}).get("status") == "not-in-metadata":
            continue
        elif outcome.status == "done":
            status = {"recover": "recovered", "start": "started"}.get(kind, "done")
            if kind == "start" and (outcome.result or {}).get("power_state") == "Paused":
                status = "started-paused"
            ctx.vm_status(uuid, status, **{f"{kind}_at": ctx.clock.now().isoformat()})
        elif outcome.status == "failed":
            ctx.vm_status(uuid, f"{kind}-failed", outcome.error)
        elif outcome.status == "skipped":
            # Keep the reason it was skipped for (its recovery failed) rather than "skipped".
            if not str(ctx.outcomes.get(uuid, {}).get("status", "")).endswith("-failed"):
                ctx.vm_status(uuid, "skipped", outcome.error)
        else:
            ctx.vm_status(uuid, "not-run", outcome.error)


# ---------------------------------------------------------------------------------------------
# Shut down in reverse order
# ---------------------------------------------------------------------------------------------


def shutdown_in_reverse_order(ctx: RunContext, client: Any, pool: str) -> dict[str, Outcome]:
    """Cleanly shut down the plan's VMs that are running in `pool`: vApp groups in descending
    order (each group after the later one), standalone VMs in parallel."""
    actions: list[Action] = []

    def shut(vm: VMPlan, after: tuple[str, ...]) -> Action:
        def launch() -> str:
            ref = ref_by_uuid(client, "VM", vm.uuid)
            if ref is None:
                raise XapiRejected("UUID_INVALID", ["VM", vm.uuid], "VM.get_by_uuid")
            return client.start_async("VM.clean_shutdown", ref)

        def reconcile() -> dict[str, Any] | None:
            rec = vm_record(client, vm.uuid)
            if rec is None or rec.get("power_state") == "Halted":
                return {"power_state": "Halted"}
            return None

        return Action(
            key=f"shutdown:{pool}:vm:{vm.uuid}",
            name=run_messages.SHUTDOWN_VM,
            subject=vm.name,
            launch=launch,
            reconcile=reconcile,
            after=after,
            lane="shutdown",
            cost=15.0 + (vm.shutdown_delay or 0),
            method="VM.clean_shutdown",
        )

    def live(vm: VMPlan) -> bool:
        rec = vm_record(client, vm.uuid)
        done = ctx.journal.is_done(f"shutdown:{pool}:vm:{vm.uuid}")
        return done or (rec is not None and rec.get("power_state") in LIVE_STATES)

    for app in ctx.plan.appliances:
        previous: tuple[str, ...] = ()
        for group in reversed(app.order_groups):
            keys = []
            for vm in group:
                if live(vm):
                    a = shut(vm, previous)
                    actions.append(a)
                    keys.append(a.key)
            if keys:
                previous = tuple(keys)
    for vm in ctx.plan.standalone_vms:
        if live(vm):
            actions.append(shut(vm, ()))
    return ctx.executor(client).run(actions)


# ---------------------------------------------------------------------------------------------
# Cleanup: remove what the run created, and prove nothing is left
# ---------------------------------------------------------------------------------------------


def created_by_run(ctx: RunContext) -> dict[str, list[str]]:
    """What the journal says this run created at the destination: VM and vApp uuids it
    recovered (or began to), DR_tasks it made and SRs those introduced."""
    vms, apps, dr_tasks, srs = [], [], [], []
    plan_vms = {vm.uuid: vm for vm in ctx.plan.vms}
    for step in ctx.journal.steps():
        key, result = step["key"], step.get("result") or {}
        if key.startswith("recover:app:"):
            apps.append(key.removeprefix("recover:app:"))
            app = next((a for a in ctx.plan.appliances if a.uuid == apps[-1]), None)
            vms += [vm.uuid for vm in app.vms] if app else []
        elif key.startswith("recover:vm:"):
            vms.append(key.removeprefix("recover:vm:"))
        elif key.startswith("attach:") and step["status"] in ("done", "started", "failed"):
            if result.get("dr_task_uuid") and result.get("introduced", True):
                dr_tasks.append(result["dr_task_uuid"])
            srs += result.get("introduced_srs") or []
            if step["status"] != "done":
                # Begun but not finished: the SR may have been introduced; look for it.
                srs.append(key.removeprefix("attach:"))
    vms = [u for u in dict.fromkeys(vms) if u in plan_vms]
    return {
        "vms": vms,
        "apps": list(dict.fromkeys(apps)),
        "dr_tasks": list(dict.fromkeys(dr_tasks)),
        "srs": list(dict.fromkeys(srs)),
    }


def destroy_vm(client: Any, uuid: str) -> None:
    """Destroy a (halted) VM, its snapshots, VBDs and VIFs; its disks (VDIs) are kept."""
    rec = vm_record(client, uuid)
    if rec is None:
        return
    for snap in rec.get("snapshots") or []:
        _destroy_vm_ref(client, snap)
    _destroy_vm_ref(client, rec["ref"], rec)


def _destroy_vm_ref(client: Any, ref: str, rec: dict[str, Any] | None = None) -> None:
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


def _quiet(client: Any, method: str, ref: str) -> None:
    try:
        client.call(method, ref)
    except XapiRejected as exc:
        if exc.code != "HANDLE_INVALID":
            raise


def forget_sr(client: Any, uuid: str) -> None:
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


def cleanup(ctx: RunContext, client: Any, *, remove_test_copies: bool) -> list[str]:
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
        name = ctx.outcomes.get(uuid, {}).get("name", uuid)
        actions.append(
            Action(
                key=f"cleanup:stop:vm:{uuid}",
                name="stop VM",
                subject=name,
                launch=lambda ref=rec["ref"]: client.start_async("VM.hard_shutdown", ref),
                reconcile=lambda u=uuid: _halted(client, u),
                lane="shutdown",
                method="VM.hard_shutdown",
            )
        )
    if actions:
        # Cleanup must go on even if the run was cancelled: use a fresh cancel flag.
        ex = Executor(
            client, ctx.journal, limits=ctx.limits.as_dict(), task_timeout=ctx.task_timeout
        )
        ex.run(actions)
    # 2. VMs, then vApps.
    for uuid in created["vms"]:
        name = ctx.outcomes.get(uuid, {}).get("name", uuid)
        _effect_absent(
            ctx,
            f"cleanup:vm:{uuid}",
            "destroy VM",
            name,
            client,
            "VM",
            uuid,
            lambda u=uuid: destroy_vm(client, u),
        )
    for uuid in created["apps"]:
        _effect_absent(
            ctx,
            f"cleanup:app:{uuid}",
            "destroy vApp",
            uuid,
            client,
            "VM_appliance",
            uuid,
            lambda u=uuid: _destroy_app(client, u),
        )
    # 3. DR_tasks (forgets the SRs still introduced by them), then SRs recovery kept attached.
    for uuid in created["dr_tasks"]:
        _effect_absent(
            ctx,
            f"cleanup:drtask:{uuid}",
            "destroy DR_task",
            uuid,
            client,
            "DR_task",
            uuid,
            lambda u=uuid: _destroy_dr_task(client, u),
        )
    for uuid in created["srs"]:
        _effect_absent(
            ctx,
            f"cleanup:sr:{uuid}",
            "forget SR",
            uuid,
            client,
            "SR",
            uuid,
            lambda u=uuid: forget_sr(client, u),
        )
    # 4. Test copies at the array.
    if remove_test_copies:
        presented = {item.lun for item in ctx.adapter.state() if item.test_copy_device_config}
        for lun in ctx.plan.luns:
            row = ctx.journal.row(f"storage:present_test_copy:{lun.lun}")
            # Ours to remove: presented by this run (done, or begun and visible at the array).
            if row is not None and (row["status"] == "done" or lun.lun in presented):
                storage_step(ctx, "remove_test_copy", lun)
    # 5. Verify.
    left = []
    for cls, uuids in (
        ("VM", created["vms"]),
        ("VM_appliance", created["apps"]),
        ("DR_task", created["dr_tasks"]),
        ("SR", created["srs"]),
    ):
        left += [f"{cls} {u}" for u in uuids if ref_by_uuid(client, cls, u) is not None]
    return left


def _halted(client: Any, uuid: str) -> dict[str, Any] | None:
    rec = vm_record(client, uuid)
    return {"power_state": "Halted"} if rec is None or rec["power_state"] == "Halted" else None


def _destroy_app(client: Any, uuid: str) -> None:
    ref = ref_by_uuid(client, "VM_appliance", uuid)
    if ref is not None:
        client.call("VM_appliance.destroy", ref)


def _destroy_dr_task(client: Any, uuid: str) -> None:
    ref = ref_by_uuid(client, "DR_task", uuid)
    if ref is not None:
        client.call("DR_task.destroy", ref)


def _effect_absent(
    ctx: RunContext,
    key: str,
    name: str,
    subject: str,
    client: Any,
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


def mark(ctx: RunContext, name: str) -> datetime:
    """A journaled point in time (the RTO's start and end survive a resume)."""
    result = ctx.journal.effect(
        f"mark:{name}", "mark", name, lambda _s: {"at": ctx.clock.now().isoformat()}
    )
    return datetime.fromisoformat(result["at"])


def destroy_dr_tasks(ctx: RunContext, client: Any) -> None:
    """Destroy the DR_tasks this run created (SRs that recovered VMs use stay attached:
    recovery cleared their `introduced_by`, reference §2.4)."""
    for uuid in created_by_run(ctx)["dr_tasks"]:
        _effect_absent(
            ctx,
            f"finish:drtask:{uuid}",
            "destroy DR_task",
            uuid,
            client,
            "DR_task",
            uuid,
            lambda u=uuid: _destroy_dr_task(client, u),
        )


# ---------------------------------------------------------------------------------------------
# HA on the DR pool (test failover only, reference §5.2.6 a): off for the test, back after
# ---------------------------------------------------------------------------------------------


def disable_ha(ctx: RunContext, client: Any) -> None:
    """Turn HA off, journaling how it was configured so `restore_ha` can turn it back on."""

    def act(_step: int) -> dict[str, Any]:
        pool = next(iter(client.call("pool.get_all")))
        rec = client.call("pool.get_record", pool)
        if not rec.get("ha_enabled"):
            return {"was_enabled": False}
        srs = []
        for item in rec.get("ha_statefiles") or []:
            if str(item).startswith("OpaqueRef:"):
                try:
                    srs.append(client.call("SR.get_uuid", client.call("VDI.get_SR", item)))
                except XapiRejected:
                    continue
            else:
                srs.append(str(item))
        client.run("pool.disable_ha", timeout=ctx.task_timeout)
        return {
            "was_enabled": True,
            "heartbeat_srs": srs,
            "configuration": dict(rec.get("ha_configuration") or {}),
            "failures_to_tolerate": str(rec.get("ha_host_failures_to_tolerate", "0")),
        }

    ctx.journal.effect("ha:disable", "disable HA", ctx.plan.dest_pool, act)


def restore_ha(ctx: RunContext, client: Any) -> None:
    """Turn HA back on as it was, if this run turned it off."""
    before = ctx.journal.result("ha:disable")
    if not before or not before.get("was_enabled"):
        return

    def act(_step: int) -> dict[str, Any]:
        srs = [r for r in (ref_by_uuid(client, "SR", u) for u in before["heartbeat_srs"]) if r]
        client.run("pool.enable_ha", srs, before["configuration"], timeout=ctx.task_timeout)
        try:
            pool = next(iter(client.call("pool.get_all")))
            client.call(
                "pool.set_ha_host_failures_to_tolerate", pool, before["failures_to_tolerate"]
            )
        except XapiError as exc:
            ctx.notes.append(f"HA is back on, but failures to tolerate not restored: {exc}")
        return {"enabled": True}

    ctx.journal.effect("ha:restore", "re-enable HA", ctx.plan.dest_pool, act)
