"""`drbot config check`: is this configuration right, and can drbot reach everything it names?

It reads the file as `drbot serve` would (every key checked: bot/settings.py), then tries each
connection the bot will need on the worst night, before that night:

- each pool: XAPI login on its coordinator (following a moved coordinator), then the role of
  the session as xapi reports it (`session.get_record`: `is_local_superuser`, and
  `rbac_permissions`, which holds the names of the account's roles and of every permission
  they grant; xapi_session.ml `get_permissions`). A recovery needs the pool-operator role:
  `VDI.open_database` and `DR_task.create` are pool-operator calls (reference xapi-dr §2.5,
  §2.6), and `VM.recover` refuses a `session_to` without them;
- Slack: `auth.test` with the bot token; in Socket Mode `apps.connections.open` with the
  app-level token (the only call that token may make; the URL it returns is not used);
- each pair: where the protected pool's SRs replicate, as the storage adapter reports its LUNs
  and the pool its SRs (`SR.get_all_records`, read in the same login). A pair whose protected
  pool's LUNs all replicate to another site than the DR pool's is a configuration error naming
  the LUNs (the loader finds it for the LUNs a `manual` adapter lists; with the `sim` adapter,
  or LUNs naming no pool at a site of several pools, only this check and readiness can);
- every channel the bot posts or uploads to: `conversations.info`, and `is_member` (uploads
  need membership even where `chat:write.public` lets the bot post).

Each problem is printed with what to do. Exit codes: 0 all good, 1 something is wrong (listed),
2 the configuration cannot be read at all.

Mounted on `drbot` by `bot/cli.py` (`cli_config.register(app)`).
"""

from __future__ import annotations

import re
import ssl
import textwrap
from collections.abc import Iterable, Mapping
from typing import Any, Literal
from urllib.parse import urlsplit

import typer
from pydantic import BaseModel, ConfigDict
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from bot.ops.options import ConfigOpt, JsonOpt
from bot.ops.output import console, dump, fail
from bot.settings import Settings, config_path, load_settings
from bot.slack.app import make_client
from bot.slack.config import SlackConfig
from engine import messages as engine_messages
from engine.config import EngineConfig, PoolEndpoint, PoolPair
from engine.errors import ConfigError, XapiError
from engine.storage import ReplicatedLun, adapter_from_config
from engine.xapi import XapiClient

config_app = typer.Typer(help="Check the configuration and every connection it names.")

Status = Literal["ok", "warn", "fail"]

# What a recovery asks of the account on each pool, as lower-cased XAPI permission names, and
# why. All are held by pool-operator (reference xapi-dr: §2.5 VDI.open_database, §2.6
# VM.recover's check of session_to, DR_task.create/destroy); the VM calls by lesser roles.
DR_PERMISSIONS = {
    "vdi.open_database": "read the replicated pool metadata",
    "dr_task.create": "attach the replicated SRs",
    "dr_task.destroy": "detach them after a test failover",
    "sr.scan": "find the disks on an attached SR",
    "vm.start": "start the recovered VMs",
    "vm.clean_shutdown": "shut the primary's VMs down in a planned failover",
    "vm.destroy": "remove what a test failover created",
    "vm_appliance.destroy": "remove the vApps a test failover created",
}
DR_ROLES = ("pool-admin", "pool-operator")

