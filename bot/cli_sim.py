"""`drbot sim ...`: start the simulators and steer them (the only product code that imports sim/).

- `drbot sim serve [--scenario NAME|FILE] [--endpoints FILE] [--state-dir DIR] [--speed X]
  [--tls]`: run every site and pool of a scenario on loopback until Ctrl-C.
- `drbot sim generate --vms N [--sites S --pools-per-site P --dr-sites D] -o FILE`: write a
  large scenario (N VMs in each of S x P protected pools, into D DR sites).
- `drbot sim ctl ...`: a thin client of the running simulator's control API (state,
  replication, fail / restore, promote, reverse, sync, test copies, faults, call log).
"""

from __future__ import annotations

import json
import os
import signal
import ssl
import threading
import urllib.error
import urllib.request
import xmlrpc.client
from pathlib import Path
from typing import Annotated, Any, NoReturn

import typer
from rich import box
from rich.console import Console
from rich.table import Table

app = typer.Typer(no_args_is_help=True)
ctl = typer.Typer(no_args_is_help=True, help="Steer a running simulator (its control API).")
app.add_typer(ctl, name="ctl")
console = Console()

DEFAULT_ENDPOINTS = os.environ.get("DRBOT_SIM_ENDPOINTS", "sim-endpoints.json")
WRITE_FAILED = "Cannot write {path} ({error}); choose another path. The simulators stopped."
ACCOUNTS = "Accounts on {pools} (role: user; passwords in {endpoints}): {users}"
XAPI_CONTROL = "sim/xapi control API (drbot sim ctl): {url}"
SLACK_API = "Slack Web API: {url}"
SLACK_CONTROL = "Slack control API (act as people, see sim/slack/README.md): {url}"
ENDPOINTS_NEEDED = (
    "{path} is not there; start the simulators with `drbot sim serve` in this directory, or "
    "pass --endpoints FILE (before the command)."
)
NO_REPLICATED_SR = (
    "Pool {pool!r} has no replicated SR attached yet (a DR pool attaches the mirrors during a "
    "failover); nothing changed."
)
UNKNOWN_POOL = "No pool {pool!r} in the endpoints file; its pools: {known}."
XAPI_FAILED = "Pool {pool!r} refused: {error}"
METADATA_ENABLED = (
    "Pool {pool!r} now stores its metadata on: {srs} (what XenCenter's Disaster Recovery > "
    "Configure does); a failback from it can read its VMs there."
)
REPLICATION_LINE = (
    "{lun} ({sr}), {source} -> {target}: {state}, lag {lag} s, {pending} write(s) in flight{copy}"
)
TEST_COPY = ", test copy presented"
WIDE = 120  # columns from which `sim ctl replication` is a table
CONFIG_WRITTEN = "drbot configuration written to {path}"
NEXT_STEPS = (
    "Next, in another terminal:\n"
    "  drbot config check --config {config}\n"
    "  drbot serve --config {config}    # the bot, in the Slack double\n"
    "  drbot status --config {config}\n"
    "Ctrl-C here stops the simulators."
)


