"""Files for the simulators, on the CLI side that starts them (`drbot sim serve`, the demo):
the engine configuration their endpoints imply, a drbot configuration file, and the endpoints
file itself. The engine knows nothing of the simulators; this module is where their endpoints
file (docs/contracts/sim-xapi.md) becomes drbot settings.

Every file written here holds a secret (a pool password, the Slack double's tokens), so each
is created owner-only (0600, in a 0700 directory when drbot makes it) and written atomically:
a temporary file beside it, renamed into place, so a reader never sees half a file.
"""

from __future__ import annotations

import hashlib
import json
import os
import ssl
import tempfile
from pathlib import Path
from typing import Any

import tomli_w

from engine.config import EngineConfig, from_dict
from engine.errors import ConfigError

ENDPOINTS_INVALID = (
    "The simulator endpoints file has no {what}; start the simulator with `drbot sim serve` "
    "and point at the endpoints file it writes."
)
EXISTS = (
    "{path} already exists and may be your own configuration; pass --force to replace it, or "
    "choose another file."
)

# The XAPI role drbot's own account holds on a real pool (README, "Prepare each XenServer
# pool"): what a recovery needs, and no more.
OPERATOR_ROLE = "pool-operator"

# Words that make a simulated site's name read as the recovery site.
_DR_SITE_WORDS = ("dr", "recovery", "secondary", "backup", "standby")


def _is_dr_site(name: str) -> bool:
    words = name.lower().replace("_", "-").split("-")
    return any(w in _DR_SITE_WORDS for w in words)


def from_sim_endpoints(
    endpoints: dict[str, Any],
    *,
    role: str = "pool-admin",
    pairs: list[tuple[str, str]] | None = None,
) -> EngineConfig:
    """Build a working `EngineConfig` from the simulator's endpoints file.

    Every pool of every site becomes a pool endpoint (coordinator first, then members) logged
    in as the pool's user holding `role`. Pairs are given as (protected pool, DR pool) names,
    or else derived from where each pool's SRs replicate (`pairs_from_replication`); where no
    pool's SRs say so (an older simulator, a twin) they are guessed from the names: a
    site whose name reads as a DR site ("dr", "recovery", "secondary", ...) protects every
    other site. The storage adapter is the simulator's, on its control URL. When the simulator
    serves TLS its certificate (`tls_certificate`) is pinned by fingerprint; otherwise its
    plain HTTP is allowed (`allow_plaintext`), as it is on loopback.
    """
    entries = _pool_entries(endpoints)
    pools: dict[str, dict[str, Any]] = {}
    # A simulator served over TLS publishes its self-signed certificate: pin it.
    pem = endpoints.get("tls_certificate")
    fingerprint = (
        hashlib.sha256(ssl.PEM_cert_to_DER_cert(pem)).hexdigest() if isinstance(pem, str) else None
    )
    for name, info in entries.items():
        users = info.get("users") or {}
        if role not in users:
            raise ConfigError(ENDPOINTS_INVALID.format(what=f"{role} user of pool {name!r}"))
        username, password = users[role]
        urls = [info["coordinator"], *info.get("members", [])]
        pools[name] = {
            "site": info["site"],
            "urls": urls,
            "username": username,
            "password": password,
            **({"fingerprint": fingerprint} if fingerprint else {}),
            **({"allow_plaintext": True} if any(u.startswith("http://") for u in urls) else {}),
        }
    if pairs is None:
        # Where nothing says where SRs replicate (an older simulator, or a twin of a pool
        # whose SRs replicate outside what the dump shows), the names say it.
        pairs = pairs_from_replication(entries) or _pairs_from_names(entries)
    control = endpoints.get("control")
    storage: dict[str, Any] = (
        {"adapter": "sim", "control_url": control} if control else {"adapter": "manual"}
    )
    return from_dict(
        {
            "pools": pools,
            "pairs": [{"protected": p, "dr": d} for p, d in pairs],
            "storage": storage,
        },
        "the simulator's endpoints",
    )


