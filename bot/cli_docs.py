"""`drbot docs commands` and `drbot docs configuration`: the reference pages, written from the
code that defines them, so they cannot drift from it (a test compares each page with what
these commands print).

- `docs/commands.md`: every `/dr` command from the chat grammar (commands/parse.py: its words,
  options, aliases; commands/messages.py: usage and summary), then every `drbot` command of the
  typer application with its arguments and options.
- `docs/configuration.md`: every key of the configuration, from the settings models
  (bot/settings.py and the section models it names): type, default, bounds and description.

    drbot docs commands > docs/commands.md
    drbot docs configuration > docs/configuration.md
"""

from __future__ import annotations

import types
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated, Any, Literal, Union, get_args, get_origin

import typer
from pydantic import BaseModel, SecretStr
from pydantic.fields import FieldInfo
from pydantic_core import PydanticUndefined

docs_app = typer.Typer(help="Print the reference pages (docs/*.md) from the code.")

HEADER = "<!-- Written by `drbot docs {page}` from the code; do not edit by hand. -->\n\n"


# -- commands -------------------------------------------------------------------------------------


def chat_commands() -> list[str]:
    """The `/dr` commands, as a Markdown section."""
    from commands import messages as m
    from commands.parse import ALIASES, GRAMMAR, REASON_REQUIRED

    out = [
        "## In Slack: `/dr`",
        "",
        "Type these after `/dr`, or mention the bot in a thread (`@drbot status`), where Slack "
        "offers no slash commands. Options may come anywhere; `--reason` takes the words up to "
        "the next option. " + m.TARGET_HELP,
        "",
        "| command | what it does |",
        "|---|---|",
    ]
    for name in GRAMMAR:
        summary = m.SUMMARY.get(name, "")
        if name in REASON_REQUIRED:
            summary += " A reason is required (a dialog asks for it when missing)."
        out.append(f"| `{m.PREFIX} {m.USAGE[name]}` | {summary.strip()} |")
    aliases = ", ".join(f"`{a}` = `{c}`" for a, c in sorted(ALIASES.items()))
    out += ["", f"Aliases: {aliases}.", ""]
    return out


def _param_line(param: Any) -> str:
    """One argument or option of a command (typer's own click types, read by duck typing:
    typer vendors click, so `click.Argument` is not their class)."""
    if param.param_type_name == "argument":
        name = f"`{(param.metavar or param.name).upper()}`"
        required = "" if param.required else " (optional)"
        return f"- {name}{required}: {param.help or ''}".rstrip(": ")
    flags = ", ".join(f"`{o}`" for o in [*param.opts, *param.secondary_opts])
    if not param.is_flag:
        flags += f" {param.metavar or param.name.upper()}"
    return f"- {flags}: {param.help or ''}".rstrip(": ")


def _walk(command: Any, path: list[str]) -> Iterator[tuple[list[str], Any]]:
    if hasattr(command, "commands"):
        for name in sorted(command.commands):
            yield from _walk(command.commands[name], [*path, name])
    else:
        yield path, command


def cli_commands(root: Any) -> list[str]:
    """Every `drbot` command under `root` (the click command typer builds), as Markdown."""
    out = [
        "## At the shell: `drbot`",
        "",
        "Every command reads `--config FILE` (else `DRBOT_CONFIG`, else `./drbot.toml`). Exit "
        "codes: 0 done, 1 something did not fully succeed (or, for `config check`, something "
        "is wrong), 2 the request or its input was refused, with the reason.",
        "",
    ]
    for path, command in _walk(root, []):
        usage = " ".join(["drbot", *path])
        out += [f"### `{usage}`", ""]
        help_text = (command.help or "").strip().split("\n\n")[0].replace("\n", " ")
        if help_text:
            out += [help_text, ""]
        params = [p for p in command.params if p.name != "help"]
        out += [_param_line(p) for p in params]
        if params:
            out.append("")
    return out


def commands_page(root: Any) -> str:
    """The whole of docs/commands.md; `root` is `typer.main.get_command(app)`."""
    lines = [
        "# drbot commands",
        "",
        *chat_commands(),
        *cli_commands(root),
    ]
    return HEADER.format(page="commands") + "\n".join(lines).rstrip() + "\n"


