"""How a pool reacts when one of its hosts fails or comes back (the world's hooks).

- A host fails while its site stays up: with HA on, its `restart` / `best-effort` guests
  restart on the other hosts (`lifecycle.ha_restart`), as xhad does.
- A host (or its site) comes back: it has booted afresh, so the guests it was running are
  Halted and its PBDs re-plug, those whose volume now refuses staying detached
  (`lifecycle.halt_resident`, `storage.replug_after_boot`).

`install(world)` hooks these on a world; whoever builds a world (`estate.build_world`,
`persist.load`) calls it, so the world model itself imports no operation.
"""

from __future__ import annotations

from sim.xapi import lifecycle, storage
from sim.xapi.world import Host, Pool, World


def host_failed(pool: Pool, host: Host) -> None:
    if pool.db.get_field("pool", pool.ref, "ha_enabled"):
        lifecycle.ha_restart(pool, host)


def host_rebooted(pool: Pool, host: Host) -> None:
    lifecycle.halt_resident(pool, host)
    storage.replug_after_boot(pool, host)


def install(world: World) -> None:
    world.reactions.host_failed[:] = [host_failed]
    world.reactions.host_rebooted[:] = [host_rebooted]
