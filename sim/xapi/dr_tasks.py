"""DR tasks (reference §2.3-§2.4): attach the replicated SRs a probe finds, and let them go.

`DR_task.create`: probe the target with `sm_config {metadata: true}`, keep the SRs whose
uuid the whitelist names, skip those the pool already knows, introduce and plug each on the
coordinator first (CA-180653), then the other hosts; an SR that fails to plug is rolled
back and the error re-raised, while the task and the SRs before it stay (as in xapi).
`DR_task.destroy` unplugs (coordinator last, CA-187174) and forgets the SRs still
introduced by the task: recovery clears `introduced_by` on the SRs the recovered VMs use.
"""

from __future__ import annotations

import contextlib

from sim.xapi import storage
from sim.xapi.errors import XapiError
from sim.xapi.sm import METADATA_CAPABLE
from sim.xapi.world import Pool


def create_dr_task(
    pool: Pool, sr_type: str, device_config: dict[str, str], whitelist: list[str]
) -> str:
    """DR_task.create (see the module docstring); -> the DR_task ref."""
    pool.assert_licensed("DR")
    if sr_type not in METADATA_CAPABLE:
        raise XapiError(
            "OPERATION_NOT_ALLOWED", f"Disaster recovery not supported on SRs of type {sr_type}"
        )
    coordinator = pool.coordinator
    _, vols = storage.probe(pool, coordinator.address, device_config, sr_type, {"metadata": "true"})
    wanted = set(whitelist or [])
    db = pool.db
    task = db.create("DR_task", {})
    for vol in vols:
        c = vol.content
        if c.sr_uuid not in wanted or db.where("SR", uuid=c.sr_uuid):
            continue
        sr = storage.introduce(pool, c.sr_uuid, c.sr_name, c.sr_description, sr_type, "", True, {})
        try:
            hosts = [coordinator] + [h for h in pool.hosts if h is not coordinator]
            for host in hosts:
                pbd = db.create(
                    "PBD",
                    {"host": host.ref, "SR": sr, "device_config": dict(device_config)},
                )
                storage.plug(pool, pbd)
        except XapiError:
            with contextlib.suppress(XapiError):
                storage.unplug_all(pool, sr)
            with contextlib.suppress(XapiError):
                storage.forget(pool, sr)
            raise
        db.set("SR", sr, introduced_by=task)
    return task


def destroy_dr_task(pool: Pool, task: str) -> None:
    """DR_task.destroy (see the module docstring)."""
    db = pool.db
    for sr in db.get_field("DR_task", task, "introduced_SRs"):
        storage.unplug_all(pool, sr)
        storage.forget(pool, sr)
    db.delete("DR_task", task)