@app.command()
def serve(
    scenario: Annotated[str, typer.Option(help="built-in scenario name or TOML file")] = "demo",
    endpoints: Annotated[Path, typer.Option(help="where to write the endpoints file")] = Path(
        DEFAULT_ENDPOINTS
    ),
    state_dir: Annotated[
        Path | None, typer.Option(help="save the world here and resume it on restart")
    ] = None,
    speed: Annotated[float, typer.Option(help="speed factor: 1 = real time")] = 1.0,
    tls: Annotated[bool, typer.Option(help="serve HTTPS with a self-signed certificate")] = False,
    slack: Annotated[
        bool, typer.Option(help="also run the Slack workspace double (sim/slack)")
    ] = True,
    slack_seed: Annotated[
        Path | None, typer.Option(help="Slack workspace seed (TOML or JSON); default: drbot's")
    ] = None,
    config: Annotated[
        Path | None,
        typer.Option(help="also write a drbot configuration for these simulators here (0600)"),
    ] = None,
    force: Annotated[
        bool, typer.Option("--force", help="let --config replace an existing file")
    ] = False,
    from_db: Annotated[
        Path | None, typer.Option(help="serve a twin of this pool database dump instead")
    ] = None,
    dr_db: Annotated[Path | None, typer.Option(help="--from-db: dump of the DR pool")] = None,
    dr_capacity: Annotated[
        float | None, typer.Option(help="--from-db: generated DR pool's capacity factor")
    ] = None,
) -> None:
    """Run the XenServer sites of a scenario (and a Slack workspace) on loopback until Ctrl-C."""
    from bot.simconfig import EXISTS, write_config, write_endpoints
    from sim.slack.server import SlackSim
    from sim.slack.workspace import SeedError
    from sim.xapi import messages
    from sim.xapi.persist import saved
    from sim.xapi.scenario import ScenarioError
    from sim.xapi.serve import start_sim

    if config is not None and config.exists() and not force:
        # Before anything starts: the file may be a person's own configuration.
        console.print(EXISTS.format(path=config), style="red", markup=False, soft_wrap=True)
        raise typer.Exit(2)
    # From the start, so that a Ctrl-C while the sites come up still stops them cleanly.
    done = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: done.set())
    resuming = state_dir is not None and saved(state_dir)
    chosen: Any = scenario
    if from_db is not None:
        from bot.cli_rehearse import twin_scenario

        chosen = twin_scenario(from_db, dr_db, dr_capacity).scenario
    try:
        # The endpoints file is written below, once, when every simulator is up.
        handle = start_sim(chosen, speed=speed, state_dir=state_dir, tls=tls)
    except ScenarioError as e:
        console.print(f"[red]{e}[/red]")
        raise typer.Exit(2) from None
    except (ValueError, KeyError, TypeError) as e:
        # A saved world that no longer loads (truncated, hand-edited, older format).
        text = messages.STATE_UNREADABLE.format(path=state_dir, error=e) if resuming else str(e)
        console.print(f"[red]{text}[/red]")
        raise typer.Exit(2) from None
    if resuming:
        console.print(
            messages.STATE_RESUMED.format(path=state_dir, scenario=handle.world.scenario.name)
        )
    slack_sim = None
    if slack:
        try:
            slack_sim = SlackSim.start(seed=slack_seed)
        except (SeedError, OSError, ValueError) as e:
            handle.stop()
            console.print(f"[red]{e}[/red]")
            raise typer.Exit(2) from None
        handle.endpoints["slack"] = slack_sim.endpoints()
    try:
        # Once, whole and owner-only (it holds passwords and tokens): a client that reads the
        # file as soon as it exists sees every simulator.
        write_endpoints(handle.endpoints, endpoints)
        if config is not None:
            write_config(handle.endpoints, config, Path("drbot.db"), force=force)
    except OSError as e:
        if slack_sim is not None:
            slack_sim.stop()
        handle.stop()
        console.print(
            WRITE_FAILED.format(path=e.filename or endpoints, error=e.strerror or e),
            style="red",
            markup=False,
            soft_wrap=True,
        )
        raise typer.Exit(2) from None
    console.print(messages.SERVING.format(scenario=handle.world.scenario.name, speed=speed))
    _print_served(handle, endpoints, config, slack_sim is not None)
    done.wait()
    console.print(messages.STOPPING)
    if slack_sim is not None:
        slack_sim.stop()
    handle.stop()
    if state_dir is not None:
        console.print(messages.STATE_SAVED.format(path=state_dir))


def _print_served(handle: Any, endpoints: Path, config: Path | None, slack: bool) -> None:
    """What is served, readable at 80 columns: one line per pool (the coordinator; every
    member's address is in the endpoints file), the accounts once when every pool has the same,
    the control APIs, then the files and what to run next."""
    from sim.xapi import messages

    pools = handle.endpoints["pools"]
    table = Table("site", "pool", "hosts", "replicates to", "coordinator", box=box.SIMPLE_HEAD)
    table.columns[4].overflow = "fold"
    for name, pool in pools.items():
        table.add_row(
            pool["site"],
            name,
            str(1 + len(pool["members"])),
            ", ".join(pool.get("replicates_to") or []),
            pool["coordinator"],
        )
    console.print(table)
    accounts: dict[str, list[str]] = {}
    for name, pool in pools.items():
        users = ", ".join(f"{role}: {pair[0]}" for role, pair in pool["users"].items())
        accounts.setdefault(users, []).append(name)
    for users, names in accounts.items():
        where = "every pool" if len(accounts) == 1 else ", ".join(names)
        console.print(ACCOUNTS.format(pools=where, endpoints=endpoints, users=users), markup=False)
    console.print(XAPI_CONTROL.format(url=handle.control_url), markup=False)
    if slack:
        slack_endpoints = handle.endpoints["slack"]
        console.print(SLACK_API.format(url=slack_endpoints["api_url"]), markup=False)
        console.print(SLACK_CONTROL.format(url=slack_endpoints["control"]), markup=False)
    console.print(messages.ENDPOINTS_WRITTEN.format(path=endpoints), markup=False)
    if config is not None:
        console.print(CONFIG_WRITTEN.format(path=config), markup=False)
        # Whole lines, never folded: a person copies these commands.
        console.print(NEXT_STEPS.format(config=config), markup=False, soft_wrap=True)


