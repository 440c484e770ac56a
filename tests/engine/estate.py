"""Two small pools (prod replicating to dr) served by sim/xapi's core, for planner and readiness.

`build_estate(core_sim)` starts both pools and adds what `build_pool` leaves out: a metadata VDI
of prod on its replicated SR, and the replication state of that SR's LUN as the storage adapter
reports it. Tests then change the databases (through `Database.set`, the simulator's own API) to
set up each trap, and plan or assess through the real client.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from engine.inventory import Inventory
from engine.planner import Site
from engine.storage.base import ReplicatedLun
from sim.xapi.schema import NULL_REF

GiB = 1024**3


@dataclass
class Estate:
    sims: Any
    prod_inv: Inventory
    dr_inv: Inventory
    luns: list[ReplicatedLun]
    metadata_vdi: str
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def prod(self) -> Any:
        return self.sims["prod"]

    @property
    def dr(self) -> Any:
        return self.sims["dr"]

    def reload(self) -> None:
        self.prod_inv.reload()
        self.dr_inv.reload()

    def sites(self, *, source_reachable: bool | None = None) -> tuple[Site, Site]:
        self.reload()
        return (
            Site("prod", self.prod_inv, site="prod", reachable=source_reachable),
            Site("dr", self.dr_inv, site="dr"),
        )

    def vm(self, name: str) -> str:
        return self.prod.db.by_name_label("VM", name)[0]

    def put_on_local_storage(self, vm_name: str) -> None:
        db = self.prod.db
        vm = db.get("VM", self.vm(vm_name))
        vdi = db.get("VBD", vm["VBDs"][0])["VDI"]
        db.set("VDI", vdi, SR=self.prod.refs["local_sr"])

    def put_on_replicated_storage(self, vm_name: str) -> None:
        db = self.prod.db
        vm = db.get("VM", self.vm(vm_name))
        vdi = db.get("VBD", vm["VBDs"][0])["VDI"]
        db.set("VDI", vdi, SR=self.prod.refs["shared_sr"])


def build_estate(core_sim: Any, *, prod_vms: int = 6, dr_vms: int = 2, lag: float = 60.0) -> Estate:
    sims = core_sim(prod=prod_vms, dr=dr_vms)
    prod = sims["prod"]
    db = prod.db
    shared = prod.refs["shared_sr"]
    # vm-00000 sits on local storage in build_pool; start from a fully protected estate.
    vm0 = db.get("VM", prod.refs["vms"][0])
    db.set("VDI", db.get("VBD", vm0["VBDs"][0])["VDI"], SR=shared)
    meta = db.create(
        "VDI",
        {
            "name_label": "Metadata for DR",
            "type": "metadata",
            "SR": shared,
            "metadata_of_pool": prod.refs["pool"],
            "metadata_latest": True,
            "virtual_size": 3988783104,
        },
    )
    # Every VM was installed a day ago, well before the mirror's consistent point.
    day_ago = datetime.now(UTC) - timedelta(days=1)
    for vm in prod.refs["vms"]:
        metrics = db.get("VM", vm)["metrics"]
        if metrics != NULL_REF:
            db.set("VM_metrics", metrics, install_time=day_ago)
    sr = db.get("SR", shared)
    luns = [
        ReplicatedLun(
            lun="lun-1",
            sr_uuid=sr["uuid"],
            name=sr["name_label"],
            source_site="prod",
            target_site="dr",
            state="replicating",
            lag_seconds=lag,
            pending_writes=2,
            last_replicated_at=datetime.now(UTC) - timedelta(seconds=lag),
            mirror_device_config={"target": "10.20.0.10", "targetIQN": "iqn.dr", "SCSIid": "36001"},
        )
    ]
    prod_client = sims.client("prod")
    dr_client = sims.client("dr")
    return Estate(
        sims,
        Inventory.load(prod_client),
        Inventory.load(dr_client),
        luns,
        db.get("VDI", meta)["uuid"],
    )
