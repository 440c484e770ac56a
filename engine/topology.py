"""The estate as the configuration describes it: sites, their pools, and which pairs a request
over several pools means.

`pairs_in_scope(config, site, pool)` is what `site:NAME` or `all pools` stands for: one pair
per protected pool (of the site, or of the estate), optionally only those that `pool` names
(a DR pool, a protected pool or `PROTECTED:DR`). A protected pool with several DR pools in
scope is refused with the choices, never guessed (say which with `--pool`).

`own_luns(luns, pool, config, known)` is which of a site's LUNs a run for one of its pools may
touch when that pool cannot be read (see there).
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping

from engine import messages
from engine.config import EngineConfig, PoolPair
from engine.errors import ConfigError
from engine.storage.base import ReplicatedLun


def sites(config: EngineConfig) -> dict[str, list[str]]:
    """Site -> its pools, in configuration order (pools without a site under "")."""
    out: dict[str, list[str]] = {}
    for name, pool in config.pools.items():
        out.setdefault(pool.site, []).append(name)
    return out


def pairs_in_scope(
    config: EngineConfig, site: str | None, pool: str | None = None
) -> list[PoolPair]:
    """One pair per protected pool of `site` (every site when None), filtered by `pool`."""
    by_site = sites(config)
    chosen = list(config.pairs)
    if site is not None:
        if site not in by_site or not site:
            raise ConfigError(
                messages.SCOPE_UNKNOWN.format(
                    scope=site, sites=", ".join(s for s in by_site if s) or "none"
                )
            )
        chosen = [p for p in chosen if config.pools[p.protected].site == site]
        if not chosen:
            raise ConfigError(
                messages.SCOPE_EMPTY.format(site=site, pools=", ".join(by_site[site]))
            )
    if pool is not None:
        config.pool(pool.partition(":")[0])
        chosen = [p for p in chosen if pool in (p.protected, p.dr, f"{p.protected}:{p.dr}")]
        if not chosen:
            raise ConfigError(
                messages.PAIR_UNKNOWN.format(
                    what=f"--pool {pool} in {site or 'the estate'}",
                    choices=", ".join(f"{p.protected}:{p.dr}" for p in config.pairs),
                )
            )
    if not chosen:
        raise ConfigError(messages.PAIR_NONE)
    per_pool: dict[str, list[PoolPair]] = {}
    for pair in chosen:
        per_pool.setdefault(pair.protected, []).append(pair)
    for protected, several in per_pool.items():
        if len(several) > 1:
            raise ConfigError(
                messages.PAIR_AMBIGUOUS.format(
                    what=f"{protected!r}",
                    n=len(several),
                    choices=", ".join(f"{p.protected}:{p.dr}" for p in several),
                )
            )
    return chosen


def own_luns(
    luns: Iterable[ReplicatedLun],
    pool: str,
    config: EngineConfig,
    known: Mapping[str, Collection[str]],
) -> list[ReplicatedLun]:
    """The LUNs a run for protected pool `pool` may act on. The storage array reports LUNs by
    site, and a site may have several pools: a pool that cannot be read (its site is lost)
    must not promote and recover its neighbours' LUNs too. `known` is each pool's SR uuids as
    drbot last read them; the configuration's LUNs naming the pool count as known. LUNs of
    another site are kept (the planner matches sites itself); of its own site's, those known
    to be `pool`'s, else those known to be nobody else's when every other pool's are known,
    else none."""
    site = config.pools[pool].site
    if sum(1 for p in config.pools.values() if p.site == site) < 2:
        return list(luns)
    mine = set(known.get(pool, ())) | {lun.sr_uuid for lun in config.luns_of(pool)}
    theirs = {
        sr
        for other, srs in known.items()
        if other != pool and other in config.pools and config.pools[other].site == site
        for sr in srs
    } | {
        lun.sr_uuid
        for other, endpoint in config.pools.items()
        if other != pool and endpoint.site == site
        for lun in config.luns_of(other)
    }
    neighbours = [p for p, e in config.pools.items() if e.site == site and p != pool]
    # With nothing known of this pool, the site's LUNs that are nobody else's are its own only
    # when every neighbour's are known; else none is taken (the plan then has no LUN and is
    # refused: guessing could recover a neighbour's VMs twice).
    rest_is_mine = not mine and all(n in known or config.luns_of(n) for n in neighbours)
    return [
        lun
        for lun in luns
        if lun.source_site != site
        or lun.sr_uuid in mine
        or (rest_is_mine and lun.sr_uuid not in theirs)
    ]