# -- configuration ---------------------------------------------------------------------------------


def _unwrap(annotation: Any) -> Any:
    if get_origin(annotation) is Annotated:
        return _unwrap(get_args(annotation)[0])
    if get_origin(annotation) in (Union, types.UnionType):
        args = [a for a in get_args(annotation) if a is not type(None)]
        if len(args) == 1:
            return _unwrap(args[0])
    return annotation


def _type_name(annotation: Any) -> str:
    annotation = _unwrap(annotation)
    origin = get_origin(annotation)
    if origin is Literal:
        return " \\| ".join(f'"{a}"' for a in get_args(annotation))
    if origin in (list, tuple):
        return f"list of {_type_name(get_args(annotation)[0])}"
    if origin is dict:
        return f"table of {_type_name(get_args(annotation)[-1])}"
    if annotation is SecretStr:
        return "secret string"
    if isinstance(annotation, type):
        return {
            "str": "string",
            "int": "integer",
            "float": "number",
            "bool": "boolean",
            "Path": "path",
        }.get(annotation.__name__, annotation.__name__)
    return str(annotation)


def _model_of(annotation: Any) -> tuple[type[BaseModel] | None, str]:
    """The model a field holds, and how the key path continues to it."""
    annotation = _unwrap(annotation)
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation, ""
    origin = get_origin(annotation)
    if origin is dict:
        inner = _unwrap(get_args(annotation)[-1])
        if isinstance(inner, type) and issubclass(inner, BaseModel):
            return inner, ".NAME"
    if origin is list:
        inner = _unwrap(get_args(annotation)[0])
        if isinstance(inner, type) and issubclass(inner, BaseModel):
            return inner, "[]"
    return None, ""


def _bounds(field: FieldInfo) -> str:
    parts = []
    for m in field.metadata:
        for attr, sign in (("ge", ">="), ("gt", ">"), ("le", "<="), ("lt", "<")):
            value = getattr(m, attr, None)
            if value is not None:
                parts.append(f"{sign} {value}")
        if getattr(m, "min_length", None):
            parts.append(f"at least {m.min_length}")
    return ", ".join(parts)


def _default(field: FieldInfo) -> str:
    if field.is_required():
        return "**required**"
    if field.default_factory is not None:
        return ""
    value = field.default
    if value is None or value is PydanticUndefined:
        return ""
    if isinstance(value, bool):
        return f"`{str(value).lower()}`"
    if isinstance(value, str | Path):
        return f'`"{value}"`'
    return f"`{value}`"


def config_rows(model: type[BaseModel], prefix: str) -> Iterator[tuple[str, str, str, str, str]]:
    """(key, type, default, bounds, description) of every key under `model`, depth first."""
    from engine.config import PoolEndpoint

    for name, field in model.model_fields.items():
        if model is PoolEndpoint and name == "name":
            continue  # the pool's table key
        key = f"{prefix}{field.alias or name}"
        inner, step = _model_of(field.annotation)
        if inner is not None:
            yield from config_rows(inner, f"{key}{step}.")
            continue
        yield (
            key,
            _type_name(field.annotation),
            _default(field),
            _bounds(field),
            (field.description or DESCRIPTIONS.get(key, "")).replace("|", "\\|"),
        )


