"""drbot's settings: a TOML file, secret files, and `DRBOT_*` environment variables.

```toml
store_path = "/var/lib/drbot/drbot.db"   # relative paths are relative to this file

[engine]                                 # engine/config.py: pools, pairs, storage, timeouts
[engine.pools.prod]
urls = ["https://10.0.0.10"]
username = "root"
password = "secret"                      # or a secret file, see below
...

[audit]                                  # optional: where the audit key and anchors live
key_file = "/etc/drbot/audit.key"
```

Where a value comes from, the first that has it wins:
1. an environment variable: `DRBOT_STORE_PATH=/tmp/x.db`; nested keys with a double underscore,
   e.g. `DRBOT_ENGINE__TIMEOUTS__CALL_SECONDS=10`; a list or a table as JSON, e.g.
   `DRBOT_ENGINE__POOLS__PROD__URLS='["https://10.0.0.10"]'`;
2. a secret file in the directory `DRBOT_SECRETS_DIR` names, one file per value, named like the
   environment variable, holding the value alone: `DRBOT_ENGINE__POOLS__PROD__PASSWORD` holds
   pool prod's password, `DRBOT_SLACK__BOT_TOKEN` the bot token (what a container runtime or
   systemd's credentials mount);
3. the TOML file.

Every key is checked: an unknown one (`stor_path`) is an error naming the nearest valid key. A
value that does not parse names the variable or key it came from. Each time the settings are
read, the `drbot.settings` logger warns about a secret file, or a configuration file that holds
a secret, that others may read (world-readable, or readable by a group drbot is not in:
`others_may_read`), a pool reached over plain HTTP, and TLS that is not verified. A pool whose
every URL is a loopback address (127.0.0.0/8, ::1, localhost: a simulator, a tunnel's end) gets
neither warning: what goes to it never leaves the machine, and a warning printed for every
command, the demo and every rehearsal would teach people to skip the ones that matter.

Other sections (`[slack]` ...) are owned by the parts of the bot that read them: each adds its
one field below, with its model in its own module.
"""

from __future__ import annotations

import ipaddress
import json
import logging
import os
import stat
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator
from pydantic.fields import FieldInfo
from pydantic_settings import (
    BaseSettings,
    EnvSettingsSource,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)
from pydantic_settings.exceptions import SettingsError

from bot.logs import ObservabilityConfig
from bot.reports.config import ReportsConfig
from bot.slack.config import SlackConfig
from commands.config import PolicyConfig
from engine import config as engine_config
from engine.config import EngineConfig
from engine.errors import ConfigError
from store.audit import DEFAULT_ANCHOR_EVERY, AuditFiles, register_audit_files

log = logging.getLogger("drbot.settings")


class _ToPerson(logging.Handler):
    """drbot's warnings on stderr, wrapped to the terminal, when nothing else handles logging
    (the CLI): as Python's last-resort handler would, but readable at 80 columns. Where the
    process configures logging (the bot, pytest), its handlers have them instead."""

    def emit(self, record: logging.LogRecord) -> None:
        if logging.getLogger().handlers or record.levelno < logging.WARNING:
            return
        from rich.console import Console

        Console(stderr=True).print(
            record.getMessage(), style="yellow", markup=False, highlight=False
        )


logging.getLogger("drbot").addHandler(_ToPerson())

DEFAULT_CONFIG = "drbot.toml"
PREFIX = "DRBOT_"

MISSING_FILE = (
    "Configuration file {path} does not exist; create it (see the README's configuration "
    "section), pass --config FILE, or set DRBOT_CONFIG."
)
UNREADABLE_FILE = (
    "Configuration file {path} cannot be read ({error}); check the path and its permissions."
)
BAD_TOML = "Configuration file {path} is not valid TOML ({error}); fix the syntax."
INVALID = "Configuration is invalid: {errors}. Fix these settings in {where}."
OVERRIDES = " (the environment overrides the file: {names})"
WHERE_KEYS_ARE = " (docs/configuration.md describes every key)"
IN_FILE = "{path}: {error}"
BAD_JSON = (
    "{name} is not valid JSON ({error}); a list or a table is given as JSON, e.g. "
    "{name}='[\"https://10.0.0.10\"]' for a list of URLs."
)
BAD_VALUE = "{name} could not be read ({error}); check its value."
SECRETS_DIR_MISSING = (
    "DRBOT_SECRETS_DIR {path} is not a directory; create it (owner-only, 0700) with one file per "
    "secret, or unset DRBOT_SECRETS_DIR."
)
OTHERS_MAY_READ = (
    "Warning: {what} {path} may be read by other users (mode {mode:o}) and holds secrets: "
    "chmod 600 {path}"
)


