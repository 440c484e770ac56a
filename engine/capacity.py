"""Estate-wide capacity: will what lands in a DR pool fit there, all of it at once?

Each pair's own readiness and plan check that its pool fits into its DR pool. A DR pool takes
several protected pools, and a site disaster fails all of a site's pools over together: three
pools that each fit alone may not fit together. `shared_landings` sums, per DR pool, what the
given pools would run there and compares it with the DR pool's free memory (`memory`) and with
what the DR pool keeps free for HA to restart the VMs of the hosts it plans to lose (`ha`):

- memory: the sum of the VMs that will run (`needed` per pool) against the free memory of the
  DR pool's live, enabled hosts;
- HA: with HA on and `ha_host_failures_to_tolerate = n`, if the n largest hosts fail their free
  memory is gone and what runs on them must restart on the others; the sum must fit into what
  is left (conservative: all memory in use on a lost host counts, its control domain too).

The pools that would not fit are named: taken in the order given, the first that no longer
fits and every one after it (the order a queue of runs into the DR pool would start them in).
`site_losses` asks it for the loss of each whole site. Pure: the callers read the pools.

What one pool needs is counted by one rule, here, for readiness and the planner alike
(`starts_with_failover`, `vm_start_bytes`, `start_need`): the VMs a failover would start,
each at what it takes from a host once started. Before this rule was shared, readiness
counted only the VMs running at the source while the plan counted every VM it starts
(halted ones too), so the two disagreed about the same pool.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

from pydantic import BaseModel, Field

from engine import messages as m
from engine.models import VMInfo, VMPlan


class DrRoom(BaseModel):
    """What a DR pool has room for, from its inventory (`room_of`)."""

    pool: str
    free_bytes: int
    ha_enabled: bool = False
    ha_tolerated: int = 0
    ha_room_bytes: int | None = None
    """Free memory left after losing the `ha_tolerated` largest hosts and restarting what ran
    on them; None without HA."""


class Landing(BaseModel):
    """Pools that would land in one DR pool together, and whether they fit."""

    dr_pool: str
    site: str = ""
    """The protected site whose loss sends them (empty: a request over several sites)."""
    pools: list[str]
    needed_bytes: int
    free_bytes: int
    short: list[str] = Field(default_factory=list)
    """Pools that would not fit (memory), in the order given."""
    ha_room_bytes: int | None = None
    ha_tolerated: int = 0
    ha_short: bool = False
    """With HA on: the sum does not leave room to restart the VMs of the lost hosts."""

    @property
    def fits(self) -> bool:
        return not self.short and not self.ha_short

    def messages(self) -> list[str]:
        """What a person must be told, one sentence per problem."""
        out = []
        pools = ", ".join(self.pools)
        if self.short:
            out.append(
                m.R_ESTATE_CAPACITY.format(
                    site=self.site or "(this request)",
                    pools=pools,
                    dr=self.dr_pool,
                    need=gib(self.needed_bytes),
                    free=gib(self.free_bytes),
                    short=", ".join(self.short),
                )
            )
        if self.ha_short and self.ha_room_bytes is not None:
            out.append(
                m.R_ESTATE_HA.format(
                    site=self.site or "(this request)",
                    dr=self.dr_pool,
                    tolerated=self.ha_tolerated,
                    pools=pools,
                    need=gib(self.needed_bytes),
                    free=gib(max(self.ha_room_bytes, 0)),
                )
            )
        return out


class HostMemory(BaseModel):
    """One DR host as capacity sees it."""

    total: int
    free: int
    live: bool = True
    enabled: bool = True


def room_of(
    pool: str, hosts: Iterable[HostMemory], *, ha_enabled: bool = False, ha_tolerated: int = 0
) -> DrRoom:
    """A DR pool's room: free memory of its live, enabled hosts, and with HA on what is left
    after its `ha_tolerated` largest hosts fail (their free memory gone, what ran on them
    restarted on the others)."""
    usable = [h for h in hosts if h.live and h.enabled]
    free = sum(h.free for h in usable)
    room = None
    if ha_enabled and ha_tolerated > 0:
        lost = sorted(usable, key=lambda h: h.total, reverse=True)[:ha_tolerated]
        room = free - sum(h.free for h in lost) - sum(h.total - h.free for h in lost)
    return DrRoom(
        pool=pool, free_bytes=free, ha_enabled=ha_enabled, ha_tolerated=ha_tolerated,
        ha_room_bytes=room,
    )  # fmt: skip


def landing(dr: DrRoom, pools: Sequence[tuple[str, int]], site: str = "") -> Landing:
    """Whether `pools` ((name, bytes that will run), in start order) fit into `dr` together."""
    need = 0
    short: list[str] = []
    for name, needed in pools:
        need += needed
        if need > dr.free_bytes:
            short.append(name)
    return Landing(
        dr_pool=dr.pool,
        site=site,
        pools=[name for name, _ in pools],
        needed_bytes=need,
        free_bytes=dr.free_bytes,
        short=short,
        ha_room_bytes=dr.ha_room_bytes,
        ha_tolerated=dr.ha_tolerated,
        ha_short=dr.ha_room_bytes is not None and need > dr.ha_room_bytes,
    )


def site_losses(
    pairs: Iterable[tuple[str, str]],
    site_of: Mapping[str, str],
    needed: Mapping[str, int],
    rooms: Mapping[str, DrRoom],
) -> list[Landing]:
    """For the loss of each whole protected site: per DR pool its pools fail over into, whether
    they fit together. `pairs` are (protected, DR pool); a pool or DR pool missing from
    `needed` / `rooms` (not read) is left out. A site's lone pool is checked for HA only: its
    memory is its own pair's readiness check."""
    groups: dict[tuple[str, str], list[str]] = {}
    for protected, dr in pairs:
        if protected in needed and dr in rooms:
            groups.setdefault((site_of.get(protected, ""), dr), []).append(protected)
    out = []
    for (site, dr), pools in groups.items():
        result = landing(rooms[dr], [(p, needed[p]) for p in pools], site)
        if len(pools) == 1:
            result = result.model_copy(update={"short": []})
        out.append(result)
    return out


