"""Recovering vApps and VMs from the metadata databases and starting them in vApp order."""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable
from typing import Any

from engine import run_messages
from engine import stepkeys as keys
from engine.errors import DRError, XapiError, XapiRejected, lost_contact
from engine.executor import Action, Outcome
from engine.kinds.blind import expand_from_metadata
from engine.kinds.cleanup import note_networks
from engine.kinds.context import RunContext
from engine.kinds.lookups import ref_by_uuid, to_int, vm_record
from engine.models import AppliancePlan, Plan, VMPlan
from engine.pool_api import ForeignDatabaseAPI, PoolAPI
from engine.stepkeys import StepKey
from store import VMStatus

# XAPI's refusal of a start that would leave HA unable to restart its protected VMs
# (message_forwarding.ml, check_vm_preserves_ha_plan; docs/xapi-behaviours.md §5).
HA_REFUSED_CODE = "HA_OPERATION_WOULD_BREAK_FAILOVER_PLAN"
# VM.recover's refusal of a VM whose (foreign) record is in a vApp (reference §2.6).
APPLIANCE_CODE = "VM_IS_PART_OF_AN_APPLIANCE"
# The outcomes of a VM that was not recovered: nothing to start.
NOT_RECOVERED = frozenset(
    {VMStatus.NOT_IN_METADATA, VMStatus.RECOVER_FAILED, VMStatus.NOT_PROTECTED}
)


class NotInMetadata(DRError):
    """No attached metadata database holds the VM or vApp: it never reached the mirror (it
    was created inside the replication lag) or its metadata SR is not attached."""

    code = "NOT_IN_METADATA"


class Databases:
    """The foreign metadata databases a recovery reads, opened once and closed at the end."""

    def __init__(self, client: PoolAPI, plan: Plan, sr_uuids: list[str]) -> None:
        self.client = client
        self.plan = plan
        self.sr_uuids = sr_uuids
        self._dbs: dict[str, ForeignDatabaseAPI] = {}  # by vdi uuid
        self._candidates: list[str] | None = None  # found once: the attached SRs stay

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
        if self._candidates is not None:
            return self._candidates
        # No metadata named by the plan: the foreign metadata VDIs on the attached SRs, per
        # foreign pool those marked metadata_latest if any are. Today's xapi marks none on an
        # SR it just attached (its plug no longer scans, so no plug compared their
        # generations): then the copies whose database changed last are (`_newest`), and the
        # newest record per VM wins by XAPI's version counter. The pool's own metadata (its
        # live redo log) never is.
        own = set(self.client.call("pool.get_all"))
        by_pool: dict[str, list[tuple[bool, str]]] = {}
        for sr_uuid in self.sr_uuids:
            sr = ref_by_uuid(self.client, "SR", sr_uuid)
            if sr is None:
                continue
            for vdi in self.client.call("SR.get_VDIs", sr):
                rec = self.client.call("VDI.get_record", vdi)
                if rec.get("type") == "metadata" and rec.get("metadata_of_pool") not in own:
                    copies = by_pool.setdefault(str(rec.get("metadata_of_pool")), [])
                    copies.append((bool(rec.get("metadata_latest")), rec["uuid"]))
        found = []
        for copies in by_pool.values():
            latest = [uuid for is_latest, uuid in copies if is_latest]
            found += latest or self._newest([uuid for _, uuid in copies])
        self._candidates = found
        return found

    def _newest(self, uuids: list[str]) -> list[str]:
        """xapi's `metadata_latest` rule, applied where xapi has not (reference §2.2): of
        several copies of one pool's metadata keep those whose database changed last, by the
        generation in `event.from`'s token over their VMs and vApps (§1.10); ties keep
        several, and a copy that cannot be read is left for `find` to skip."""
        if len(uuids) < 2:
            return uuids
        generation: dict[str, int | None] = {}
        for uuid in uuids:
            try:
                answer = self.open(uuid).call("event.from", ["vm", "vm_appliance"], "", 0.0)
                generation[uuid] = int(str(answer["token"]).split(",")[0])
            except (DRError, XapiError, KeyError, TypeError, ValueError) as exc:
                if isinstance(exc, XapiError) and lost_contact(exc):
                    raise
                generation[uuid] = None
        known = [g for g in generation.values() if g is not None]
        if not known:
            return uuids
        return [u for u in uuids if generation[u] in (None, max(known))]

    def open(self, vdi_uuid: str) -> ForeignDatabaseAPI:
        if vdi_uuid not in self._dbs:
            ref = ref_by_uuid(self.client, "VDI", vdi_uuid)
            if ref is None:
                raise DRError(run_messages.NO_METADATA.format(what=f"VDI {vdi_uuid}"))
            db = self.client.open_database(ref)
            db.open()
            self._dbs[vdi_uuid] = db
        return self._dbs[vdi_uuid]

    def find(self, cls: str, uuid: str, hint: str | None) -> tuple[ForeignDatabaseAPI, str]:
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
        raise NotInMetadata(run_messages.NO_METADATA.format(what=f"{cls} {uuid}"))


