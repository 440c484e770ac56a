"""High availability switches of a pool (reference §4.1, §5.2.6 a, §7.14).

A test failover wants HA off on the DR pool and back on afterwards, as it was. HA keeps a
statefile VDI (type `ha_statefile`) on a heartbeat SR, listed in `pool.ha_statefiles`;
`disable` destroys it, `enable(heartbeat_srs, configuration)` makes a new one on the first
heartbeat SR. `set_failures_to_tolerate` refuses more failures than the pool has hosts to
spare (`HA_OPERATION_WOULD_BREAK_FAILOVER_PLAN`). What HA does when a host fails (restart
protected VMs elsewhere) is `lifecycle.ha_restart`, a reaction of the world
(`reactions.py`). Wire methods: `methods/ha.py`.

The failover plan (`xapi_ha_vm_failover.ml`): the protected VMs are those with
`ha_always_run` and `ha_restart_priority = restart`. A plan for `n` failures exists when,
for every set of `n` live hosts failing, the protected VMs that would be left without a host
(those on the failed hosts, and protected ones not running) fit in the memory the other live
hosts have free; xapi's bin packing is approximated here by first-fit, largest first.
`VM.start` / `VM.start_on` (`message_forwarding.ml`, `check_vm_preserves_ha_plan`) refuse
with `HA_OPERATION_WOULD_BREAK_FAILOVER_PLAN` a start after which no plan exists for
`ha_plan_exists_for` failures while one exists before, unless `ha_allow_overcommit`; a VM
with priority `restart` that is not yet `ha_always_run` counts as newly protected.
`ha_compute_hypothetical_max_host_failures_to_tolerate(configuration)` answers how many
failures a plan would survive if exactly the `restart` VMs of `configuration` were protected.
"""

from __future__ import annotations

import contextlib
from itertools import combinations

from sim.xapi.errors import XapiError
from sim.xapi.memory import memory_in_use
from sim.xapi.schema import NULL_REF
from sim.xapi.sm import create_vdi
from sim.xapi.world import Host, Pool

STATEFILE_SIZE = 4 * 1024 * 1024


def make_statefile(pool: Pool, sr: str) -> str:
    """A statefile VDI on `sr` (what enabling HA writes to the heartbeat SR)."""
    return create_vdi(
        pool.world,
        pool,
        sr,
        "Statefile for HA",
        STATEFILE_SIZE,
        vdi_type="ha_statefile",
        extra={"name_description": "Used for storage heartbeating"},
    )


def spare_hosts(pool: Pool) -> int:
    """How many host failures the pool can tolerate at most (one spare host, if it has two)."""
    return min(1, len(pool.hosts) - 1)


def disable(pool: Pool) -> None:
    """Turn HA off and destroy its statefile VDIs."""
    db = pool.db
    statefiles = db.get_field("pool", pool.ref, "ha_statefiles")
    db.set(
        "pool",
        pool.ref,
        ha_enabled=False,
        ha_statefiles=[],
        ha_configuration={},
        ha_plan_exists_for=0,
        ha_host_failures_to_tolerate=0,
    )
    for vdi in statefiles:
        with contextlib.suppress(XapiError):
            db.delete("VDI", vdi)


def enable(pool: Pool, heartbeat_srs: list[str], configuration: dict[str, str]) -> None:
    """Turn HA on with a statefile on the first heartbeat SR."""
    db = pool.db
    if db.get_field("pool", pool.ref, "ha_enabled"):
        raise XapiError("HA_IS_ENABLED")
    for sr in heartbeat_srs:
        db.handle("SR", sr)
    statefiles = [make_statefile(pool, heartbeat_srs[0])] if heartbeat_srs else []
    db.set(
        "pool",
        pool.ref,
        ha_enabled=True,
        ha_configuration={"cluster-stack": "xhad", **configuration},
        ha_statefiles=statefiles,
        ha_plan_exists_for=spare_hosts(pool),
        ha_host_failures_to_tolerate=spare_hosts(pool),
    )


