"""A drbot configuration for the simulators, written from their endpoints file."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import tomli_w

from engine.config import from_sim_endpoints


def write_config(endpoints: dict[str, Any], path: Path, store_path: Path) -> None:
    """Write a drbot TOML configuration for the simulators named in `endpoints`.

    A relative `store_path` is relative to the configuration file, as bot/settings.py reads it.
    """
    engine = from_sim_endpoints(endpoints)
    data = engine.model_dump(mode="json", exclude_none=True)
    for name, pool in data["pools"].items():
        # model_dump masks secrets; the file is the one place the password must be real.
        pool["password"] = engine.pools[name].password.get_secret_value()
    path.write_text(tomli_w.dumps({"store_path": str(store_path), "engine": data}))