def recovered(client: PoolAPI, vm: VMPlan) -> dict[str, Any] | None:
    """The world's answer to "was this VM recovered?": its record at the destination if it
    exists there as a recovered copy (XAPI bumps `version` on recovery), else None."""
    rec = vm_record(client, vm.uuid)
    if rec is None:
        return None
    if vm.existing_in_dest != "none" and to_int(rec.get("version")) <= vm.version:
        return None  # the copy that was there before the run, not ours
    return rec


def members_at_destination(client: PoolAPI, app: AppliancePlan) -> dict[str, str | None]:
    """uuid -> ref of the vApp's VMs now in the destination (None when absent), in two calls
    (the recovered appliance keeps its uuid), else one lookup per VM."""
    wanted = {vm.uuid for vm in app.vms}
    try:
        app_ref = client.call("VM_appliance.get_by_uuid", app.uuid)
        recs = client.call("VM.get_all_records_where", f'field "appliance"="{app_ref}"')
        found = {rec["uuid"]: ref for ref, rec in recs.items() if rec["uuid"] in wanted}
    except XapiError:
        found = {}
    for uuid in wanted - set(found):
        found[uuid] = ref_by_uuid(client, "VM", uuid)
    return found


class Placement:
    """Spreads the run's VM starts over the destination's live hosts.

    XAPI boots a limited number of VMs at once per host (xenopsd's worker pool), so where the
    starts land decides how many run in parallel. Each start goes to the live host with the
    fewest of this run's starts in flight among those with room for the VM's memory
    (`VM.start_on`); with one live host, or none with room, it is left to XAPI (`VM.start`).
    A start left to XAPI (`left_to_xapi`) may land on any host: while it is in flight its
    memory is kept free on every host, and once done it is counted where it landed.
    """

    def __init__(self, client: PoolAPI) -> None:
        self._lock = threading.Lock()
        self._client = client
        self._free: dict[str, int] = {}
        self._busy: dict[str, int] = {}
        self._placed: dict[StepKey, tuple[str, int]] = {}  # action key -> host, bytes
        self._unplaced: dict[StepKey, tuple[str, int]] = {}  # action key -> VM ref, bytes
        try:
            hosts = client.get_all_records("host")
            metrics = client.get_all_records("host_metrics")
        except XapiError:
            return
        for ref, rec in hosts.items():
            m = metrics.get(rec.get("metrics", ""), {})
            if rec.get("enabled", True) and m.get("live", True):
                self._free[ref] = to_int(m.get("memory_free"))
                self._busy[ref] = 0

    def choose(self, key: StepKey, memory: int) -> str | None:
        with self._lock:
            if len(self._free) < 2:
                return None
            pending = sum(m for _ref, m in self._unplaced.values())
            fits = [h for h, free in self._free.items() if free - pending >= memory]
            if not fits:
                return None
            host = min(fits, key=lambda h: (self._busy[h], -self._free[h]))
            self._busy[host] += 1
            self._free[host] -= memory
            self._placed[key] = (host, memory)
            return host

    def left_to_xapi(self, key: StepKey, vm_ref: str, memory: int) -> None:
        """A start made with `VM.start`: XAPI chooses the host."""
        with self._lock:
            self._unplaced[key] = (vm_ref, memory)

    def release(self, key: StepKey, started: bool) -> None:
        with self._lock:
            unplaced = self._unplaced.pop(key, None)
        if unplaced is not None and started:
            with contextlib.suppress(XapiError):
                host = self._client.call("VM.get_resident_on", unplaced[0])
                with self._lock:
                    if host in self._free:
                        self._free[host] -= unplaced[1]
        with self._lock:
            placed = self._placed.pop(key, None)
            if placed is None:
                return
            host, memory = placed
            self._busy[host] -= 1
            if not started:
                self._free[host] += memory


