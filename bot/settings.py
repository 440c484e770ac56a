"""drbot's settings: a TOML file, overridable by `DRBOT_*` environment variables.

```toml
store_path = "/var/lib/drbot/drbot.db"   # relative paths are relative to this file

[engine]                                 # engine/config.py: pools, pairs, storage, timeouts
[engine.pools.prod]
urls = ["https://10.0.0.10"]
username = "root"
password = "secret"
...
```

Environment variables win over the file: `DRBOT_STORE_PATH=/tmp/x.db`, and nested keys with a
double underscore, e.g. `DRBOT_ENGINE__TIMEOUTS__CALL_SECONDS=10`. Secrets can also be files in
`DRBOT_SECRETS_DIR` (pydantic-settings' secrets directory), for deploy/ to mount.

Other sections (`[slack]` ...) are read by the parts of the bot that own them.
"""

from __future__ import annotations

import os
import tomllib
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

from bot.reports.config import ReportsConfig
from commands.config import PolicyConfig
from engine import config as engine_config
from engine.config import EngineConfig
from engine.errors import ConfigError
from store.audit import DEFAULT_ANCHOR_EVERY, AuditFiles, register_audit_files

DEFAULT_CONFIG = "drbot.toml"

MISSING_FILE = (
    "Configuration file {path} does not exist; create it (see the README's configuration "
    "section), pass --config FILE, or set DRBOT_CONFIG."
)
BAD_TOML = "Configuration file {path} is not valid TOML ({error}); fix the syntax."
INVALID = "Configuration {path} is invalid: {errors}. Fix these settings."


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


class Settings(BaseSettings):
    """Everything drbot reads from its configuration."""

    model_config = SettingsConfigDict(
        env_prefix="DRBOT_",
        env_nested_delimiter="__",
        extra="ignore",
    )

    engine: EngineConfig
    store_path: Path = Path("drbot.db")
    audit: AuditSettings = Field(default_factory=AuditSettings)
    policy: PolicyConfig = Field(default_factory=PolicyConfig)  # commands/config.py: [policy]
    reports: ReportsConfig = Field(default_factory=ReportsConfig)

    @field_validator("engine", mode="before")
    @classmethod
    def _engine(cls, value: Any) -> Any:
        # The engine's own loader names each pool after its table key and checks the pairs.
        if isinstance(value, dict):
            return engine_config.from_dict(value, "[engine]")
        return value

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return (
            init_settings,
            env_settings,
            TomlConfigSettingsSource(settings_cls),
            file_secret_settings,
        )


def config_path(path: str | Path | None = None) -> Path:
    """The configuration file: the argument, else `DRBOT_CONFIG`, else ./drbot.toml."""
    return Path(path or os.environ.get("DRBOT_CONFIG") or DEFAULT_CONFIG)


def load_settings(path: str | Path | None = None) -> Settings:
    """Read the settings from the TOML file at `path` and the environment.

    Raises `ConfigError` saying what to fix (missing file, bad TOML, invalid values).
    """
    file = config_path(path)
    if not file.is_file():
        raise ConfigError(MISSING_FILE.format(path=file))
    try:
        tomllib.loads(file.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(BAD_TOML.format(path=file, error=exc)) from exc
    secrets_dir = os.environ.get("DRBOT_SECRETS_DIR")
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
        settings = bound()
    except ValidationError as exc:
        errors = "; ".join(
            f"{'.'.join(str(p) for p in e['loc']) or '(top)'}: {e['msg']}" for e in exc.errors()
        )
        raise ConfigError(INVALID.format(path=file, errors=errors)) from exc
    base = file.parent
    if not settings.store_path.is_absolute():
        settings.store_path = (base / settings.store_path).resolve()
    for name in ("key_file", "anchor_file"):
        value = getattr(settings.audit, name)
        if value is not None and not value.is_absolute():
            setattr(settings.audit, name, (base / value).resolve())
    register_audit_files(settings.store_path, settings.audit.files(settings.store_path))
    return settings
