"""The VM-side tables of one pool database, typed, with the lookups recovery asks of them.

Two things hold such tables: a live pool's `engine.inventory.Inventory` (kept current from
events) and `engine.protection.Records` (a copy of a pool's tables, or a foreign database read
from a metadata VDI). Both are a `VMTables`, so "which SRs does this VM's recovery need" and
"which networks does it use" have one answer, whichever database is asked.

Every table is a dict from the object's ref (valid in that database only) to its model.
"""

from __future__ import annotations

from engine.models import ApplianceInfo, NetworkInfo, SRInfo, VBDInfo, VDIInfo, VIFInfo, VMInfo

# `whose` of a suspended VM's memory image in `VMTables.import_disks`.
SUSPEND_IMAGE = "suspend image"


class VMTables:
    """The tables a VM's recovery reads, and the lookups over them.

    A subclass sets the seven tables (as attributes or dataclass fields); the lookups only read
    them, copying a table's values before walking it, so a follower may change them meanwhile.
    """

    vms: dict[str, VMInfo]
    appliances: dict[str, ApplianceInfo]
    vbds: dict[str, VBDInfo]
    vdis: dict[str, VDIInfo]
    vifs: dict[str, VIFInfo]
    networks: dict[str, NetworkInfo]
    srs: dict[str, SRInfo]

    def real_vms(self) -> list[VMInfo]:
        """VMs that are not templates, snapshots or control domains."""
        return [vm for vm in list(self.vms.values()) if vm.is_real]

    def vm_disks(self, vm: VMInfo) -> list[VDIInfo]:
        """The VDIs behind a VM's non-CD, non-empty VBDs (what recovery needs, reference §2.7)."""
        out = []
        for vbd_ref in vm.vbds:
            vbd = self.vbds.get(vbd_ref)
            if vbd is None or vbd.type == "CD" or vbd.empty or vbd.vdi is None:
                continue
            vdi = self.vdis.get(vbd.vdi)
            if vdi is not None:
                out.append(vdi)
        return out

    def own_disk_srs(self, vm: VMInfo) -> list[SRInfo]:
        """The SRs of the VM's own non-CD disks, ISO SRs excluded (what
        `VM.assert_can_be_recovered` checks), once each."""
        found: dict[str, SRInfo] = {}
        for vdi in self.vm_disks(vm):
            if vdi.sr is None or vdi.sr in found:
                continue
            sr = self.srs.get(vdi.sr)
            if sr is not None and sr.content_type != "iso":
                found[vdi.sr] = sr
        return list(found.values())

    def import_disks(self, vm: VMInfo) -> list[tuple[SRInfo, str]]:
        """(SR, whose) for every disk `VM.recover` imports: the VM's own disks (whose ""), its
        snapshots' (the snapshot's name) and a suspended VM's memory image (SUSPEND_IMAGE).

        `VM.recover` exports the VM with its snapshots and suspend image (xapi_dr.ml,
        `create_import_objects`) and, without force, fails on any of their disks it cannot
        find, although `VM.assert_can_be_recovered` looks only at the VM's own disks
        (docs/xapi-behaviours.md §7).
        """
        out = [(sr, "") for sr in self.own_disk_srs(vm)]
        for ref in vm.snapshots:
            snapshot = self.vms.get(ref)
            if snapshot is not None:
                out += [(sr, snapshot.name_label) for sr in self.own_disk_srs(snapshot)]
        vdi = self.vdis.get(vm.suspend_vdi or "") if vm.power_state == "Suspended" else None
        sr = self.srs.get(vdi.sr or "") if vdi is not None else None
        if sr is not None:
            out.append((sr, SUSPEND_IMAGE))
        return out

    def disk_srs(self, vm: VMInfo) -> list[SRInfo]:
        """Every SR a recovery of the VM needs: its own disks', its snapshots' and its suspend
        image's (`import_disks`), once each."""
        found: dict[str, SRInfo] = {}
        for sr, _whose in self.import_disks(vm):
            found.setdefault(sr.ref, sr)
        return list(found.values())

    def networks_of(self, vm: VMInfo) -> list[NetworkInfo]:
        """The networks the VM's VIFs are on, once each, in VIF order."""
        found: dict[str, NetworkInfo] = {}
        for vif_ref in vm.vifs:
            vif = self.vifs.get(vif_ref)
            net_ref = vif.network if vif is not None else None
            if net_ref is not None and net_ref not in found and net_ref in self.networks:
                found[net_ref] = self.networks[net_ref]
        return list(found.values())
