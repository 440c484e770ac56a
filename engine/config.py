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

Pools: any number per site, sites as many as the estate has. Pairs: a pool may be paired with
several DR pools and a DR pool may take several protected pools. Without `[[pairs]]`, the pairs
are derived from the `[[storage.luns]]` of the manual adapter: one per pool and per site its
LUNs replicate to (a LUN names its `pool` where a site has several). A hand-written pair whose
protected pool's LUNs all replicate to another site than the DR pool's is an error naming
them. With the `sim` adapter (or LUNs that name no pool at a site of several pools) only the
array and the pools know which LUN holds which SR: readiness checks it then
(`R_LUNS_ELSEWHERE`). `pair_for` refuses a name that could mean several pairs, with the
choices; `PROTECTED:DR` names one exactly.

Every table refuses keys it does not know, naming the nearest valid one (a misspelt key is
never silently ignored). Plain `http://` is refused unless the pool says `allow_plaintext =
true` (a lab or the simulator), and `security_warnings()` lists every pool whose password or
TLS is not protected, for the loader to say each time it reads the file. A configuration for
the simulators is built on the CLI side that starts them (bot/simconfig.py), not here.
"""

from __future__ import annotations

import difflib
import ssl
import tomllib
import types
from pathlib import Path
from typing import Annotated, Any, Literal, Union, get_args, get_origin
from urllib.parse import urlsplit

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)

from engine import messages
from engine.errors import ConfigError


class _Strict(BaseModel):
    # Unknown keys are errors (with the nearest valid key suggested); inf and nan are refused.
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)


def _url(value: str, schemes: tuple[str, ...], bad_scheme: str) -> str:
    """`value` if it is a URL of one of `schemes` with a host (and a numeric port, if any)."""
    parts = urlsplit(value)
    if parts.scheme not in schemes:
        raise ValueError(bad_scheme.format(url=value))
    try:
        parts.port  # noqa: B018 - raises on a port that is not a number
    except ValueError:
        raise ValueError(messages.CONFIG_BAD_URL.format(url=value, scheme=schemes[-1])) from None
    if not parts.hostname:
        raise ValueError(messages.CONFIG_BAD_URL.format(url=value, scheme=schemes[-1]))
    return value


def _pool_url(value: str) -> str:
    return _url(value, ("http", "https"), messages.CONFIG_URL_SCHEME)


def _control_url(value: str | None) -> str | None:
    if value is None:
        return None
    return _url(value, ("https", "http"), messages.CONFIG_CONTROL_URL)


class PoolEndpoint(_Strict):
    """How to reach one pool.

    TLS is verified by default: against `ca_file` when given (it must exist and hold a PEM
    certificate), else against the pinned `fingerprint` (sha256 of the DER certificate, hex,
    colons allowed), else against the system's trust store. `insecure = true` turns
    verification off and is meant for a lab only. Plain `http://` sends the password in clear
    and is refused unless `allow_plaintext = true` (a lab or the simulator).
    """

    name: str
    urls: list[Annotated[str, AfterValidator(_pool_url)]] = Field(min_length=1)
    username: str
    password: SecretStr
    site: str = ""
    ca_file: Path | None = None
    fingerprint: str | None = None
    insecure: bool = False
    allow_plaintext: bool = False

    @field_validator("ca_file")
    @classmethod
    def _ca_file(cls, value: Path | None) -> Path | None:
        if value is None:
            return None
        try:
            context = ssl.create_default_context(cafile=str(value))
        except FileNotFoundError:
            raise ValueError(messages.CONFIG_CA_MISSING.format(path=value)) from None
        except ssl.SSLError:
            raise ValueError(messages.CONFIG_CA_EMPTY.format(path=value)) from None
        except OSError as exc:
            raise ValueError(
                messages.CONFIG_CA_UNREADABLE.format(path=value, error=exc.strerror)
            ) from None
        if not context.cert_store_stats()["x509"]:
            raise ValueError(messages.CONFIG_CA_EMPTY.format(path=value))
        return value

    @model_validator(mode="after")
    def _check(self) -> PoolEndpoint:
        for url in self.urls:
            if url.startswith("http://") and not self.allow_plaintext:
                raise ValueError(messages.CONFIG_PLAINTEXT.format(url=url, name=self.name))
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

    def security_warnings(self) -> list[str]:
        """What about reaching this pool an operator must be told every time: a password sent
        in clear, or TLS that is not verified."""
        plain = [u for u in self.urls if u.startswith("http://")]
        if plain:
            return [messages.CONFIG_PLAINTEXT_WARNING.format(name=self.name, urls=", ".join(plain))]
        if self.insecure and not self.fingerprint and not self.ca_file:
            return [messages.CONFIG_TLS_UNVERIFIED.format(name=self.name)]
        return []


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
    # The protected pool whose SR this LUN holds: needed where a site has several pools (the
    # pairs are derived from, and checked against, where each pool's LUNs replicate).
    pool: str = ""
    source_site: str = ""
    target_site: str = ""
    state: Literal["replicating", "promoted", "reversed", "failed", "unknown"] = "replicating"
    mirror_device_config: dict[str, str] = Field(default_factory=dict)
    test_copy_device_config: dict[str, str] | None = None


class StorageSettings(_Strict):
    """Which storage replication adapter the engine uses and how to reach it."""

    adapter: Literal["sim", "manual"] = "manual"
    control_url: Annotated[str | None, AfterValidator(_control_url)] = None
    luns: list[LunSettings] = Field(default_factory=list)
    # Above this many seconds of replication lag a pool's readiness is degraded.
    max_lag_seconds: float = Field(default=300.0, gt=0, le=7 * 86400)

    @model_validator(mode="after")
    def _check(self) -> StorageSettings:
        if self.adapter == "sim" and not self.control_url:
            raise ValueError("storage.adapter = 'sim' needs storage.control_url")
        return self


class Timeouts(_Strict):
    """Bounds on every wait; no call to XAPI is ever made without one.

    Each has a sane upper bound too: a wait longer than that is a typo (or `inf`), and would
    leave an operator staring at a run that can no longer tell a dead pool from a slow one.
    """

    connect_seconds: float = Field(default=10.0, gt=0, le=600)
    call_seconds: float = Field(default=60.0, gt=0, le=3600)
    task_seconds: float = Field(default=3600.0, gt=0, le=86400)
    event_seconds: float = Field(default=30.0, gt=0, le=3600)


class Concurrency(_Strict):
    """How much the engine does at once against one pool."""

    recover: int = Field(default=8, ge=1, le=256)
    start: int = Field(default=16, ge=1, le=256)
    shutdown: int = Field(default=16, ge=1, le=256)


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
        seen: set[tuple[str, str]] = set()
        for pair in self.pairs:
            if (pair.protected, pair.dr) in seen:
                raise ValueError(
                    messages.CONFIG_DUPLICATE_PAIR.format(protected=pair.protected, dr=pair.dr)
                )
            seen.add((pair.protected, pair.dr))
        for lun in self.storage.luns:
            if lun.pool and lun.pool not in self.pools:
                raise ValueError(messages.CONFIG_LUN_POOL.format(lun=lun.lun, pool=lun.pool))
        if not self.pairs and self.storage.luns:
            # Frozen model: the derived pairs are set once, here, as if they had been written.
            object.__setattr__(self, "pairs", self._derived_pairs())
        else:
            for pair in self.pairs:
                self._check_pair_luns(pair)
        return self

    def luns_of(self, pool: str) -> list[LunSettings]:
        """The configured LUNs that hold `pool`'s SRs: those naming it, and those of its site
        that name no pool when it is the only pool there (else they cannot be told apart
        without asking the pools: readiness does, `R_LUNS_ELSEWHERE`)."""
        site = self.pools[pool].site
        alone = site != "" and sum(1 for p in self.pools.values() if p.site == site) == 1
        return [
            lun
            for lun in self.storage.luns
            if lun.pool == pool or (not lun.pool and alone and lun.source_site == site)
        ]

    def _derived_pairs(self) -> list[PoolPair]:
        """A pair for each pool and each site its LUNs replicate to, into that site's pool."""
        pairs = []
        for name in self.pools:
            by_target: dict[str, list[str]] = {}
            for lun in self.luns_of(name):
                if lun.target_site:
                    by_target.setdefault(lun.target_site, []).append(lun.lun)
            for target, luns in sorted(by_target.items()):
                choices = [p for p, e in self.pools.items() if e.site == target and p != name]
                if len(choices) != 1:
                    raise ValueError(
                        messages.CONFIG_NO_DR_POOL.format(
                            luns=", ".join(luns),
                            protected=name,
                            site=target,
                            found=f"pools {', '.join(choices)}" if choices else "no pool",
                            choices=", ".join(repr(c) for c in choices) or "(add the DR pool)",
                        )
                    )
                pairs.append(PoolPair(protected=name, dr=choices[0]))
        return pairs

    def _check_pair_luns(self, pair: PoolPair) -> None:
        """A hand-written pair whose protected pool's LUNs all go to another site than the DR
        pool's is an error naming them (known only for LUNs the configuration lists)."""
        dr_site = self.pools[pair.dr].site
        luns = [lun for lun in self.luns_of(pair.protected) if lun.target_site]
        if not dr_site or not luns or any(lun.target_site == dr_site for lun in luns):
            return
        raise ValueError(
            messages.CONFIG_PAIR_LUNS_ELSEWHERE.format(
                protected=pair.protected,
                dr=pair.dr,
                luns=", ".join(lun.lun for lun in luns),
                sites=" and ".join(sorted({repr(lun.target_site) for lun in luns})),
                dr_site=dr_site,
            )
        )

    def security_warnings(self) -> list[str]:
        """Every pool's `security_warnings()`, in the order of the pools."""
        return [w for pool in self.pools.values() for w in pool.security_warnings()]

    def pool(self, name: str) -> PoolEndpoint:
        """The endpoint of pool `name`; ConfigError naming the known pools otherwise."""
        try:
            return self.pools[name]
        except KeyError:
            raise ConfigError(
                messages.CONFIG_UNKNOWN_POOL.format(name=name, known=", ".join(sorted(self.pools)))
            ) from None

    def pair_for(self, pool: str | None) -> PoolPair:
        """The one pair `pool` names: a protected pool, a DR pool, or `PROTECTED:DR`; None
        names the only pair. A name that could mean several pairs is refused with the choices
        (ConfigError), never guessed."""
        if not self.pairs:
            raise ConfigError(messages.PAIR_NONE)
        choices = ", ".join(f"{p.protected}:{p.dr}" for p in self.pairs)
        if pool is None:
            if len(self.pairs) == 1:
                return self.pairs[0]
            raise ConfigError(
                messages.PAIR_AMBIGUOUS.format(
                    what="A request without --pool", n=len(self.pairs), choices=choices
                )
            )
        if ":" in pool:
            protected, _, dr = pool.partition(":")
            for name in (protected, dr):
                self.pool(name)
            for pair in self.pairs:
                if (pair.protected, pair.dr) == (protected, dr):
                    return pair
            raise ConfigError(messages.PAIR_NOT_PAIRED.format(a=protected, b=dr, choices=choices))
        self.pool(pool)
        matches = self.pairs_of(pool)
        if not matches:
            raise ConfigError(messages.PAIR_UNKNOWN.format(what=f"pool {pool!r}", choices=choices))
        if len(matches) > 1:
            raise ConfigError(
                messages.PAIR_AMBIGUOUS.format(
                    what=f"--pool {pool}",
                    n=len(matches),
                    choices=", ".join(f"{p.protected}:{p.dr}" for p in matches),
                )
            )
        return matches[0]

    def pairs_of(self, pool: str) -> list[PoolPair]:
        """Every pair `pool` is part of (as protected or as DR pool), in configuration order."""
        return [p for p in self.pairs if pool in (p.protected, p.dr)]