@app.command()
def generate(
    vms: Annotated[int, typer.Option(help="number of VMs in each protected pool")],
    output: Annotated[Path, typer.Option("-o", "--output", help="TOML file to write")],
    lag: Annotated[float, typer.Option(help="replication lag in seconds")] = 300.0,
    sites: Annotated[int, typer.Option(help="protected sites", min=1)] = 1,
    pools_per_site: Annotated[int, typer.Option(help="protected pools per site", min=1)] = 1,
    dr_sites: Annotated[
        int, typer.Option(help="DR sites (one pool each; protected pools take them in turn)", min=1)
    ] = 1,
) -> None:
    """Write a large scenario (see sim/xapi/generator.py)."""
    from sim.xapi.generator import generate as make

    try:
        text = make(
            vms,
            lag_seconds=lag,
            sites=sites,
            pools_per_site=pools_per_site,
            dr_sites=dr_sites,
        )
    except ValueError as e:
        console.print(f"[red]{e}[/red]")
        raise typer.Exit(2) from None
    output.write_text(text, encoding="utf-8")
    pools = sites * pools_per_site
    console.print(
        f"wrote {output} ({vms} VMs)"
        if pools == 1 and dr_sites == 1
        else f"wrote {output} ({pools} pools of {vms} VMs into {dr_sites} DR site(s))"
    )


# --------------------------------------------------------------------------- ctl


class _Ctl:
    """HTTP+JSON calls to the control API named by --control or the endpoints file."""

    def __init__(self, control: str | None, endpoints: Path) -> None:
        from sim.xapi import messages

        self.messages = messages
        if control:
            self.url = control.rstrip("/")
            return
        if not endpoints.is_file():
            console.print(f"[red]{messages.CTL_NO_ENDPOINTS.format(path=endpoints)}[/red]")
            raise typer.Exit(2)
        self.url = json.loads(endpoints.read_text(encoding="utf-8"))["control"].rstrip("/")

    def __call__(self, verb: str, path: str, body: dict[str, Any] | None = None) -> Any:
        data = json.dumps(body).encode() if body is not None else None
        if not self.url.startswith(("http://", "https://")):
            console.print(f"[red]the control URL must be http(s): {self.url}[/red]")
            raise typer.Exit(2)
        req = urllib.request.Request(  # noqa: S310 - http(s) only, checked above
            self.url + path, data=data, method=verb, headers={"Content-Type": "application/json"}
        )
        try:
            with urllib.request.urlopen(req, timeout=30) as resp:  # noqa: S310
                return json.load(resp)
        except urllib.error.HTTPError as e:
            try:
                error = json.load(e).get("error", str(e))
            except ValueError:
                error = str(e)
            console.print(f"[red]{self.messages.CTL_FAILED.format(error=error)}[/red]")
            raise typer.Exit(1) from None
        except OSError as e:
            console.print(
                f"[red]{self.messages.CTL_UNREACHABLE.format(url=self.url, error=e)}[/red]"
            )
            raise typer.Exit(2) from None


_state: dict[str, Any] = {}


@ctl.callback()
def _ctl_options(
    control: Annotated[str | None, typer.Option(help="control API URL")] = None,
    endpoints: Annotated[Path, typer.Option(help="endpoints file")] = Path(DEFAULT_ENDPOINTS),
) -> None:
    _state["ctl"] = _Ctl(control, endpoints)
    _state["endpoints"] = endpoints


def _call(verb: str, path: str, body: dict[str, Any] | None = None) -> Any:
    return _state["ctl"](verb, path, body)


@ctl.command()
def state() -> None:
    """Sites, hosts (up or down) and VMs with their power state."""
    data = _call("GET", "/state")
    for site_name, site in data["sites"].items():
        for pool_name, pool in site["pools"].items():
            up = "[green]up[/green]" if site["up"] else "[red]DOWN[/red]"
            console.rule(f"site {site_name} ({up}) - pool {pool_name}, HA {pool['ha_enabled']}")
            hosts = Table("host", "address", "up", "free GiB")
            for h in pool["hosts"]:
                hosts.add_row(
                    h["name"] + (" *" if h["coordinator"] else ""),
                    h["address"],
                    "yes" if h["up"] else "[red]no[/red]",
                    f"{h['memory_free'] / 2**30:.0f}",
                )
            console.print(hosts)
            vms = Table("VM", "power", "host", "vApp")
            for v in pool["vms"]:
                vms.add_row(v["name"], v["power_state"], v["host"] or "", v["appliance"] or "")
            console.print(vms)


