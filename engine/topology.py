"""The estate as the configuration describes it: sites, their pools, and which pairs a request
over several pools means.

`pairs_in_scope(config, site, pool)` is what `site:NAME` or `all pools` stands for: one pair
per protected pool (of the site, or of the estate), optionally only those that `pool` names
(a DR pool, a protected pool or `PROTECTED:DR`). A protected pool with several DR pools in
scope is refused with the choices, never guessed (say which with `--pool`).
"""

from __future__ import annotations

from engine import messages
from engine.config import EngineConfig, PoolPair
from engine.errors import ConfigError


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