def set_failures_to_tolerate(pool: Pool, n: int) -> None:
    """pool.set_ha_host_failures_to_tolerate: no more than the pool has hosts to spare."""
    db = pool.db
    if n < 0:
        raise XapiError("INVALID_VALUE", "ha_host_failures_to_tolerate", str(n))
    if db.get_field("pool", pool.ref, "ha_enabled") and n > len(pool.hosts) - 1:
        raise XapiError("HA_OPERATION_WOULD_BREAK_FAILOVER_PLAN")
    db.set("pool", pool.ref, ha_host_failures_to_tolerate=n, ha_plan_exists_for=n)


VALID_PRIORITIES = ("restart", "best-effort", "")


def protected_vms(pool: Pool) -> list[str]:
    """VMs HA keeps running: `ha_always_run`, priority `restart` (vm_should_always_run)."""
    db = pool.db
    with db.lock:
        return [
            ref
            for ref, rec in db._tables["VM"].items()
            if rec["ha_always_run"]
            and rec["ha_restart_priority"] == "restart"
            and not (rec["is_a_template"] or rec["is_a_snapshot"] or rec["is_control_domain"])
        ]


def plan_exists(
    pool: Pool, failures: int, protected: list[str], arriving: tuple[str, Host] | None = None
) -> bool:
    """Whether the protected VMs survive any `failures` live hosts failing (module docstring);
    `arriving` is a VM about to run on a host (its memory counts there)."""
    db = pool.db
    live = pool.live_hosts()
    used = memory_in_use(pool)
    free = {h.ref: h.memory_total - used[h.ref] for h in live}
    with db.lock:
        recs = {vm: db.live("VM", vm) for vm in protected}
        if arriving is not None:
            vm, host = arriving
            rec = db.live("VM", vm)
            if rec is not None and rec["resident_on"] != host.ref:
                free[host.ref] -= rec["memory_static_max"] + rec["memory_overhead"]
    need = {vm: r["memory_static_max"] + r["memory_overhead"] for vm, r in recs.items() if r}
    home = {
        vm: (r["resident_on"] if r["power_state"] != "Halted" else NULL_REF)
        for vm, r in recs.items()
        if r
    }
    if arriving is not None and arriving[0] in home:
        home[arriving[0]] = arriving[1].ref
    if failures > len(live):
        return False
    for failed in combinations([h.ref for h in live], failures):
        room = {h: f for h, f in free.items() if h not in failed}
        homeless = sorted(
            (vm for vm in need if home[vm] not in room), key=lambda vm: need[vm], reverse=True
        )
        for vm in homeless:
            dest = next((h for h, f in room.items() if f >= need[vm]), None)
            if dest is None:
                return False
            room[dest] -= need[vm]
    return True


def assert_start_keeps_plan(pool: Pool, vm: str, rec: dict, host: Host) -> None:
    """`HA_OPERATION_WOULD_BREAK_FAILOVER_PLAN` if starting `vm` on `host` breaks the plan."""
    db = pool.db
    p = db.get("pool", pool.ref)
    if not p["ha_enabled"] or p["ha_allow_overcommit"]:
        return
    n = p["ha_plan_exists_for"]
    protected = protected_vms(pool)
    if not plan_exists(pool, n, protected):
        return  # no plan now: a start cannot make it worse
    newly = rec["ha_restart_priority"] == "restart" and not rec["ha_always_run"]
    after = [*protected, vm] if newly and vm not in protected else protected
    if not plan_exists(pool, n, after, arriving=(vm, host)):
        raise XapiError("HA_OPERATION_WOULD_BREAK_FAILOVER_PLAN")


def hypothetical_max_failures(pool: Pool, configuration: dict[str, str]) -> int:
    """pool.ha_compute_hypothetical_max_host_failures_to_tolerate (module docstring)."""
    for vm, priority in configuration.items():
        if priority not in VALID_PRIORITIES:
            raise XapiError("INVALID_VALUE", "ha_restart_priority", priority)
        pool.db.handle("VM", vm)
    protected = [vm for vm, priority in configuration.items() if priority == "restart"]
    best = 0
    for n in range(len(pool.hosts) + 1):
        if not plan_exists(pool, n, protected):
            break
        best = n
    return best
