"""The engine's settings: pools and how to reach them, which pool protects which, storage, timeouts.

A configuration is a TOML file (the engine's keys at the top level or under `[engine]`):

```toml
originator = "drbot"

[pools.prod]                       # one table per pool; the key is the pool's name in drbot
site = "primary"
urls = ["https://10.0.0.10", "https://10.0.0.11"]   # coordinator first, then members
username = "root"
password = "secret"
fingerprint = "sha256 hex of the host certificate"   # or ca_file = "/etc/drbot/ca.pem"

[pools.dr]
site = "dr"
urls = ["https://10.1.0.10"]
username = "root"
password = "secret"
ca_file = "/etc/drbot/dr-ca.pem"

[[pairs]]                          # prod is protected by dr
protected = "prod"
dr = "dr"
network_map = { "Production LAN" = "DR LAN" }   # source network name -> DR network name

[storage]
adapter = "sim"                    # or "manual"
control_url = "http://127.0.0.1:8080"

[timeouts]
call_seconds = 30
```

`from_sim_endpoints(endpoints)` builds a working configuration from the simulator's endpoints file
(docs/contracts/sim-xapi.md), so tests, the demo and `drbot sim` need no hand-written file.
"""

from __future__ import annotations

import hashlib
import ssl
import tomllib
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, model_validator

from engine import messages
from engine.errors import ConfigError


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class PoolEndpoint(_Strict):
    """How to reach one pool.

    TLS is verified by default: against `ca_file` when given, else against the pinned
    `fingerprint` (sha256 of the DER certificate, hex, colons allowed), else against the system's
    trust store. `insecure = true` turns verification off and is meant for a lab only.
    """

    name: str
    urls: list[str] = Field(min_length=1)
    username: str
    password: SecretStr
    site: str = ""
    ca_file: Path | None = None
    fingerprint: str | None = None
    insecure: bool = False

    @model_validator(mode="after")
    def _check(self) -> PoolEndpoint:
        for url in self.urls:
            if not url.startswith(("http://", "https://")):
                raise ValueError(
                    f"url {url!r} of pool {self.name!r} must start with https:// "
                    "(http:// only for a lab or the simulator)"
                )
        if self.fingerprint is not None:
            digits = self.fingerprint.replace(":", "").lower()
            if len(digits) != 64 or any(c not in "0123456789abcdef" for c in digits):
                raise ValueError(
                    f"fingerprint of pool {self.name!r} must be the sha256 of the certificate "
                    "(64 hex digits, colons allowed)"
                )
        return self

    @property
    def fingerprint_hex(self) -> str | None:
        """The pinned fingerprint as 64 lower-case hex digits, or None."""
        return self.fingerprint.replace(":", "").lower() if self.fingerprint else None


class PoolPair(_Strict):
    """A protected pool and the DR pool its VMs are recovered into.

    `network_map` maps a source network's name_label to the DR network's name_label; it is used
    only when no DR network has the same name or bridge (the order XAPI itself matches in).
    """

    protected: str
    dr: str
    network_map: dict[str, str] = Field(default_factory=dict)


class LunSettings(_Strict):
    """A replicated LUN as configured for the `manual` adapter (which cannot read the array)."""

    lun: str
    sr_uuid: str
    name: str = ""
    source_site: str = ""
    target_site: str = ""
    state: Literal["replicating", "promoted", "reversed", "failed", "unknown"] = "replicating"
    mirror_device_config: dict[str, str] = Field(default_factory=dict)
    test_copy_device_config: dict[str, str] | None = None


class StorageSettings(_Strict):
    """Which storage replication adapter the engine uses and how to reach it."""

    adapter: Literal["sim", "manual"] = "manual"
    control_url: str | None = None
    luns: list[LunSettings] = Field(default_factory=list)
    # Above this many seconds of replication lag a pool's readiness is degraded.
    max_lag_seconds: float = 300.0

    @model_validator(mode="after")
    def _check(self) -> StorageSettings:
        if self.adapter == "sim" and not self.control_url:
            raise ValueError("storage.adapter = 'sim' needs storage.control_url")
        return self


class Timeouts(_Strict):
    """Bounds on every wait; no call to XAPI is ever made without one."""

    connect_seconds: float = Field(default=10.0, gt=0)
    call_seconds: float = Field(default=60.0, gt=0)
    task_seconds: float = Field(default=3600.0, gt=0)
    event_seconds: float = Field(default=30.0, gt=0)


class Concurrency(_Strict):
    """How much the engine does at once against one pool."""

    recover: int = Field(default=8, ge=1)
    start: int = Field(default=16, ge=1)
    shutdown: int = Field(default=16, ge=1)


