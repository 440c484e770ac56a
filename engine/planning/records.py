"""Where a VM's record comes from: the question of reading foreign metadata.

What `VM.recover` imports is the record on the replicated metadata VDI at the DR site
(reference §2.5). At planning time that VDI usually cannot be read: for a failover the mirror is
read-only and cannot be attached until it is promoted (§7.5), and presenting a test copy or
promoting is exactly the side effect a dry run must not have. So the planner chooses, per VM,
the best record it can see, and says which one in `VMPlan.record_source`:

1. `metadata-vdi`: the record read from a metadata VDI already attached at the destination
   (`metadata_latest` only, §2.2), opened with `VDI.open_database` and released with
   `session.logout`. This happens when the mirrors are attached already (a failback whose
   reversed LUNs are attached, a re-plan during a run). Opening a database creates a session
   and a VBD in dom0 that logout removes: no VM, SR or DR_task is touched.
2. `source-pool`: the live record of the protected pool, from its event-fed inventory. The
   metadata VDI is a write-through copy of that database (§2.1), so it is the record the mirror
   will hold once replication catches up. A VM created inside the replication lag (its
   `install_time` is later than the mirror's as-of time) is not on the mirror yet: the plan warns
   (and a planned failover syncs first). If the source site is down, the inventory still holds
   the last state seen before it went, which is the best knowledge anyone has.
3. `replicated-metadata-unread`: the source is unknown to drbot (no inventory) and the mirror is
   unreadable. The plan then recovers "everything on the latest metadata VDI" and says so; a
   named target cannot be resolved and is a blocker.
"""

from __future__ import annotations

from engine.errors import XapiError
from engine.inventory import Inventory
from engine.models import MetadataSource
from engine.planning.facts import PlanFacts
from engine.protection import Records, metadata_sources, read_foreign


def records_and_metadata(f: PlanFacts) -> tuple[Records | None, list[MetadataSource]]:
    """Where the VMs' records come from (see the module docstring), and the metadata VDIs."""
    src_inv, dst_inv = f.src_inv, f.dst_inv
    metadata: list[MetadataSource] = []
    records: Records | None = None
    if f.options.read_metadata and dst_inv is not None and f.dest_up and src_inv is not None:
        records, metadata = attached_metadata(dst_inv, src_inv, f.replicated)
    if records is None and src_inv is not None:
        records = Records.of(src_inv, "source-pool")
    if not metadata and src_inv is not None:
        metadata = metadata_sources(src_inv, f.policy.kind, dst_inv)
    return records, metadata


def attached_metadata(
    dst: Inventory, src: Inventory, replicated: set[str]
) -> tuple[Records | None, list[MetadataSource]]:
    """Read the source's metadata from a metadata VDI already attached at `dst`: one marked
    metadata_latest first; then any (today's xapi marks none on an SR it attached without a
    plug that read it, docs/xapi-behaviours.md), the database read telling whose it is."""
    candidates = []
    for vdi in dst.vdis.values():
        sr = dst.srs.get(vdi.sr or "")
        if (
            vdi.type != "metadata"
            or sr is None
            or sr.uuid not in replicated
            or not dst.sr_attached(sr)
            or vdi.metadata_of_pool == dst.pool.ref
        ):
            continue
        candidates.append((sr, vdi))
    order = sorted(candidates, key=lambda c: (not c[1].metadata_latest, c[0].name_label, c[1].uuid))
    for sr, vdi in order:
        try:
            records = read_foreign(dst.client, vdi.ref, vdi.uuid)
        except XapiError:
            continue
        if records.pool_uuid != src.pool.uuid:
            continue
        source = MetadataSource(
            vdi_uuid=vdi.uuid,
            sr_uuid=sr.uuid,
            sr_name=sr.name_label,
            pool_uuid=records.pool_uuid,
            pool_name=src.pool.name_label or src.name,
            latest=True,
            read=True,
        )
        return records, [source]
    return None, []