def _pool_entries(endpoints: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Pool name -> its site, coordinator, members, users (and `replicates_to` when known), from
    the file's `pools`, or from its `sites` in the older one-pool-per-site format."""
    sites = endpoints.get("sites")
    if not isinstance(sites, dict) or not sites:
        raise ConfigError(ENDPOINTS_INVALID.format(what="sites"))
    pools = endpoints.get("pools")
    if isinstance(pools, dict) and pools:
        return {name: dict(info) for name, info in pools.items()}
    entries: dict[str, dict[str, Any]] = {}
    for site, info in sites.items():
        names = info.get("pools") or [site]
        if len(names) > 1:
            # The older format gives one coordinator per site: the other pools cannot be reached.
            raise ConfigError(ENDPOINTS_INVALID.format(what=f"endpoints of each pool of {site!r}"))
        entries[names[0]] = {"site": site, **{k: v for k, v in info.items() if k != "pools"}}
    return entries


def pairs_from_replication(entries: dict[str, dict[str, Any]]) -> list[tuple[str, str]]:
    """(protected, DR pool) for each pool and each site its SRs replicate to. The DR pool is the
    pool of that site; a site with several pools takes the protected pools in turn (in the
    order of the file), which an operator may change in the written configuration: drbot then
    checks that the DR pool's site is where the protected pool's LUNs go."""
    at_site: dict[str, list[str]] = {}
    for name, info in entries.items():
        at_site.setdefault(info["site"], []).append(name)
    turn: dict[str, int] = {}
    pairs = []
    for name, info in entries.items():
        for target in info.get("replicates_to") or []:
            choices = [p for p in at_site.get(target, []) if p != name]
            if not choices:
                continue
            n = turn.get(target, 0)
            turn[target] = n + 1
            pairs.append((name, choices[n % len(choices)]))
    return pairs


def _pairs_from_names(entries: dict[str, dict[str, Any]]) -> list[tuple[str, str]]:
    site_pool = {info["site"]: name for name, info in entries.items()}
    dr_sites = [s for s in site_pool if _is_dr_site(s)]
    return [
        (site_pool[s], site_pool[dr_sites[0]]) for s in site_pool if dr_sites and s not in dr_sites
    ]


def write_private(path: Path, text: str, *, replace: bool = True) -> None:
    """Write `text` to `path` owner-only (0600) and atomically (temporary file, then rename);
    a directory drbot has to make is 0700. With `replace=False`, an existing file is refused
    (FileExistsError) and left as it was."""
    parent = path.parent
    if not parent.exists():
        parent.mkdir(mode=0o700, parents=True)
    if not replace and path.exists():
        raise FileExistsError(EXISTS.format(path=path))
    fd, tmp = tempfile.mkstemp(dir=parent, prefix=f".{path.name}.", suffix=".tmp")  # 0600
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_endpoints(endpoints: dict[str, Any], path: Path) -> None:
    """Write the endpoints file once, whole: a reader that sees it sees every simulator."""
    write_private(path, json.dumps(endpoints, indent=2) + "\n")


def write_config(
    endpoints: dict[str, Any], path: Path, store_path: Path, *, force: bool = False
) -> None:
    """Write a drbot TOML configuration for the simulators named in `endpoints` (0600).

    A relative `store_path` is relative to the configuration file, as bot/settings.py reads
    it. An existing file is refused (FileExistsError saying so) unless `force`. The pools are
    logged in to as their pool-operator account where the simulator has one, as the README
    tells an operator to set up a real pool (not root), so that `drbot config check` on this
    file passes clean and every run proves that pool-operator is enough.
    """
    engine = from_sim_endpoints(endpoints, role=_config_role(endpoints))
    data = engine.model_dump(mode="json", exclude_none=True)
    for name, pool in data["pools"].items():
        pool.pop("name", None)  # the table key names the pool
        # model_dump masks secrets; the file is the one place the password must be real.
        pool["password"] = engine.pools[name].password.get_secret_value()
    config: dict[str, Any] = {"store_path": str(store_path), "engine": data}
    if "slack" in endpoints:
        config.update(slack_sections(endpoints["slack"]))
    write_private(path, tomli_w.dumps(config), replace=force)


def _config_role(endpoints: dict[str, Any]) -> str:
    """`pool-operator` when every pool of the endpoints has such an account, else `pool-admin`
    (an older endpoints file)."""
    try:
        entries = _pool_entries(endpoints)
    except ConfigError:
        return "pool-admin"  # from_sim_endpoints says what is wrong with the file
    has_operator = all(OPERATOR_ROLE in (info.get("users") or {}) for info in entries.values())
    return OPERATOR_ROLE if has_operator else "pool-admin"


def slack_sections(slack: dict[str, Any]) -> dict[str, Any]:
    """The `[slack]` and `[policy]` sections for the Slack double's endpoints: its tokens and
    channels, and roles for its seeded people (olivia operator; alex and priya approvers
    through the `dr-approvers` group; victor viewer; ada admin), so that `drbot serve` against
    it gives a person a working bot to try by hand."""
    users, channels, groups = slack["users"], slack["channels"], slack["usergroups"]
    roles = {
        "viewer": [users[n] for n in ("victor",) if n in users],
        "operator": [users[n] for n in ("olivia",) if n in users],
        "approver": [groups[g] for g in ("dr-approvers",) if g in groups],
        "admin": [users[n] for n in ("ada",) if n in users],
    }
    requests = channels.get("dr-ops", next(iter(channels.values()), ""))
    section: dict[str, Any] = {
        "mode": "socket",
        "api_url": slack["api_url"],
        "bot_token": slack["bot_token"],
        "app_token": slack["app_token"],
        "signing_secret": slack["signing_secret"],
        "channels": {
            "requests": requests,
            **({"audit": channels["dr-audit"]} if "dr-audit" in channels else {}),
            **({"reports": channels["dr-reports"]} if "dr-reports" in channels else {}),
        },
    }
    return {"slack": section, "policy": {"channels": [requests], "roles": roles}}