def named_pools(data: Any) -> Any:
    """`data` with each pool named after its table key (a file need not repeat it)."""
    pools = data.get("pools") if isinstance(data, dict) else None
    if not isinstance(pools, dict):
        return data
    return {
        **data,
        "pools": {k: {"name": k, **v} if isinstance(v, dict) else v for k, v in pools.items()},
    }


def _validate(data: dict[str, Any], where: str) -> EngineConfig:
    try:
        return EngineConfig.model_validate(named_pools(data))
    except ValidationError as exc:
        problems = describe_all(exc.errors(), EngineConfig)
        raise ConfigError(problems_text(problems, where)) from exc


def problems_text(problems: list[str], where: str, template: str = "") -> str:
    """What is wrong with a configuration, one line per problem: a single problem stays one
    line (`Configuration is invalid: KEY: ... Fix these settings in WHERE.`); several are
    listed under a heading, one `KEY: what is wrong; expected ...` per line."""
    if len(problems) == 1:
        return (template or messages.CONFIG_INVALID).format(errors=problems[0], where=where)
    head = messages.CONFIG_INVALID_MANY.format(count=len(problems), where=where)
    return "\n".join([head, *(messages.CONFIG_PROBLEM.format(problem=p) for p in problems)])


def describe_all(errors: list[Any], model: type[BaseModel], prefix: str = "") -> list[str]:
    """`describe` for each error, one per problem: a misspelt required key is one problem (the
    unknown key naming the nearest valid one), not that plus the key it should have been."""
    misspelt = set()
    for error in errors:
        if error["type"] == "extra_forbidden":
            loc = list(error["loc"])
            known = known_keys(model, [str(p) for p in loc[:-1] if not isinstance(p, int)])
            near = difflib.get_close_matches(str(loc[-1]), known, n=1, cutoff=0.6)
            if near:
                misspelt.add((*loc[:-1], near[0]))
    return [
        describe(e, model, prefix)
        for e in errors
        if not (e["type"] == "missing" and tuple(e["loc"]) in misspelt)
    ]