class EngineConfig(_Strict):
    """Everything the engine needs to know about the world it acts on."""

    originator: str = "drbot"
    pools: dict[str, PoolEndpoint]
    pairs: list[PoolPair] = Field(default_factory=list)
    storage: StorageSettings = Field(default_factory=StorageSettings)
    timeouts: Timeouts = Field(default_factory=Timeouts)
    concurrency: Concurrency = Field(default_factory=Concurrency)

    @model_validator(mode="after")
    def _check(self) -> EngineConfig:
        for pair in self.pairs:
            for role, name in (("protected", pair.protected), ("dr", pair.dr)):
                if name not in self.pools:
                    known = ", ".join(repr(p) for p in sorted(self.pools)) or "none"
                    raise ValueError(
                        f"pairs: {role} pool {name!r} is not a configured pool (pools: {known}); "
                        "fix the pair or add the pool"
                    )
            if pair.protected == pair.dr:
                raise ValueError(f"pairs: pool {pair.protected!r} cannot protect itself")
        return self

    def pool(self, name: str) -> PoolEndpoint:
        """The endpoint of pool `name`; ConfigError naming the known pools otherwise."""
        try:
            return self.pools[name]
        except KeyError:
            raise ConfigError(
                messages.CONFIG_UNKNOWN_POOL.format(name=name, known=", ".join(sorted(self.pools)))
            ) from None

    def pair_for(self, pool: str) -> PoolPair:
        """The pair `pool` is part of (as protected or as DR pool)."""
        for pair in self.pairs:
            if pool in (pair.protected, pair.dr):
                return pair
        raise ConfigError(
            messages.CONFIG_UNKNOWN_POOL.format(
                name=pool, known=", ".join(p.protected for p in self.pairs)
            )
        )


def _validate(data: dict[str, Any], where: str) -> EngineConfig:
    pools = data.get("pools")
    if isinstance(pools, dict):
        # The table key is the pool's name; let a file omit the repetition.
        data = {**data, "pools": {k: {"name": k, **v} for k, v in pools.items()}}
    try:
        return EngineConfig.model_validate(data)
    except ValidationError as exc:
        errors = "; ".join(_describe(e) for e in exc.errors())
        raise ConfigError(messages.CONFIG_INVALID.format(errors=errors, where=where)) from exc


def _describe(error: Any) -> str:
    """One validation error as a person reads it: `field: what is wrong` (our own checks carry
    their sentence; pydantic prefixes it with "Value error, ")."""
    where = ".".join(str(p) for p in error["loc"])
    msg = str(error["msg"]).removeprefix("Value error, ")
    return f"{where}: {msg}" if where else msg


def load(path: str | Path) -> EngineConfig:
    """Read an `EngineConfig` from a TOML file; ConfigError says what to fix."""
    path = Path(path)
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(messages.CONFIG_FILE_MISSING.format(path=path)) from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(messages.CONFIG_FILE_INVALID.format(path=path, error=exc)) from exc
    return _validate(raw.get("engine", raw), str(path))


def from_dict(data: dict[str, Any], where: str = "the configuration") -> EngineConfig:
    """Validate an already-parsed configuration (same shape as the TOML file)."""
    return _validate(data, where)


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

    Every site's pool becomes a `PoolEndpoint` (coordinator first, then members) logged in as the
    site user holding `role`. Pairs are given as (protected pool, DR pool) names, or else inferred:
    a site whose name reads as a DR site ("dr", "recovery", "secondary", ...) protects every
    other site. The storage adapter is the simulator's, on its control URL. When the simulator
    serves TLS, its certificate (`tls_certificate`) is pinned by fingerprint.
    """
    sites = endpoints.get("sites")
    if not isinstance(sites, dict) or not sites:
        raise ConfigError(messages.CONFIG_ENDPOINTS_INVALID.format(what="sites"))
    pools: dict[str, dict[str, Any]] = {}
    site_pool: dict[str, str] = {}
    # A simulator served over TLS publishes its self-signed certificate: pin it.
    pem = endpoints.get("tls_certificate")
    fingerprint = (
        hashlib.sha256(ssl.PEM_cert_to_DER_cert(pem)).hexdigest() if isinstance(pem, str) else None
    )
    for site, info in sites.items():
        names = info.get("pools") or [site]
        users = info.get("users") or {}
        if role not in users:
            raise ConfigError(messages.CONFIG_ENDPOINTS_INVALID.format(what=f"{role} user"))
        username, password = users[role]
        urls = [info["coordinator"], *info.get("members", [])]
        pools[names[0]] = {
            "name": names[0],
            "site": site,
            "urls": urls,
            "username": username,
            "password": password,
            **({"fingerprint": fingerprint} if fingerprint else {}),
        }
        site_pool[site] = names[0]
    if pairs is None:
        dr_sites = [s for s in site_pool if _is_dr_site(s)]
        pairs = [
            (site_pool[s], site_pool[dr_sites[0]])
            for s in site_pool
            if dr_sites and s not in dr_sites
        ]
    control = endpoints.get("control")
    storage: dict[str, Any] = (
        {"adapter": "sim", "control_url": control} if control else {"adapter": "manual"}
    )
    return _validate(
        {
            "pools": pools,
            "pairs": [{"protected": p, "dr": d} for p, d in pairs],
            "storage": storage,
        },
        "the simulator's endpoints",
    )
