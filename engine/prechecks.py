"""Pre-checks of the destination pool and the network mapping, for a plan.

XenCenter's checks (reference §5.2.6: HA for a test failover, the licence gate of §5.0) and the
ones it lacks (§7.12 networks, §7.13 capacity, §7.7 SRs the destination already knows). Each
returns `Check`s whose messages (in `engine.messages`) say what to do.
"""

from __future__ import annotations

from typing import Any

from engine import capacity
from engine import messages as m
from engine.inventory import Inventory
from engine.models import Check, CheckStatus, HostInfo, LunPlan, NetworkMapping, VMPlan


def check(name: str, status: CheckStatus, subject: str, template: str, **facts: Any) -> Check:
    return Check(name=name, status=status, subject=subject, message=template.format(**facts))


def network_checks(
    mappings: list[NetworkMapping], *, dest: str = "", protected: str = ""
) -> list[Check]:
    """Where each network lands; `dest` is the destination pool, `protected` names the pair
    whose network_map would fix a missing one."""
    checks = []
    for nm in mappings:
        if nm.matched_by == "none":
            checks.append(
                check(
                    "network-missing",
                    "warning",
                    nm.source_name,
                    m.NETWORK_MISSING,
                    network=nm.source_name,
                    dest=dest or "the destination",
                    protected=protected,
                )
            )
        elif nm.matched_by == "bridge":
            checks.append(
                check(
                    "network-bridge",
                    "ok",
                    nm.source_name,
                    m.NETWORK_BY_BRIDGE,
                    dest=nm.dest_name,
                    bridge=nm.source_bridge,
                )
            )
        elif nm.matched_by == "map":
            checks.append(
                check("network-map", "warning", nm.source_name, m.NETWORK_BY_MAP, dest=nm.dest_name)
            )
        elif not nm.has_pifs:
            checks.append(check("network-private", "warning", nm.source_name, m.NETWORK_PRIVATE))
    return checks


def known_sr_checks(dst: Inventory, lun_plans: list[LunPlan], *, home: bool) -> list[Check]:
    """SRs the destination already knows (reference §7.7): DR_task.create would skip them.
    `home`: the destination is the protected pool, which knew its own SRs before (a failback)."""
    checks = []
    for lp in lun_plans:
        sr = dst.sr_by_uuid(lp.sr_uuid)
        if sr is None:
            continue
        name = lp.sr_name or lp.lun
        if home:
            checks.append(check("sr-known", "ok", name, m.SR_KNOWN_FAILBACK))
        elif dst.sr_attached(sr):
            checks.append(check("sr-known", "warning", name, m.SR_KNOWN_ATTACHED, pool=dst.name))
        else:
            checks.append(check("sr-known", "warning", name, m.SR_KNOWN_DETACHED, pool=dst.name))
    return checks


# Power states in which a VM is still writing to its disks (XenCenter's "is running", §5.2.6 b).
_LIVE = ("Running", "Paused", "Suspended")


def fate_sharing_checks(
    kind: str, src: Inventory, lun_plans: list[LunPlan], planned: set[str], pool: str
) -> list[Check]:
    """VMs left live at the source on a LUN the run promotes or reverses (fate-sharing VMs).

    Replication works per LUN, not per VM: promoting a LUN for some of its VMs stops the
    replication of all of them, and reversing it later copies the other side over what the ones
    left behind wrote meanwhile.
    """
    by_sr = {lp.sr_uuid: lp for lp in lun_plans if lp.action in ("promote", "reverse")}
    left: dict[str, set[str]] = {}
    for vm in src.real_vms():
        if vm.uuid in planned or vm.power_state not in _LIVE:
            continue
        for vdi in src.vm_disks(vm):
            sr = src.srs.get(vdi.sr or "")
            if sr is not None and sr.uuid in by_sr:
                left.setdefault(sr.uuid, set()).add(vm.name_label)
    checks = []
    for sr_uuid in sorted(left):
        lp, names = by_sr[sr_uuid], sorted(left[sr_uuid])
        shown = ", ".join(names[:10]) + (f" and {len(names) - 10} more" if len(names) > 10 else "")
        checks.append(
            check(
                "lun-shared",
                "warning",
                lp.sr_name or lp.lun,
                m.LUN_SHARED,
                lun=lp.lun,
                names=shown,
                pool=pool,
                kind=kind,
            )
        )
    return checks