def describe(error: Any, model: type[BaseModel], prefix: str = "") -> str:
    """One validation error as a person reads it: the dotted key (`pools.prod.urls[0]`), what
    is wrong and what is expected there. A missing key says it is required and what it takes;
    a value of the wrong type or out of bounds says what it got and what it expected; our own
    checks carry their sentence (pydantic prefixes it with "Value error, "). An unknown key
    names the nearest valid key of its table. A value is shown shortened, never in full, and a
    secret's value never: only its kind."""
    loc = [p for p in error["loc"]]
    where = key_path(loc, prefix)
    names = [str(p) for p in loc if not isinstance(p, int)]
    kind = error["type"]
    if kind == "extra_forbidden":
        known = known_keys(model, names[:-1])
        near = difflib.get_close_matches(names[-1], known, n=1, cutoff=0.6)
        hint = (
            messages.CONFIG_DID_YOU_MEAN.format(key=near[0])
            if near
            else messages.CONFIG_VALID_KEYS.format(keys=", ".join(sorted(known)))
        )
        return messages.CONFIG_UNKNOWN_KEY.format(where=where, hint=hint)
    annotation = annotation_at(model, loc)
    if kind == "missing":
        return messages.CONFIG_MISSING.format(where=where, expected=expected(annotation))
    if kind in ("value_error", "assertion_error"):
        msg = str(error["msg"]).removeprefix("Value error, ").removeprefix("Assertion failed, ")
        return f"{where}: {msg}" if where else msg
    secret = _unwrap(annotation) is SecretStr or any(
        word in name.lower() for name in names[-1:] for word in ("password", "token", "secret")
    )
    got = _kind_of(error.get("input")) if secret else _shown(error.get("input"))
    return messages.CONFIG_WRONG.format(
        where=where, got=got, expected=_bound(error) or expected(annotation)
    )