def vm_start_bytes(vm: VMInfo) -> int:
    """Bytes starting `vm` takes from a DR host: `memory_static_max + memory_overhead`.

    XAPI's boot check (xapi_vm_helpers.ml `assert_enough_memory_available`, called by
    `VM.assert_can_boot_here` and every start) needs the VM's start memory plus its overhead
    (memory_check.ml `vm_compute_start_memory`): `memory_static_max` for a PVH guest and
    `memory_dynamic_min` for HVM / PV ones, squeezing the other guests towards their
    dynamic_min (`host_compute_free_memory_with_maximum_compression`). A DR pool must run the
    VMs, not just boot them, and a guest balloons up to dynamic_max <= static_max once room
    is there, so this counts static_max: xapi's own conservative policy (`Static_max`,
    which its HA planner uses) and what sim/xapi gives out. `dynamic_max` is taken if a
    record breaks xapi's constraint dynamic_max <= static_max. Snapshots and templates take
    no memory (never started); the control domain's memory is already outside the hosts'
    `memory_free`.
    """
    return max(vm.memory_static_max, vm.memory_dynamic_max) + vm.memory_overhead


def starts_with_failover(power_state: str, *, mirror_power_state: bool = False) -> bool:
    """Whether a failover that starts VMs starts this one: every VM but a suspended one,
    which comes back suspended and is left off (reference §2.6; `VM.start` fails on it,
    §7.13), and, with `mirror_power_state`, one halted at the source."""
    if power_state == "Suspended":
        return False
    return not (mirror_power_state and power_state == "Halted")


def start_need(vms: Iterable[VMPlan]) -> tuple[int, int]:
    """What the planned VMs that will be started need: (sum, largest), in bytes."""
    sizes = [vm.memory_bytes for vm in vms if vm.power_after != "leave-off"]
    return sum(sizes), max(sizes, default=0)


def gib(n: int) -> str:
    return f"{n / 1024**3:.1f} GiB"