MSG = {
    "config_ok": "Configuration {path} is valid.",
    "pool_ok": "logged in at {url} as {user} (role {role})",
    "pool_root": (
        "logged in at {url} as the local superuser {user}; a pool-operator account is enough "
        "and safer: create one (Active Directory subject with the pool-operator role) and "
        "set engine.pools.{pool}.username"
    ),
    "pool_auth": (
        "login refused for {user} at {url}: wrong username or password; fix "
        "engine.pools.{pool}.username and its password (DRBOT_ENGINE__POOLS__{POOL}__PASSWORD "
        "or a secret file)"
    ),
    "pool_tls": (
        "TLS to {host} failed: its certificate did not verify ({problem}). Pin it with "
        "engine.pools.{pool}.fingerprint (its SHA-256: {openssl}), or set "
        "engine.pools.{pool}.ca_file to the CA that signed it; insecure = true only in a lab"
    ),
    "pool_tls_ca": (
        "TLS to {host} failed: its certificate did not verify against ca_file {ca_file} "
        "({problem}). Set engine.pools.{pool}.ca_file to the CA that signed it, or pin the "
        "certificate with engine.pools.{pool}.fingerprint (its SHA-256: {openssl})"
    ),
    "pool_tls_pin": (
        "TLS to {host} failed: its certificate has fingerprint {got}, not the {want} pinned in "
        "engine.pools.{pool}.fingerprint. If that host was reinstalled or its certificate "
        "renewed, pin the new one ({openssl}); otherwise something between drbot and the pool "
        "answers in its place: find out before trusting it"
    ),
    "tls_unknown_problem": "no reason given",
    "pool_down": (
        "no coordinator answered at {urls} ({detail}); check that drbot's host reaches them "
        "on port 443 (firewall, routing) and that engine.pools.{pool}.urls lists the pool's "
        "hosts"
    ),
    "pool_error": "{detail}; check engine.pools.{pool}",
    "pool_role": (
        "{user} lacks what a recovery needs: {missing}; give the account the pool-operator "
        "role (xe subject-role-add uuid=<subject> role-name=pool-operator)"
    ),
    "slack_missing": "{what}",
    "slack_ok": "bot token works: {user} in {team}",
    "slack_auth": (
        "Slack refused the bot token ({error}); copy the Bot User OAuth Token (xoxb-...) from "
        "the app's OAuth & Permissions page into slack.bot_token (or DRBOT_SLACK__BOT_TOKEN)"
    ),
    "slack_down": "Slack cannot be reached ({error}); allow HTTPS to slack.com from this host",
    "app_ok": "app-level token may open Socket Mode connections",
    "app_bad": (
        "the app-level token cannot open a Socket Mode connection ({error}); create one with "
        "the connections:write scope under Basic Information, App-Level Tokens, and set "
        "slack.app_token (or DRBOT_SLACK__APP_TOKEN); Socket Mode must be on in the app"
    ),
    "channel_ok": "#{name}: the bot is a member",
    "channel_out": (
        "the bot is not a member of #{name} ({id}); in Slack, type /invite @{bot} in that channel"
    ),
    "channel_missing": (
        "channel {id} not found ({error}): the ID is wrong, or the channel is private and the "
        "bot was never invited; copy the ID from the channel's details and invite the bot"
    ),
    "channel_scope": (
        "cannot look at channel {id}: the app lacks the {scope} scope; add it from "
        "deploy/slack-app-manifest.yaml and reinstall the app"
    ),
    "storage_down": (
        "the storage adapter's LUNs cannot be read ({error}); check engine.storage "
        "(adapter, control_url, luns)"
    ),
    "pair_ok": "{luns} replicate to {dr}'s site {dr_site}",
    "pair_unread": "not checked: pool {pool} could not be read (see above)",
    "pair_no_luns": (
        "none of {protected}'s SRs is on a replicated LUN the storage adapter reports; "
        "replicate its SRs to {dr_site}, or list their LUNs under engine.storage.luns"
    ),
    "summary_ok": "Everything drbot needs answered.",
    "summary_bad": "{count} problem(s) to fix before drbot can be relied on.",
}


class Finding(BaseModel):
    """One thing checked: where, how it went, and what to do when it is not right."""

    model_config = ConfigDict(frozen=True)

    area: str
    status: Status
    message: str


def _pool_problem(name: str, endpoint: PoolEndpoint, exc: XapiError) -> str:
    fields = {
        "pool": name,
        "POOL": name.upper(),
        "user": endpoint.username,
        "url": exc.host or endpoint.urls[0],
        "urls": ", ".join(endpoint.urls),
        "detail": str(exc),
    }
    if exc.code == "SESSION_AUTHENTICATION_FAILED":
        return MSG["pool_auth"].format(**fields)
    if exc.code == "TLS_VERIFY_FAILED":
        return _tls_problem(name, endpoint, exc)
    if exc.code in {"CONNECTION_REFUSED", "CONNECTION_FAILED", "CONNECTION_LOST", "TIMEOUT"}:
        return MSG["pool_down"].format(**fields)
    return MSG["pool_error"].format(**fields)