def recover_and_start_actions(
    ctx: RunContext, client: PoolAPI, dbs: Databases, power_after: str
) -> tuple[
    list[Action],
    dict[StepKey, list[str]],
    Placement | None,
    Callable[[VMPlan, tuple[StepKey, ...]], Action],
]:
    """The DAG of one recovery: recover each vApp / standalone VM, then start its VMs group by
    group (each group after the previous one of its vApp), pipelined per vApp.

    Returns the actions, per action key the uuids of the VMs it concerns, the placement of
    the starts (None when nothing is started), and the maker of a VM's start action.
    """
    plan = ctx.plan
    actions: list[Action] = []
    vms_of: dict[StepKey, list[str]] = {}
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
            refs.update(members_at_destination(client, app))
            found = [vm.uuid for vm in app.vms if refs.get(vm.uuid)]
            return {"vms": found, "missing": [vm.uuid for vm in app.vms if vm.uuid not in found]}

        return Action(
            key=keys.recover_app(app.uuid),
            name=run_messages.RECOVER_APP,
            subject=app.name,
            launch=launch,
            reconcile=reconcile,
            interpret=interpret,
            lane="recover",
            cost=2.0,
            methods=("VM_appliance.recover",),
        )

    def recover_vm(vm: VMPlan) -> Action:
        def launch() -> str:
            db, ref = dbs.find("VM", vm.uuid, vm.metadata_vdi_uuid)
            return db.recover_vm(ref, False)

        def reconcile() -> dict[str, Any] | None:
            return {"vms": [vm.uuid]} if recovered(client, vm) else None

        return Action(
            key=keys.recover_vm(vm.uuid),
            name=run_messages.RECOVER_VM,
            subject=vm.name,
            launch=launch,
            reconcile=reconcile,
            interpret=lambda _r: {"vms": [vm.uuid]},
            lane="recover",
            cost=2.0,
            methods=("VM.recover",),
        )

    def start_vm(vm: VMPlan, after: tuple[StepKey, ...]) -> Action:
        def launch() -> str:
            ref = refs.get(vm.uuid) or ref_by_uuid(client, "VM", vm.uuid)
            if ref is None:
                raise XapiRejected("UUID_INVALID", ["VM", vm.uuid], "VM.get_by_uuid")
            host = placement.choose(key, vm.memory_bytes) if placement else None
            if host is not None and not vm.start_delay:
                return client.start_async("VM.start_on", ref, host, paused, False)
            if host is not None:
                # VM.start_on sleeps the start_delay twice (xapi_vm.ml's start, then
                # message_forwarding's start_on again); VM.start once, as the vApp was
                # planned, and starts on the VM's affinity host when it can: point it there.
                client.call("VM.set_affinity", ref, host)
                return client.start_async("VM.start", ref, paused, False)
            if placement is not None:
                placement.left_to_xapi(key, ref, vm.memory_bytes)
            return client.start_async("VM.start", ref, paused, False)

        key = keys.start_vm(vm.uuid)

        def needless() -> str | None:
            # A VM that was not recovered has nothing to start (the vApp's metadata lacked
            # it, or its recovery failed); a copy older than the run must not be started
            # either. Asking XAPI would only fail with UUID_INVALID.
            status = ctx.outcomes[vm.uuid].status if vm.uuid in ctx.outcomes else None
            if status in NOT_RECOVERED:
                return run_messages.NOT_RECOVERED_NOT_STARTED.format(status=status)
            if status is VMStatus.RECOVERED or refs.get(vm.uuid) is not None:
                return None  # this life of the run recovered it: no need to ask the pool
            if recovered(client, vm) is None:
                return run_messages.NOT_RECOVERED_NOT_STARTED.format(status="absent")
            return None

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
            methods=("VM.start_on", "VM.start"),
            needless=needless,
        )

    for app in plan.appliances:
        rec = recover_app(app)
        actions.append(rec)
        vms_of[rec.key] = [vm.uuid for vm in app.vms]
        if not start:
            continue
        previous: tuple[StepKey, ...] = (rec.key,)
        for group in app.order_groups:
            group_keys: list[StepKey] = []
            for vm in group:
                if vm.power_after == "leave-off":
                    continue
                a = start_vm(vm, previous)
                actions.append(a)
                vms_of[a.key] = [vm.uuid]
                group_keys.append(a.key)
            if group_keys:
                previous = (rec.key, *group_keys)
    for vm in plan.standalone_vms:
        rec = recover_vm(vm)
        actions.append(rec)
        vms_of[rec.key] = [vm.uuid]
        if start and vm.power_after != "leave-off":
            a = start_vm(vm, (rec.key,))
            actions.append(a)
            vms_of[a.key] = [vm.uuid]
    return actions, vms_of, placement, start_vm


