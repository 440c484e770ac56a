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
    config: dict[str, Any] = {"store_path": str(store_path), "engine": data}
    if "slack" in endpoints:
        config.update(slack_sections(endpoints["slack"]))
    path.write_text(tomli_w.dumps(config))


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