@ctl.command()
def replication() -> None:
    """Replicated LUNs: state, lag, and what is still in flight."""
    rows = _call("GET", "/replication")
    if console.width < WIDE:
        # Seven columns do not fit 80: one line per LUN, its name whole (it is typed back into
        # `drbot sim ctl promote`), the rest in words.
        for r in rows:
            console.print(
                REPLICATION_LINE.format(
                    lun=r["lun"],
                    sr=r["name"],
                    source=r["source_site"],
                    target=r["target_site"],
                    state=r["state"],
                    lag=f"{r['lag_seconds']:g}",
                    pending=r["pending_writes"],
                    copy=TEST_COPY if r["test_copy_device_config"] else "",
                ),
                markup=False,
            )
        return
    table = Table("LUN", "SR", "from -> to", "state", "lag s", "pending", "test copy")
    for r in rows:
        table.add_row(
            r["lun"],
            r["name"],
            f"{r['source_site']} -> {r['target_site']}",
            r["state"],
            f"{r['lag_seconds']:g}",
            str(r["pending_writes"]),
            "yes" if r["test_copy_device_config"] else "",
        )
    console.print(table)


def _luns(lun: str | None) -> list[str]:
    if lun:
        return [lun]
    return [r["lun"] for r in _call("GET", "/replication")]


@ctl.command()
def fail(
    kind: Annotated[str, typer.Argument(help="site or host")],
    name: Annotated[str, typer.Argument(help="site name or host address")],
) -> None:
    """Fail a whole site or one host (its connections are refused)."""
    _site_or_host(kind, name, "fail")


@ctl.command()
def restore(
    kind: Annotated[str, typer.Argument(help="site or host")],
    name: Annotated[str, typer.Argument(help="site name or host address")],
) -> None:
    """Bring a site or host back."""
    _site_or_host(kind, name, "restore")


def _site_or_host(kind: str, name: str, action: str) -> None:
    if kind not in {"site", "host"}:
        console.print("[red]say `site NAME` or `host ADDRESS`[/red]")
        raise typer.Exit(2)
    console.print(_call("POST", f"/{kind}s/{name}/{action}"))


@ctl.command()
def promote(lun: Annotated[str | None, typer.Argument(help="LUN id (all if omitted)")] = None):
    """Break the mirror of a LUN (writes still in flight are lost)."""
    for one in _luns(lun):
        console.print(f"{one}: {_call('POST', f'/replication/{one}/promote')['state']}")


@ctl.command()
def reverse(lun: Annotated[str | None, typer.Argument(help="LUN id (all if omitted)")] = None):
    """Replicate a promoted LUN the other way (failback)."""
    for one in _luns(lun):
        console.print(f"{one}: {_call('POST', f'/replication/{one}/reverse')['state']}")


@ctl.command()
def sync(lun: Annotated[str | None, typer.Argument(help="LUN id (all if omitted)")] = None):
    """Push every write still in flight to the mirror now."""
    for one in _luns(lun):
        console.print(f"{one}: shipped {_call('POST', f'/replication/{one}/sync')['shipped']}")


@ctl.command("enable-metadata")
def enable_metadata(
    pool: Annotated[str, typer.Argument(help="pool name (as in the endpoints file)")],
) -> None:
    """Store POOL's metadata on its replicated SRs (xe sr-enable-database-replication)."""
    endpoints = _state["endpoints"]
    if not endpoints.is_file():
        _refuse(ENDPOINTS_NEEDED.format(path=endpoints))
    data = json.loads(endpoints.read_text(encoding="utf-8"))
    pools = data.get("pools") or {}
    if pool not in pools:
        _refuse(UNKNOWN_POOL.format(pool=pool, known=", ".join(pools) or "none"))
    replicated = {r["name"] for r in _call("GET", "/replication")}
    try:
        enabled = _enable_database_replication(pools[pool], replicated, data.get("tls_certificate"))
    except (OSError, xmlrpc.client.Error, XapiRefused) as e:
        _refuse(XAPI_FAILED.format(pool=pool, error=e), code=1)
    if not enabled:
        _refuse(NO_REPLICATED_SR.format(pool=pool), code=1)
    console.print(METADATA_ENABLED.format(pool=pool, srs=", ".join(enabled)), markup=False)