class AuditSettings(BaseModel):
    """Where the audit trail's key and anchors live (see store/audit.py).

    Both default to files beside the store (`<store>.audit-key`, `<store>.anchors`). Keep the
    key where those who can write the store cannot read it; keep a copy of it with the backups
    of the store (a trail cannot be checked without the key it was written with).
    """

    model_config = ConfigDict(extra="forbid")

    key_file: Path | None = None
    anchor_file: Path | None = None
    # The head is anchored every this many entries, and whenever drbot closes the store.
    anchor_every: int = Field(default=DEFAULT_ANCHOR_EVERY, ge=1, le=100_000)

    def files(self, store_path: Path) -> AuditFiles:
        beside = AuditFiles.beside(store_path)
        return AuditFiles(
            key_file=self.key_file or beside.key_file,
            anchor_file=self.anchor_file or beside.anchor_file,
            anchor_every=self.anchor_every,
        )


class _Source:
    """What the two `DRBOT_*` sources share: a value that does not parse names its variable."""

    env_vars: Mapping[str, str | None]

    def decode_complex_value(self, field_name: str, field: FieldInfo | None, value: Any) -> Any:
        try:
            return json.loads(value)
        except ValueError as exc:
            raise ConfigError(
                BAD_JSON.format(name=self._name(field_name, value), error=exc)
            ) from None

    def _name(self, field_name: str, value: Any) -> str:
        """The variable (or secret file) that holds `value` for a key ending in `field_name`."""
        for name, held in self.env_vars.items():
            if held == value and name.lower().endswith(field_name.lower()):
                return name.upper()
        return f"{PREFIX}{field_name.upper()}"


class _EnvSource(_Source, EnvSettingsSource):
    """`DRBOT_*` environment variables."""


class _SecretFilesSource(_Source, EnvSettingsSource):
    """One file per value in a directory, named like the environment variable it stands for
    (`DRBOT_ENGINE__POOLS__PROD__PASSWORD`), holding the value alone (a trailing newline is
    dropped). pydantic-settings' own secrets directory reads top-level fields only, so a pool's
    password (a nested key) could not be given that way."""

    def __init__(self, settings_cls: type[BaseSettings], directory: Path) -> None:
        self.directory = directory
        super().__init__(settings_cls)

    def _load_env_vars(self) -> Mapping[str, str | None]:
        values: dict[str, str | None] = {}
        for path in sorted(self.directory.iterdir()):
            if not path.is_file() or not path.name.upper().startswith(PREFIX):
                continue
            _warn_if_shared(path, "secret file")
            values[path.name.lower()] = path.read_text(encoding="utf-8").rstrip("\r\n")
        return values


class Settings(BaseSettings):
    """Everything drbot reads from its configuration."""

    model_config = SettingsConfigDict(
        env_prefix=PREFIX,
        env_nested_delimiter="__",
        extra="forbid",
    )

    engine: EngineConfig
    store_path: Path = Path("drbot.db")
    audit: AuditSettings = Field(default_factory=AuditSettings)
    policy: PolicyConfig = Field(default_factory=PolicyConfig)  # commands/config.py: [policy]
    reports: ReportsConfig = Field(default_factory=ReportsConfig)
    slack: SlackConfig | None = None  # bot/slack/config.py; `drbot serve` needs it
    observability: ObservabilityConfig = Field(default_factory=ObservabilityConfig)  # bot/logs.py

    @field_validator("engine", mode="before")
    @classmethod
    def _engine(cls, value: Any) -> Any:
        # Each pool is named after its table key, as the engine's own loader does; validated
        # here, with the rest, so that every problem of the file is reported at once.
        return engine_config.named_pools(value)

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        sources: list[PydanticBaseSettingsSource] = [init_settings, _EnvSource(settings_cls)]
        directory = settings_cls.model_config.get("secrets_dir")
        if directory is not None:
            sources.append(_SecretFilesSource(settings_cls, Path(str(directory))))
        sources.append(TomlConfigSettingsSource(settings_cls))
        return tuple(sources)


def config_path(path: str | Path | None = None) -> Path:
    """The configuration file: the argument, else `DRBOT_CONFIG`, else ./drbot.toml."""
    return Path(path or os.environ.get("DRBOT_CONFIG") or DEFAULT_CONFIG)


_warned: set[str] = set()


def _warn(message: str) -> None:
    """Say `message` on the `drbot.settings` logger, once per process (a loop that re-reads
    the settings must not bury the screen)."""
    if message not in _warned:
        _warned.add(message)
        log.warning(message)


