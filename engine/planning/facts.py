"""What the planner's checks read: the facts of one planning, gathered once."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from engine.inventory import Inventory
from engine.models import MetadataSource, PowerAfter, VMInfo
from engine.planning.options import PlanOptions
from engine.planning.policy import KindPolicy
from engine.protection import Records, Site


@dataclass
class PlanFacts:
    """One planning's facts. The planner fills them in order (the sites first, then what was
    read of the source and the destination) and every check reads them, never the pools.

    Attributes:
        policy: what the kind of run is (`engine.planning.policy`).
        options: what the person chose; `power_after` the resulting default power.
        source, dest: the two sites; `source_up` / `dest_up` whether each answers now.
        replicated: the uuids of the SRs on the LUNs replicated between the two sites.
        records: where the VMs' records come from (None: nothing known of the source).
        metadata: the source's metadata VDIs, the one the run reads first.
        lag_cut: the time the metadata LUN's mirror is consistent as of (None: caught up).
        dest_vms: the destination's VMs by uuid; `dest_names` the uuids of its real VMs by
            name.
    """

    policy: KindPolicy
    options: PlanOptions
    power_after: PowerAfter
    source: Site
    dest: Site
    source_up: bool
    dest_up: bool
    replicated: set[str] = field(default_factory=set)
    records: Records | None = None
    metadata: list[MetadataSource] = field(default_factory=list)
    lag_cut: datetime | None = None
    dest_vms: dict[str, VMInfo] = field(default_factory=dict)
    dest_names: dict[str, set[str]] = field(default_factory=dict)

    @property
    def src_inv(self) -> Inventory | None:
        return self.source.inventory

    @property
    def dst_inv(self) -> Inventory | None:
        return self.dest.inventory

    @property
    def syncs_first(self) -> bool:
        """A planned run of a kind that shuts the source down and syncs the mirrors first."""
        return self.policy.syncs_when_planned and self.options.planned