# OpenSSL's words for a failed verification as Python's ssl module renders them, for when only
# the text of the error is left: "[SSL: CERTIFICATE_VERIFY_FAILED] certificate verify failed:
# self-signed certificate (_ssl.c:1006)".
_VERIFY_TEXT = re.compile(r"certificate verify failed: (?P<problem>.+?)(?: \(_ssl\.c:\d+\))?$")
_PINNED_TEXT = re.compile(r"has fingerprint (?P<got>[0-9a-f]{64}), not the configured")


def _tls_problem(name: str, endpoint: PoolEndpoint, exc: XapiError) -> str:
    """One sentence for a TLS failure: the host, what was wrong with its certificate (OpenSSL's
    verify result, or the pinned fingerprint it does not have) and what to set. The engine's
    error carries the failure as text inside its XAPI-style details (a list of strings); the
    underlying `ssl.SSLCertVerificationError` is on its cause chain when it was raised here."""
    url = exc.host or endpoint.urls[0]
    split = urlsplit(url)
    host = f"{split.hostname}:{split.port or 443}"
    fields = {
        "pool": name,
        "host": host,
        "ca_file": endpoint.ca_file,
        "openssl": (
            f"openssl s_client -connect {host} </dev/null | openssl x509 -noout -fingerprint "
            "-sha256"
        ),
    }
    texts = [*exc.args_, str(exc)]
    cause: BaseException | None = exc
    for _ in range(10):  # the chain is short; a bound guards against a cycle
        if cause is None:
            break
        if isinstance(cause, ssl.SSLCertVerificationError) and cause.verify_message:
            texts.insert(0, f"certificate verify failed: {cause.verify_message}")
        texts.insert(0, str(cause))
        cause = cause.__cause__
    for text in texts:
        pinned = _PINNED_TEXT.search(text)
        if pinned and endpoint.fingerprint_hex:
            return MSG["pool_tls_pin"].format(
                got=pinned["got"], want=endpoint.fingerprint_hex, **fields
            )
    problem = next(
        (
            m["problem"]
            for t in texts
            for line in t.splitlines()
            if (m := _VERIFY_TEXT.search(line))
        ),
        MSG["tls_unknown_problem"],
    )
    problem = problem.rstrip("'\")]")
    key = "pool_tls_ca" if endpoint.ca_file else "pool_tls"
    return MSG[key].format(problem=problem, **fields)


def _held(record: Mapping[str, Any]) -> set[str]:
    return {str(p).lower() for p in record.get("rbac_permissions") or []}


def missing_permissions(record: Mapping[str, Any]) -> list[str]:
    """What of `DR_PERMISSIONS` a session (its `session.get_record`) lacks: nothing for the
    local superuser or a session holding a DR role; names are compared as xapi does, without
    regard to case."""
    if record.get("is_local_superuser") is True:
        return []
    held = _held(record)
    if held & set(DR_ROLES):
        return []
    return [p for p in DR_PERMISSIONS if p not in held]


def check_pool(
    name: str, endpoint: PoolEndpoint, engine: EngineConfig, srs: dict[str, set[str]] | None = None
) -> Finding:
    """Log in to pool `name` and check the account's role; with `srs`, record there the uuids
    of the pool's SRs (read in the same login, for `check_pairs`)."""
    area = f"pool {name}"
    t = engine.timeouts
    try:
        client = XapiClient.connect(
            endpoint,
            originator=engine.originator,
            timeout=min(t.call_seconds, 30.0),
            connect_timeout=t.connect_seconds,
        )
    except XapiError as exc:
        return Finding(area=area, status="fail", message=_pool_problem(name, endpoint, exc))
    try:
        record = client.call("session.get_record", client.session)
        if srs is not None:
            srs[name] = {str(r.get("uuid")) for r in client.get_all_records("SR").values()}
    except XapiError as exc:
        return Finding(area=area, status="fail", message=_pool_problem(name, endpoint, exc))
    finally:
        client.close()
    fields = {"url": client.url, "user": endpoint.username, "pool": name}
    if record.get("is_local_superuser") is True:
        return Finding(area=area, status="warn", message=MSG["pool_root"].format(**fields))
    missing = missing_permissions(record)
    if missing:
        listed = ", ".join(f"{p} ({DR_PERMISSIONS[p]})" for p in missing)
        return Finding(
            area=area, status="fail", message=MSG["pool_role"].format(missing=listed, **fields)
        )
    held = _held(record)
    role = next((r for r in DR_ROLES if r in held), "custom")
    return Finding(area=area, status="ok", message=MSG["pool_ok"].format(role=role, **fields))