def ensure_networks(ctx: RunContext, client: PoolAPI) -> None:
    """Make, once and before any recovery, each network of the plan the destination lacks.

    XAPI's import looks a network up by name, then by bridge, and otherwise creates it with
    the source's bridge on the caller's session: refused for the usual `xenbrN` / `xapiN`
    bridges, and racy between parallel recoveries (the second is refused
    `BRIDGE_NAME_EXISTS`; docs/xapi-behaviours.md §4). A network of the source's name, made
    here without a bridge (XAPI picks a free `xapiN`) and without PIFs, is what every import
    then finds by name. Journaled under `network:<name>`; a test failover's cleanup removes
    it with the other networks the run made.
    """
    for nm in ctx.plan.network_map:
        if nm.matched_by != "none":
            continue

        def find(name: str = nm.source_name) -> dict[str, Any] | None:
            found = client.call("network.get_by_name_label", name)
            return {"uuid": client.call("network.get_uuid", found[0])} if found else None

        def act(_step: int, name: str = nm.source_name) -> dict[str, Any]:
            existing = find(name)
            if existing is not None:
                return existing
            ref = client.call(
                "network.create",
                {
                    "name_label": name,
                    "name_description": run_messages.NETWORK_MADE.format(run_id=ctx.run_id),
                    "MTU": 1500,
                    "other_config": {},
                    "tags": [],
                },
            )
            return {"uuid": client.call("network.get_uuid", ref), "created": True}

        ctx.journal.effect(
            keys.network(nm.source_name), "create network", nm.source_name, act, reconcile=find
        )


def recover_and_start(
    ctx: RunContext, client: PoolAPI, sr_uuids: list[str], power_after: str
) -> None:
    """Recover every vApp and standalone VM of the plan into `client`'s pool and start them as
    the plan says; records each VM's outcome. Failures of single VMs do not raise."""
    note_networks(ctx, client)
    with Databases(client, ctx.plan, sr_uuids) as dbs:
        if not ctx.plan.appliances and not ctx.plan.standalone_vms:
            # A blind plan: its VMs and their networks are known only from the metadata now.
            expand_from_metadata(ctx, client, dbs, sr_uuids)
        ensure_networks(ctx, client)
        actions, vms_of, placement, start = recover_and_start_actions(ctx, client, dbs, power_after)
        ex = ctx.executor(client)

        def on_outcome(action: Action, outcome: Outcome) -> None:
            if placement is not None and action.key.verb is keys.Verb.START:
                placement.release(action.key, outcome.status == "done")
            _record(ctx, action, outcome, vms_of)

        ex.on_outcome = on_outcome
        outcomes = ex.run(actions)
        regrouped = recovered_through_vapps(ctx, client, dbs, outcomes)
        starts = [start(vm, ()) for vm in regrouped if vm.power_after != "leave-off"]
        if starts and power_after in ("start", "start-paused"):
            # Their own starts were skipped with their VM.recover: start them now.
            for a in starts:
                vms_of[a.key] = vms_of.get(a.key) or [a.key.subject]
            again = ctx.executor(client)
            again.on_outcome = on_outcome
            again.run(starts)
    ctx.flush_outcomes()