# What each key is, for the keys whose model gives no `description` (the models live in the
# layers that read them; this page says what they mean to the person writing the file).
DESCRIPTIONS = {
    "engine.originator": "the name drbot gives XAPI at login (seen in the pool's session list)",
    "engine.pools.NAME.urls": "https:// URL of the pool coordinator first, then of its members",
    "engine.pools.NAME.username": "the pool account drbot logs in as; pool-operator is enough",
    "engine.pools.NAME.password": "its password; better in DRBOT_ENGINE__POOLS__NAME__PASSWORD "
    "or a secret file",
    "engine.pools.NAME.site": "the site the pool is at (shown in messages)",
    "engine.pools.NAME.ca_file": "PEM file of the CA that signed the pool's certificate",
    "engine.pools.NAME.fingerprint": "sha256 of the pool's certificate, 64 hex digits (pinning)",
    "engine.pools.NAME.insecure": "do not verify TLS (a lab only; drbot warns)",
    "engine.pools.NAME.allow_plaintext": "allow http:// (a lab or the simulator; drbot warns)",
    "engine.pairs[].protected": "the pool whose VMs are protected",
    "engine.pairs[].dr": "the pool they are recovered into",
    "engine.pairs[].network_map": "source network name -> DR network name, where names differ",
    "engine.storage.adapter": "manual: a person breaks and reverses mirrors when a run asks; "
    "sim: the simulator's array",
    "engine.storage.control_url": "the simulator's control URL (adapter sim)",
    "engine.storage.luns[].lun": "the LUN's name on the array",
    "engine.storage.luns[].sr_uuid": "the SR on it at the protected site",
    "engine.storage.luns[].name": "a name for messages",
    "engine.storage.luns[].pool": "the protected pool the LUN belongs to",
    "engine.storage.luns[].source_site": "the site it is replicated from",
    "engine.storage.luns[].target_site": "the site it is replicated to",
    "engine.storage.luns[].state": "its replication state as the storage team last set it",
    "engine.storage.luns[].mirror_device_config": "device-config to attach the mirror at DR "
    "(DR_task.create)",
    "engine.storage.luns[].test_copy_device_config": "device-config of the snapshot a test "
    "failover attaches",
    "engine.storage.max_lag_seconds": "readiness is degraded above this replication lag",
    "engine.timeouts.connect_seconds": "to open a connection to a pool",
    "engine.timeouts.call_seconds": "for one XAPI call",
    "engine.timeouts.task_seconds": "for one XAPI task (a VM start, an SR attach)",
    "engine.timeouts.event_seconds": "for one wait on XAPI's event stream",
    "engine.concurrency.recover": "VMs or vApps recovered at once per pool",
    "engine.concurrency.start": "VMs started at once per pool",
    "engine.concurrency.shutdown": "VMs shut down at once per pool",
    "store_path": "the SQLite store (relative to the configuration file); 0600",
    "audit.key_file": "the audit chain's key (default <store>.audit-key); keep it apart",
    "audit.anchor_file": "where the chain's head is anchored (default <store>.anchors)",
    "audit.anchor_every": "anchor the head every this many entries",
    "policy.roles.viewer": "Slack user or user-group IDs who may read (status, plan, runs)",
    "policy.roles.operator": "... who may also ask for runs",
    "policy.roles.approver": "... who may also approve others' runs",
    "policy.roles.admin": "... who may do everything",
    "policy.channels": "channel IDs where failover and failback may be asked",
    "policy.quorum.test-failover": "approvals needed besides the requester's (0: starts at once)",
    "policy.quorum.failover": "approvals needed for a failover",
    "policy.quorum.failback": "approvals needed for a failback",
    "policy.quorum.resume": "approvals to resume a failover or failback from chat",
    "policy.quorum.abort": "approvals to abort one from chat",
    "policy.approval_minutes": "an approval nobody decides expires after this",
    "policy.group_cache_seconds": "how long user-group members are cached",
    "policy.storage_role": "who may click Done on a manual storage step",
    "policy.group_prefix": "the first letter of user-group IDs",
    "policy.drill.target": "what `/dr drill` recovers",
    "policy.drill.disable_ha": "turn HA off at the DR pool for the drill, and back on after",
    "reports.timezone": "IANA zone the cron times are read in (daylight saving included)",
    "reports.channel": "channel ID of summaries and drill reports (default slack.channels.reports)",
    "reports.alerts_channel": "channel ID of readiness alerts (default: reports.channel)",
    "reports.audit_channel": "channel ID of the audit digest (default slack.channels.audit)",
    "reports.rto_target_seconds": "a drill passes when every vApp runs within this",
    "reports.rpo_target_seconds": "replication lag above this is reported",
    "reports.metadata_stale_seconds": "replicated metadata older than this is reported",
    "reports.history_days": "readiness samples kept",
    "reports.trend_drills": "drills shown in the RTO trend chart",
    "reports.schedules.NAME.cron": "five fields, minute hour day-of-month month day-of-week",
    "reports.schedules.NAME.misfire_grace_seconds": "a run missed while drbot was down runs "
    "once if back within this",
    "reports.schedules.NAME.enabled": "false turns the job off",
    "reports.drill.scope": "all protected vApps, or a rotating sample",
    "reports.drill.sample_size": "vApps per drill when scope is sample",
    "reports.drill.pair": "the protected pool of the pair to drill (default: the first)",
    "reports.drill.disable_ha": "turn HA off at the DR pool for the drill",
    "reports.drill.power": "what the drill does with recovered VMs",
    "reports.drill.timeout_seconds": "a drill running longer is reported as failed",
    "slack.mode": "socket (no inbound traffic) or http (signed requests)",
    "slack.bot_token": "Bot User OAuth Token, xoxb-...",
    "slack.app_token": "app-level token with connections:write, xapp-... (Socket Mode)",
    "slack.signing_secret": "the app's signing secret (HTTP mode)",
    "slack.http.host": "where HTTP mode listens",
    "slack.http.port": "its port",
    "slack.http.path": "the request URL's path (commands, buttons and events)",
    "slack.storage_role": "who may click Done on a manual storage step in Slack",
    "slack.progress_interval_seconds": "a run's progress message is edited at most this often",
    "slack.audit_batch_seconds": "audit entries are posted to the audit channel this often",
    "slack.audit_batch_size": "at most this many entries per audit message",
    "observability.enabled": "serve /healthz, /readyz and /metrics",
    "observability.host": "where they listen (0.0.0.0 in a container or pod)",
    "observability.port": "their port (0: any free port)",
    "observability.pool_check_seconds": "how often /readyz looks at each pool",
    "observability.log_format": "json (one object a line) or text",
    "observability.log_level": "the lowest level logged",
}