def posting_channels(settings: Settings) -> dict[str, str]:
    """Every channel the bot posts or uploads to: channel ID -> the key(s) that name it."""
    named: dict[str, list[str]] = {}
    slack = settings.slack
    if slack is not None:
        for key in ("requests", "audit", "reports"):
            value = getattr(slack.channels, key)
            if value:
                named.setdefault(value, []).append(f"slack.channels.{key}")
    for key in ("channel", "alerts_channel", "audit_channel"):
        value = getattr(settings.reports, key)
        if value:
            named.setdefault(value, []).append(f"reports.{key}")
    # Where failover may be asked: the plan and its approval are posted there.
    for value in settings.policy.channels:
        named.setdefault(value, []).append("policy.channels")
    return {cid: ", ".join(keys) for cid, keys in named.items()}


def _slack_error(exc: SlackApiError) -> str:
    return str(exc.response.get("error", "error"))


def check_slack(slack: SlackConfig, channels: dict[str, str]) -> list[Finding]:
    """The bot token, the app-level token (Socket Mode) and each channel's membership."""
    findings = [
        Finding(area="slack", status="fail", message=MSG["slack_missing"].format(what=w))
        for w in slack.ready()
    ]
    client = make_client(slack)
    try:
        auth = client.auth_test()
    except SlackApiError as exc:
        findings.append(
            Finding(
                area="slack",
                status="fail",
                message=MSG["slack_auth"].format(error=_slack_error(exc)),
            )
        )
        return findings
    except OSError as exc:
        findings.append(
            Finding(area="slack", status="fail", message=MSG["slack_down"].format(error=exc))
        )
        return findings
    bot = str(auth.get("user", "drbot"))
    findings.append(
        Finding(
            area="slack",
            status="ok",
            message=MSG["slack_ok"].format(user=bot, team=auth.get("team", "?")),
        )
    )
    if slack.mode == "socket" and slack.app_token is not None:
        findings.append(_check_app_token(slack))
    findings += _check_channels(client, channels, bot)
    return findings


def _check_app_token(slack: SlackConfig) -> Finding:
    assert slack.app_token is not None
    app_client = WebClient(timeout=15)
    if slack.api_url:
        app_client.base_url = slack.api_url
    try:
        app_client.apps_connections_open(app_token=slack.app_token.get_secret_value())
    except SlackApiError as exc:
        return Finding(
            area="slack", status="fail", message=MSG["app_bad"].format(error=_slack_error(exc))
        )
    return Finding(area="slack", status="ok", message=MSG["app_ok"])


def _check_channels(client: WebClient, channels: dict[str, str], bot: str) -> list[Finding]:
    found = []
    for cid, keys in channels.items():
        area = f"channel {keys}"
        try:
            info = client.conversations_info(channel=cid)["channel"]
        except SlackApiError as exc:
            error = _slack_error(exc)
            if error == "missing_scope":
                needed = str(exc.response.get("needed", "channels:read, groups:read"))
                message = MSG["channel_scope"].format(id=cid, scope=needed)
            else:
                message = MSG["channel_missing"].format(id=cid, error=error)
            found.append(Finding(area=area, status="fail", message=message))
            continue
        name = str(info.get("name", cid))
        if info.get("is_member"):
            found.append(
                Finding(area=area, status="ok", message=MSG["channel_ok"].format(name=name))
            )
        else:
            found.append(
                Finding(
                    area=area,
                    status="fail",
                    message=MSG["channel_out"].format(name=name, id=cid, bot=bot),
                )
            )
    return found


def check_pairs(engine: EngineConfig, srs: Mapping[str, set[str]]) -> list[Finding]:
    """For each pair, whether its protected pool's SRs (`srs`: pool -> SR uuids, as read from
    the pools) replicate to the DR pool's site, as the storage adapter reports its LUNs. The
    same rule as the loader's and readiness' (`R_LUNS_ELSEWHERE`): a pair none of whose LUNs
    goes to the DR pool's site, while some go elsewhere, cannot recover anything."""
    if not engine.pairs:
        return []
    try:
        luns: list[ReplicatedLun] = list(adapter_from_config(engine.storage).state())
    except Exception as exc:  # a StorageError, or whatever the adapter's transport raised
        return [
            Finding(area="storage", status="fail", message=MSG["storage_down"].format(error=exc))
        ]
    return [_check_pair(pair, engine, luns, srs) for pair in engine.pairs]