def recovered_through_vapps(
    ctx: RunContext, client: PoolAPI, dbs: Databases, outcomes: dict[StepKey, Outcome]
) -> list[VMPlan]:
    """Standalone VMs of the plan whose `VM.recover` was refused `VM_IS_PART_OF_AN_APPLIANCE`:
    the replicated metadata puts them in a vApp although their live record did not (moved out
    of it after the last replication). If a vApp recovery of the run brought them back, say so
    (recovered with vApp X, from the metadata as of T) and return them, to be started; if not,
    say which vApp the metadata names and what to do."""
    regrouped = []
    for vm in ctx.plan.standalone_vms:
        out = outcomes.get(keys.recover_vm(vm.uuid))
        if out is None or out.status != "failed" or out.code != APPLIANCE_CODE:
            continue
        app, as_of = _metadata_vapp(ctx, client, dbs, vm)
        if recovered(client, vm) is not None:
            why = run_messages.RECOVERED_WITH_VAPP.format(
                vm=vm.name, app=app, as_of=as_of, pool=ctx.plan.source_pool
            )
            ctx.notes.append(why)
            now = ctx.clock.now().isoformat()
            ctx.vm_status(vm.uuid, VMStatus.RECOVERED, why, recovered_at=now, step=None, code=None)
            regrouped.append(vm)
        else:
            why = run_messages.IN_VAPP_IN_METADATA.format(
                app=app, as_of=as_of, pool=ctx.plan.source_pool
            )
            ctx.vm_status(vm.uuid, VMStatus.RECOVER_FAILED, why)
    return regrouped


def _metadata_vapp(ctx: RunContext, client: PoolAPI, dbs: Databases, vm: VMPlan) -> tuple[str, str]:
    """The name of the vApp the metadata puts `vm` in, and the time the mirror holding that
    metadata is consistent as of (the adapter's word), for a message."""
    app, as_of = "?", run_messages.AS_OF_UNKNOWN
    try:
        db, ref = dbs.find("VM", vm.uuid, vm.metadata_vdi_uuid)
        app = str(db.call("VM_appliance.get_name_label", db.call("VM.get_appliance", ref)))
        vdi = vm.metadata_vdi_uuid or next(iter(dbs.candidates()), None)
        vdi_ref = ref_by_uuid(client, "VDI", vdi) if vdi else None
        if vdi_ref is not None:
            sr_uuid = client.call("SR.get_uuid", client.call("VDI.get_SR", vdi_ref))
            for lun in ctx.adapter.state():
                if lun.sr_uuid == sr_uuid and lun.last_replicated_at is not None:
                    as_of = lun.last_replicated_at.isoformat(timespec="seconds")
    except (DRError, XapiError) as exc:
        if isinstance(exc, XapiError) and lost_contact(exc):
            raise
    return app, as_of


def _record(
    ctx: RunContext, action: Action, outcome: Outcome, vms_of: dict[StepKey, list[str]]
) -> None:
    missing = set((outcome.result or {}).get("missing", [])) if outcome.status == "done" else set()
    if outcome.status == "failed" and outcome.code == NotInMetadata.code:
        missing = set(vms_of.get(action.key, []))
    recovering = action.key.verb is keys.Verb.RECOVER
    for uuid in vms_of.get(action.key, []):
        current = ctx.outcomes[uuid].status if uuid in ctx.outcomes else None
        if uuid in missing:
            ctx.vm_status(
                uuid,
                VMStatus.NOT_IN_METADATA,
                run_messages.NOT_IN_METADATA,
                step=action.name,
                code=NotInMetadata.code,
            )
        elif current is VMStatus.NOT_IN_METADATA:
            continue
        elif outcome.status == "done":
            now = ctx.clock.now().isoformat()
            if recovering:
                ctx.vm_status(uuid, VMStatus.RECOVERED, recovered_at=now)
            else:
                paused = (outcome.result or {}).get("power_state") == "Paused"
                status = VMStatus.STARTED_PAUSED if paused else VMStatus.STARTED
                ctx.vm_status(uuid, status, started_at=now)
        elif outcome.status == "failed" and outcome.code == HA_REFUSED_CODE:
            why = run_messages.HA_REFUSED.format(pool=ctx.plan.dest_pool, error=outcome.error)
            ctx.vm_status(uuid, VMStatus.HA_REFUSED, why, step=action.name, code=outcome.code)
        elif outcome.status == "failed":
            failed = VMStatus.RECOVER_FAILED if recovering else VMStatus.START_FAILED
            ctx.vm_status(uuid, failed, outcome.error, step=action.name, code=outcome.code)
        elif outcome.status == "skipped":
            # Keep the reason it was skipped for (its recovery failed) rather than "skipped".
            if current not in (
                VMStatus.RECOVER_FAILED,
                VMStatus.START_FAILED,
                VMStatus.HA_REFUSED,
            ):
                ctx.vm_status(uuid, VMStatus.SKIPPED, outcome.error)
        else:
            ctx.vm_status(uuid, VMStatus.NOT_RUN, outcome.error)