class XapiRefused(Exception):
    """A XAPI call answered with a failure (its ErrorDescription)."""


def _enable_database_replication(
    pool: dict[str, Any], replicated: set[str], pem: str | None
) -> list[str]:
    """What `xe sr-enable-database-replication` does for each replicated SR of `pool`, over
    XAPI's XML-RPC (the wire format: docs/contracts/sim-xapi.md) as its pool-admin: the
    simulator has no XenCenter and no `xe`. Returns the SRs' names."""
    context = None
    if pool["coordinator"].startswith("https://") and pem:
        context = ssl.create_default_context(cadata=pem)
        context.check_hostname = False  # a loopback address; the certificate itself is pinned
    proxy = xmlrpc.client.ServerProxy(pool["coordinator"], context=context, allow_none=True)

    def call(method: str, *args: Any) -> Any:
        answer = getattr(proxy, method)(*args)
        if answer.get("Status") != "Success":
            raise XapiRefused(" ".join(str(d) for d in answer.get("ErrorDescription", [])))
        return answer["Value"]

    user, password = pool["users"]["pool-admin"]
    session = call("session.login_with_password", user, password, "1.0", "drbot-sim-ctl")
    try:
        names = []
        for ref, sr in call("SR.get_all_records", session).items():
            if sr.get("name_label") in replicated and sr.get("shared"):
                call("SR.enable_database_replication", session, ref)
                names.append(sr["name_label"])
        return sorted(names)
    finally:
        call("session.logout", session)
        proxy("close")()


def _refuse(message: str, code: int = 2) -> NoReturn:
    console.print(message, style="red", markup=False, soft_wrap=True)
    raise typer.Exit(code)


@ctl.command("test-copy")
def copy_of_mirror(
    action: Annotated[str, typer.Argument(help="present or remove")],
    lun: Annotated[str, typer.Argument(help="LUN id")],
    force: Annotated[bool, typer.Option(help="remove even while attached")] = False,
) -> None:
    """Present or remove a writable test copy of a LUN's mirror."""
    if action == "present":
        row = _call("POST", f"/replication/{lun}/test-copy")
        console.print(row["test_copy_device_config"])
    elif action == "remove":
        _call("DELETE", f"/replication/{lun}/test-copy" + ("?force=true" if force else ""))
        console.print(f"{lun}: test copy removed")
    else:
        console.print("[red]say `present` or `remove`[/red]")
        raise typer.Exit(2)


@ctl.command()
def fault(
    kind: Annotated[str, typer.Argument(help="vm-start, lun, stall or expire-sessions")],
    target: Annotated[str | None, typer.Argument(help="VM name/uuid, LUN id or method")] = None,
    error: Annotated[
        list[str] | None, typer.Option(help="XAPI error code then args (vm-start)")
    ] = None,
    times: Annotated[int | None, typer.Option(help="vm-start: fail only this often")] = None,
    side: Annotated[str, typer.Option(help="lun: mirror, source or test-copy")] = "mirror",
    pool: Annotated[str | None, typer.Option(help="expire-sessions: only this pool")] = None,
) -> None:
    """Inject a fault."""
    body: dict[str, Any]
    if kind == "vm-start":
        body = {"kind": "vm_start", "vm": target, "error": error or None, "times": times}
    elif kind == "lun":
        body = {"kind": "lun", "lun": target, "side": side}
    elif kind == "stall":
        body = {"kind": "task_stall", "method": target}
    elif kind == "expire-sessions":
        body = {"kind": "expire_sessions", "pool": pool}
    else:
        console.print("[red]fault kinds: vm-start, lun, stall, expire-sessions[/red]")
        raise typer.Exit(2)
    console.print(_call("POST", "/faults", body))


@ctl.command()
def faults(clear: Annotated[bool, typer.Option(help="drop every fault")] = False) -> None:
    """Show (or clear) the injected faults."""
    console.print(_call("DELETE", "/faults") if clear else _call("GET", "/faults"))


@ctl.command()
def calls(
    since: Annotated[int, typer.Option(help="only calls after this seq")] = 0,
    method: Annotated[str | None, typer.Option(help="only methods starting with this")] = None,
) -> None:
    """The call log: every XAPI call the simulator answered."""
    table = Table("seq", "time", "host", "user", "method", "outcome")
    for c in _call("GET", f"/calls?since={since}"):
        if method and not c["method"].startswith(method):
            continue
        table.add_row(
            str(c["seq"]), c["time"], c["host"], c["user"] or "", c["method"], c["outcome"]
        )
    console.print(table)