def key_path(loc: list[Any], prefix: str = "") -> str:
    """A pydantic location as the key a person writes: `pairs[0].dr`, `pools.prod.urls[1]`."""
    out = prefix.rstrip(".")
    for step in loc:
        if isinstance(step, int):
            out += f"[{step}]"
        else:
            out += f".{step}" if out else str(step)
    return out


def _shown(value: Any, limit: int = 40) -> str:
    text = repr(value)
    return text if len(text) <= limit else f"{text[: limit - 1]}… ({len(text)} characters)"


def _kind_of(value: Any) -> str:
    kinds = {str: "text", bool: "true/false", int: "a number", float: "a number"}
    kinds |= {list: "a list", dict: "a table"}
    return kinds.get(type(value), type(value).__name__)


# What a bound means, for the error types pydantic reports a bound with (`ctx` holds it).
_BOUNDS = {
    "greater_than": "a number greater than {gt}",
    "greater_than_equal": "a number of at least {ge}",
    "less_than": "a number less than {lt}",
    "less_than_equal": "a number of at most {le}",
    "finite_number": "a finite number (not inf or nan)",
    "too_short": "at least {min_length} item(s)",
    "too_long": "at most {max_length} item(s)",
    "string_too_short": "text of at least {min_length} character(s)",
    "string_too_long": "text of at most {max_length} character(s)",
}


