"""What a blind plan learns once the mirror is attached.

A plan made while the source was unknown and unreachable says only "everything on the latest
metadata": no VMs, no vApps, no network map. Once the replicated SRs are attached, the run
reads the metadata databases and makes from them what the planner would have made: the VMs and
vApps to recover (the newest record per VM by XAPI's version counter, the seed's rule), the
networks they use and where those land at the destination (by name, then bridge: XAPI's
import's order), and the VMs that cannot be recovered here because a disk is on storage that
is not replicated (`not-protected`, in readiness's words), which are never asked of XAPI.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from engine import capacity, run_messages
from engine import messages as m
from engine import stepkeys as keys
from engine.errors import DRError, XapiError, lost_contact
from engine.kinds.context import RunContext, apply_expansion
from engine.kinds.lookups import ref_by_uuid, to_int
from engine.models import NetworkMapping, VMInfo
from engine.pool_api import PoolAPI
from engine.protection import Records, protection_problems, read_foreign
from store import VMStatus

if TYPE_CHECKING:
    from engine.kinds.recovery import Databases

# readiness's words for why a VM is not protected (engine/readiness.py uses the same strings).
_WHY = {
    "local-storage": m.R_LOCAL,
    "not-replicated": m.R_NOT_REPLICATED,
    "snapshot-not-replicated": m.R_SNAPSHOT_NOT_REPLICATED,
    "suspend-not-replicated": m.R_SUSPEND_NOT_REPLICATED,
}


def expand_from_metadata(
    ctx: RunContext, client: PoolAPI, dbs: Databases, attached: list[str]
) -> None:
    """Make the run's plan what the attached metadata holds (see the module docstring).

    `attached` are the uuids of the SRs the run attached. Journaled under `expand:metadata`,
    so a resumed run recovers the same list and ensures the same networks.
    """

    def act(_step: int) -> dict[str, Any]:
        return read_expansion(ctx, client, dbs.candidates(), attached)

    found = ctx.journal.effect(keys.EXPAND_METADATA, "read metadata", ctx.plan.dest_pool, act)
    apply_expansion(ctx, found)
    dbs.plan = ctx.plan


def read_expansion(
    ctx: RunContext, client: PoolAPI, candidates: list[str], attached: list[str]
) -> dict[str, Any]:
    """The expansion's journaled result: `apps` (uuid -> name, vdi), `vms` (VMPlan fields),
    `unprotected` (uuid, name, appliance, status, why: the VMs never asked of XAPI, either
    `not-protected` or `not-run` when a replicated SR they need was not attached) and
    `networks` (NetworkMapping fields)."""
    best: dict[str, tuple[VMInfo, Records]] = {}
    for vdi in candidates:
        ref = ref_by_uuid(client, "VDI", vdi)
        if ref is None:
            continue
        try:
            records = read_foreign(client, ref, vdi)
        except (DRError, XapiError) as exc:
            if lost_contact(exc):
                raise
            continue  # an unreadable copy: another candidate may hold the VMs
        for vm in records.real_vms():
            if vm.uuid not in best or vm.version > best[vm.uuid][0].version:
                best[vm.uuid] = (vm, records)
    replicated = {lun.sr_uuid for lun in ctx.plan.luns} | set(attached)
    left_out: dict[str, tuple[VMStatus, str]] = {}  # vm uuid -> its outcome, never asked of XAPI
    for vm, records in best.values():
        problems = protection_problems(records, vm, replicated)
        missing = sorted(
            sr.name_label or sr.uuid for sr in records.disk_srs(vm) if sr.uuid not in attached
        )
        if problems:
            why = "; ".join(_WHY[code].format(sr=sr, whose=whose) for code, sr, whose in problems)
            left_out[vm.uuid] = (VMStatus.NOT_PROTECTED, run_messages.NOT_PROTECTED.format(why=why))
        elif missing:
            why = run_messages.SR_NOT_ATTACHED.format(srs=", ".join(missing))
            left_out[vm.uuid] = (VMStatus.NOT_RUN, why)
    app_of = {uuid: _appliance(vm, records) for uuid, (vm, records) in best.items()}
    # VM_appliance.recover brings a vApp back whole or not at all: a member that cannot come
    # back keeps the others out too, and each of them says which member and why.
    cannot = dict(left_out)  # the members that keep their vApp out, by their own cause
    for uuid in best:
        app = app_of[uuid]
        if app is None or uuid in cannot:
            continue
        blocking = sorted((best[u][0].name_label, u) for u in cannot if app_of[u] == app)
        if blocking:
            name, first = blocking[0]
            status, why = cannot[first]
            left_out[uuid] = (
                status,
                run_messages.APP_MEMBER_LEFT_OUT.format(app=app[1], vm=name, why=why),
            )
    dest_vms = {r["uuid"]: r for r in client.get_all_records("VM").values()}
    apps: dict[str, dict[str, Any]] = {}
    vms, unprotected = [], []
    used: dict[str, Any] = {}
    for uuid, (vm, records) in best.items():
        app = app_of[uuid]
        if uuid in left_out:
            status, why = left_out[uuid]
            unprotected.append(
                {
                    "uuid": uuid,
                    "name": vm.name_label,
                    "appliance": app[1] if app else None,
                    "status": status.value,
                    "why": why,
                }
            )
            continue
        if app is not None:
            apps.setdefault(app[0], {"name": app[1], "vdi": records.metadata_vdi_uuid})
        nets = records.networks_of(vm)
        for net in nets:
            used.setdefault(net.name_label, net)
        existing = dest_vms.get(uuid)
        have = to_int(existing.get("version")) if existing is not None else None
        vms.append(
            {
                "uuid": uuid,
                "name": vm.name_label,
                "appliance_uuid": app[0] if app else None,
                "order": vm.order,
                "start_delay": vm.start_delay,
                "shutdown_delay": vm.shutdown_delay,
                "memory_bytes": capacity.vm_start_bytes(vm),
                "vcpus": vm.vcpus_max,
                "version": vm.version,
                "metadata_vdi_uuid": records.metadata_vdi_uuid,
                "record_source": "metadata-vdi",
                "sr_uuids": sorted(sr.uuid for sr in records.disk_srs(vm)),
                "networks": sorted(n.name_label for n in nets),
                "power_after": ctx.plan.power_after,
                "existing_in_dest": "none"
                if have is None
                else ("older" if have < vm.version else "newer-or-equal"),
            }
        )
    networks = [nm.model_dump(mode="json") for nm in land_networks(client, used)]
    return {"apps": apps, "vms": vms, "unprotected": unprotected, "networks": networks}


def land_networks(client: PoolAPI, used: dict[str, Any]) -> list[NetworkMapping]:
    """Where each network the VMs use lands at the destination: a network of its name, else of
    its bridge (the order XAPI's import looks them up in), else none (`ensure_networks` then
    makes one)."""
    dest = list(client.get_all_records("network").values())
    out = []
    for name in sorted(used):
        bridge = used[name].bridge
        mapping = NetworkMapping(source_name=name, source_bridge=bridge)
        by_name = [r for r in dest if r.get("name_label") == name]
        by_bridge = [r for r in dest if bridge and r.get("bridge") == bridge]
        for found, how in ((by_name, "name"), (by_bridge, "bridge")):
            if found:
                mapping = mapping.model_copy(
                    update={
                        "dest_name": found[0].get("name_label"),
                        "dest_uuid": found[0].get("uuid"),
                        "matched_by": how,
                        "has_pifs": bool(found[0].get("PIFs")),
                    }
                )
                break
        out.append(mapping)
    return out


def _appliance(vm: VMInfo, records: Records) -> tuple[str, str] | None:
    """(uuid, name) of the vApp the VM's record puts it in, or None."""
    app = records.appliances.get(vm.appliance or "")
    return (app.uuid, app.name_label) if app is not None else None