def _check_pair(
    pair: PoolPair, engine: EngineConfig, luns: list[ReplicatedLun], srs: Mapping[str, set[str]]
) -> Finding:
    area = f"pair {pair.protected} -> {pair.dr}"
    own_srs = srs.get(pair.protected)
    if own_srs is None:
        return Finding(
            area=area, status="warn", message=MSG["pair_unread"].format(pool=pair.protected)
        )
    dr_site = engine.pools[pair.dr].site
    own = [lun for lun in luns if lun.sr_uuid in own_srs]
    there = [lun for lun in own if not dr_site or lun.target_site in ("", dr_site)]
    elsewhere = [lun for lun in own if lun not in there]
    if there:
        return Finding(
            area=area,
            status="ok",
            message=MSG["pair_ok"].format(
                luns=", ".join(lun.lun for lun in there), dr=pair.dr, dr_site=dr_site or "?"
            ),
        )
    if elsewhere:
        message = engine_messages.CONFIG_PAIR_LUNS_ELSEWHERE.format(
            protected=pair.protected,
            dr=pair.dr,
            luns=", ".join(lun.lun for lun in elsewhere),
            sites=" and ".join(sorted({repr(lun.target_site) for lun in elsewhere})),
            dr_site=dr_site,
        )
        return Finding(area=area, status="fail", message=message)
    # Not provably wrong (a manual adapter may list its LUNs later), but nothing to recover.
    return Finding(
        area=area,
        status="warn",
        message=MSG["pair_no_luns"].format(protected=pair.protected, dr_site=dr_site or "?"),
    )


def run_checks(settings: Settings) -> list[Finding]:
    """Every check of the module docstring, in order: pools, pairs, then Slack."""
    srs: dict[str, set[str]] = {}
    findings = [
        check_pool(name, endpoint, settings.engine, srs)
        for name, endpoint in settings.engine.pools.items()
    ]
    findings += check_pairs(settings.engine, srs)
    if settings.slack is not None:
        findings += check_slack(settings.slack, posting_channels(settings))
    return findings


_MARK = {"ok": "[green]ok[/green]  ", "warn": "[yellow]warn[/yellow]", "fail": "[red]FAIL[/red]"}
_MARK_WIDTH = 4


def _print(findings: Iterable[Finding]) -> None:
    """One finding a paragraph, its text wrapped under itself (a hanging indent past the mark),
    so the marks stay a column a person can run an eye down. Words are never broken: a URL or
    a fingerprint stays whole, to be copied."""
    from rich.text import Text

    indent = " " * (_MARK_WIDTH + 1)
    width = max(console.width - len(indent), 40)
    for f in findings:
        lines = textwrap.wrap(
            f"{f.area}: {f.message}", width, break_long_words=False, break_on_hyphens=False
        )
        mark = Text.from_markup(_MARK[f.status])
        console.print(Text.assemble(mark, " ", lines[0]), no_wrap=True, overflow="ignore")
        for line in lines[1:]:
            console.print(Text(indent + line), no_wrap=True, overflow="ignore")


@config_app.command("check")
def check(config: ConfigOpt = None, json: JsonOpt = False) -> None:
    """Validate the configuration, then try every pool, Slack and each channel it names."""
    try:
        settings = load_settings(config)
    except ConfigError as exc:
        raise fail(str(exc)) from None
    findings = [
        Finding(
            area="config",
            status="ok",
            message=MSG["config_ok"].format(path=config_path(config)),
        ),
        *run_checks(settings),
    ]
    bad = [f for f in findings if f.status == "fail"]
    if json:
        dump({"ok": not bad, "findings": [f.model_dump() for f in findings]})
    else:
        _print(findings)
        console.print(
            MSG["summary_bad"].format(count=len(bad)) if bad else MSG["summary_ok"], markup=False
        )
    if bad:
        raise typer.Exit(1)


def register(app: typer.Typer) -> None:
    """Mount `drbot config ...` on the `drbot` application."""
    app.add_typer(config_app, name="config")