def _bound(error: Any) -> str:
    template = _BOUNDS.get(error["type"])
    if template is None:
        return ""
    try:
        return template.format(**(error.get("ctx") or {}))
    except (KeyError, IndexError):
        return str(error["msg"]).removeprefix("Input should be ")


def expected(annotation: Any) -> str:
    """What a value of `annotation` is written as in TOML, in words."""
    annotation = _unwrap(annotation)
    origin = get_origin(annotation)
    if origin is Literal:
        return "one of " + ", ".join(repr(a) for a in get_args(annotation))
    if origin is list:
        args = get_args(annotation)
        return f"a list [...] of {expected(args[0])}" if args else "a list [...]"
    if origin is dict:
        args = get_args(annotation)
        value = _unwrap(args[-1]) if args else None
        if isinstance(value, type) and issubclass(value, BaseModel):
            return "a table per name, e.g. [pools.NAME]"
        return f"a table of {expected(value)}" if args else "a table"
    if annotation is SecretStr:
        return "text (a secret: better in a secret file or DRBOT_* variable)"
    simple = {
        str: "text in quotes",
        bool: "true or false",
        int: "a whole number (integer)",
        float: "a number",
        Path: "a file path in quotes",
    }
    if isinstance(annotation, type):
        if annotation in simple:
            return simple[annotation]
        if issubclass(annotation, BaseModel):
            return "a table"
    return "a valid value (docs/configuration.md)"


def annotation_at(model: type[BaseModel], loc: list[Any]) -> Any:
    """The annotation of the value at `loc` inside `model` (a pool's name and a list index
    are steps through a mapping or a list); None where it cannot be followed."""
    annotation: Any = model
    for step in loc:
        annotation = _unwrap(annotation)
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            field = annotation.model_fields.get(str(step))
            if field is None:
                return None
            annotation = field.annotation
        elif get_origin(annotation) in (dict, list):
            annotation = get_args(annotation)[-1]
        else:
            return None
    return annotation


def known_keys(model: type[BaseModel], loc: list[str]) -> list[str]:
    """The keys the table at `loc` inside `model` accepts."""
    annotation = _unwrap(annotation_at(model, list(loc)))
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return [
            name
            for name in annotation.model_fields
            # A pool's name is its table key: never a key inside the table.
            if not (annotation is PoolEndpoint and name == "name")
        ]
    return []


def _unwrap(annotation: Any) -> Any:
    """`X | None` and `Annotated[X, ...]` as `X`."""
    if get_origin(annotation) is Annotated:
        return _unwrap(get_args(annotation)[0])
    if get_origin(annotation) in (Union, types.UnionType):
        args = [a for a in get_args(annotation) if a is not type(None)]
        return args[0] if len(args) == 1 else annotation
    return annotation


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