def configuration_rows() -> list[tuple[str, str, str, str, str]]:
    from bot.settings import Settings

    return list(config_rows(Settings, ""))


def configuration_page() -> str:
    lines = [
        "# drbot configuration: every key",
        "",
        "One TOML file (`--config FILE`, else `DRBOT_CONFIG`, else `./drbot.toml`); a complete,",
        "tested example is `deploy/drbot.example.toml`. Any key can be set by an environment",
        "variable instead: `DRBOT_` and the key path in capitals with `__` between the parts",
        "(`DRBOT_ENGINE__TIMEOUTS__CALL_SECONDS=10`, `DRBOT_SLACK__BOT_TOKEN=xoxb-...`); a list",
        "or a table is given as JSON. A secret can also be a file named like that variable in",
        "the directory `DRBOT_SECRETS_DIR` names (see the README). The environment wins over",
        "secret files, which win over the file.",
        "",
        "`NAME` in a key is the name you choose for a pool (`[engine.pools.prod]`); `[]` marks",
        "a list of tables (`[[engine.pairs]]`). Every table refuses keys it does not know and",
        "names the nearest valid one. `drbot config check` validates a file and then tries",
        "every connection it names.",
        "",
        "| key | type | default | bounds | what it is |",
        "|---|---|---|---|---|",
    ]
    for key, kind, default, bounds, description in configuration_rows():
        lines.append(f"| `{key}` | {kind} | {default} | {bounds} | {description} |")
    return HEADER.format(page="configuration") + "\n".join(lines) + "\n"


# -- the commands ----------------------------------------------------------------------------


@docs_app.command("commands")
def commands_cmd(ctx: typer.Context) -> None:
    """Print docs/commands.md: every /dr command and every drbot command."""
    typer.echo(commands_page(ctx.find_root().command), nl=False)


@docs_app.command("configuration")
def configuration_cmd() -> None:
    """Print docs/configuration.md: every configuration key."""
    typer.echo(configuration_page(), nl=False)


def register(app: typer.Typer) -> None:
    """Mount `drbot docs ...` on the `drbot` application."""
    app.add_typer(docs_app, name="docs")