def others_may_read(path: Path) -> int | None:
    """The mode of `path` when users other than drbot may read or change it, else None.

    The rule: anything for others (world bits) is shared; group bits are shared only when the
    file's group is not one of drbot's own groups (primary or supplementary). A file of
    drbot's own group is how a container platform hands secrets to a process that does not
    own them: a Kubernetes secret volume with `defaultMode: 0440` is root:fsGroup, and the
    pod's fsGroup is a supplementary group of drbot's process (deploy/kubernetes/drbot.yaml).
    A group of other people (`users`) is not drbot's own group unless drbot's account was put
    in it, which is a choice the host's administrator made."""
    info = path.stat()
    mode = stat.S_IMODE(info.st_mode)
    if mode & 0o007:
        return mode
    if mode & 0o070 and info.st_gid not in {os.getegid(), *os.getgroups()}:
        return mode
    return None


SECRET_WORDS = ("password", "token", "secret")


def _holds_secret(table: Any) -> bool:
    """Whether a parsed TOML table holds a secret value anywhere (a key naming one: a pool's
    password, a Slack token, the signing secret)."""
    if isinstance(table, dict):
        return any(
            (isinstance(key, str) and any(w in key.lower() for w in SECRET_WORDS) and value)
            or _holds_secret(value)
            for key, value in table.items()
        )
    if isinstance(table, list):
        return any(_holds_secret(item) for item in table)
    return False


def _warn_if_shared(path: Path, what: str) -> None:
    mode = others_may_read(path)
    if mode is not None:
        _warn(OTHERS_MAY_READ.format(what=what, path=path, mode=mode))


def _overriding(environ: Mapping[str, str]) -> list[str]:
    """The `DRBOT_*` variables that set a setting (not DRBOT_CONFIG and the like)."""
    fields = [f"{PREFIX}{name}".upper() for name in Settings.model_fields]
    return sorted(
        k for k in environ if any(k.upper() == f or k.upper().startswith(f + "__") for f in fields)
    )


def _describe(errors: list[Any]) -> list[str]:
    """The validation errors for a person, one line per problem, as the engine's loader words
    them (the key, what is wrong, what is expected); a missing key also says where every key
    is described."""
    lines = engine_config.describe_all(errors, Settings)
    missing = [i for i, line in enumerate(lines) if ": missing; " in line]
    if missing:
        lines[missing[0]] += WHERE_KEYS_ARE
    return lines


def load_settings(path: str | Path | None = None) -> Settings:
    """Read the settings from the TOML file at `path`, the secret files and the environment.

    Raises `ConfigError` saying what to fix (missing or unreadable file, bad TOML, unknown
    keys, values that do not parse or are out of bounds); warns as the module docstring says.
    """
    file = config_path(path)
    if not file.is_file():
        raise ConfigError(MISSING_FILE.format(path=file))
    try:
        # Read as pydantic-settings reads it (bytes: a lone \r is not a newline in TOML).
        with file.open("rb") as f:
            raw = tomllib.load(f)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(BAD_TOML.format(path=file, error=exc)) from exc
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(UNREADABLE_FILE.format(path=file, error=exc)) from None
    if _holds_secret(raw):  # one without (they come from secret files) may be shared
        _warn_if_shared(file, "configuration file")
    secrets_dir = os.environ.get("DRBOT_SECRETS_DIR")
    if secrets_dir is not None and not Path(secrets_dir).is_dir():
        raise ConfigError(SECRETS_DIR_MISSING.format(path=secrets_dir))
    bound = type(
        "FileSettings",
        (Settings,),
        {
            "model_config": SettingsConfigDict(
                **{**Settings.model_config, "toml_file": file, "secrets_dir": secrets_dir}
            )
        },
    )
    try:
        settings: Settings = bound()
    except ConfigError as exc:  # the engine's own loader, which does not know the file
        raise ConfigError(IN_FILE.format(path=file, error=exc)) from None
    except ValidationError as exc:
        names = _overriding(os.environ)
        overrides = OVERRIDES.format(names=", ".join(names)) if names else ""
        problems = _describe(exc.errors())
        where = f"{file}{overrides}"
        raise ConfigError(engine_config.problems_text(problems, where, INVALID)) from None
    except SettingsError as exc:
        raise ConfigError(BAD_VALUE.format(name=f"A {PREFIX}* value", error=exc)) from None
    base = file.parent
    if not settings.store_path.is_absolute():
        settings.store_path = (base / settings.store_path).resolve()
    for name in ("key_file", "anchor_file"):
        value = getattr(settings.audit, name)
        if value is not None and not value.is_absolute():
            setattr(settings.audit, name, (base / value).resolve())
    register_audit_files(settings.store_path, settings.audit.files(settings.store_path))
    for pool in settings.engine.pools.values():
        if not all(_is_loopback(url) for url in pool.urls):
            for warning in pool.security_warnings():
                _warn(warning)
    return settings


def _is_loopback(url: str) -> bool:
    """Whether `url`'s host is this machine's loopback: 127.0.0.0/8, ::1 or `localhost`
    (RFC 6761 §6.3 reserves it for loopback)."""
    host = urlsplit(url).hostname or ""
    if host.rstrip(".").lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False  # a name: it may resolve anywhere