def dest_checks(
    dst: Inventory,
    vms: list[VMPlan],
    power_after: str,
    *,
    needs_ha_off: bool,
    disable_ha: bool,
    has_apps: bool,
) -> list[Check]:
    """The destination pool: licence, HA (where the kind `needs_ha_off`, unless the run turns
    it off: `disable_ha`), live hosts and memory for the VMs the run starts."""
    checks = []
    hosts = list(dst.hosts.values())
    # Licence (XenCenter's gate, §5.0: a missing restrict_dr counts as restricted).
    unlicensed = [h.name_label for h in hosts if not h.dr_licensed]
    if unlicensed:
        checks.append(
            check("licence", "blocker", dst.name, m.LICENCE_DR, hosts=", ".join(sorted(unlicensed)))
        )
    else:
        checks.append(check("licence", "ok", dst.name, m.LICENCE_OK))
    if (
        has_apps
        and power_after != "leave-off"
        and dst.pools
        and dst.pool.restrictions.get("restrict_vm_appliance_start") == "true"
    ):
        checks.append(check("licence-vapp-start", "warning", dst.name, m.LICENCE_VAPP_START))
    # HA (test failover only, §5.2.6 a).
    if needs_ha_off and dst.pools and dst.pool.ha_enabled:
        if disable_ha:
            checks.append(check("ha", "warning", dst.name, m.HA_WILL_DISABLE))
        else:
            checks.append(check("ha", "blocker", dst.name, m.HA_ON))
    # Hosts and capacity.
    live = [h for h in hosts if h.live and h.enabled]
    ha_off = needs_ha_off and disable_ha
    if power_after != "leave-off" and vms and not ha_off:
        checks += ha_capacity_checks(dst, live, vms)
    if not live:
        checks.append(check("hosts", "blocker", dst.name, m.NO_LIVE_HOSTS))
    starting = [v for v in vms if v.power_after != "leave-off"]
    if power_after != "leave-off" and starting:
        need, _largest = capacity.start_need(starting)
        free = sum(h.memory_free for h in live)
        biggest = max(starting, key=lambda v: v.memory_bytes)
        roomiest = max((h.memory_free for h in live), default=0)
        facts = {"need": _gib(need), "free": _gib(free), "pool": dst.name}
        if need > free:
            checks.append(check("capacity", "blocker", dst.name, m.CAPACITY_SHORT, **facts))
        elif need > 0.9 * free:
            checks.append(check("capacity", "warning", dst.name, m.CAPACITY_TIGHT, **facts))
        else:
            checks.append(check("capacity", "ok", dst.name, m.CAPACITY_OK, **facts))
        if biggest.memory_bytes > roomiest:
            checks.append(
                check(
                    "capacity-host",
                    "blocker",
                    biggest.name,
                    m.CAPACITY_NO_HOST,
                    need=_gib(biggest.memory_bytes),
                    free=_gib(roomiest),
                )
            )
    return checks


def ha_capacity_checks(dst: Inventory, live: list[HostInfo], vms: list[VMPlan]) -> list[Check]:
    """With HA on at the destination, would starting `vms` leave its protected VMs without a
    plan? XAPI refuses each start that would (docs/xapi-behaviours.md §5); this estimates it
    as XAPI plans, per host failure: the HA-protected VMs running on the failed host must fit
    in the memory the other live hosts have left once `vms` run (summed, so an estimate)."""
    if not dst.pools:
        return []
    pool = dst.pool
    n = pool.ha_host_failures_to_tolerate
    if not pool.ha_enabled or pool.ha_allow_overcommit or n < 1 or len(live) <= n:
        return []
    need, _largest = capacity.start_need(vms)
    free = sum(h.memory_free for h in live)
    protected = {h.ref: 0 for h in live}
    for vm in dst.vms.values():
        running = vm.power_state in ("Running", "Paused")
        if running and vm.ha_restart_priority == "restart" and vm.resident_on in protected:
            protected[vm.resident_on] += capacity.vm_start_bytes(vm)
    busiest = sorted(live, key=lambda h: protected[h.ref], reverse=True)[:n]
    lost = sum(protected[h.ref] + h.memory_free for h in busiest)
    homeless = sum(protected[h.ref] for h in busiest)
    if homeless and free - need - lost < homeless:
        return [
            check(
                "ha-capacity",
                "warning",
                dst.name,
                m.HA_CAPACITY,
                pool=dst.name,
                n=n,
                need=_gib(need),
                protected=_gib(homeless),
            )
        ]
    return []


def _gib(n: int) -> str:
    return f"{n / 1024**3:.1f} GiB"
