"""`drbot demo`: the whole product on one machine, with nothing to configure.

It starts both simulators on loopback (two XenServer sites from the built-in `demo` scenario,
and a Slack workspace), writes an endpoints file and a drbot configuration that point at
them, then walks through what an on-call engineer would do: read the DR readiness, dry-run a
test failover, run it (recover everything at the DR site, start it paused, measure the RTO,
clean up and verify that nothing is left), and read the readiness again, now with a drill on
record. Every step goes through the same operator commands as `drbot status`, `drbot plan`
and `drbot run`, over the real XAPI protocol.

With `--keep-running` the simulators stay up afterwards so that a person can try the other
commands against them (the demo prints how) until Ctrl-C.
"""

from __future__ import annotations

import json
import shutil
import signal
import threading
import urllib.request
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.rule import Rule

from bot import cli_ops
from bot.simconfig import write_config, write_endpoints

console = Console()

MSG = {
    "starting": "Starting two XenServer sites ('{scenario}', speed x{speed:g}) and a Slack "
    "workspace on loopback...",
    "sites": "  site {site}: coordinator {url}, {members} other host(s)",
    "slack": "  Slack Web API: {url} (channels: {channels})",
    "files": "Endpoints: {endpoints}\nConfiguration: {config}",
    "step_status": "1. Is the DR site ready?  drbot status",
    "step_plan": "2. Dry run  drbot plan test-failover all",
    "step_run": "3. Drill  drbot run test-failover all --disable-ha",
    "step_after": "4. Ready again, drill on record  drbot status",
    "story": "The demo estate has the traps a real one has: a VM on local storage and one on a "
    "non-replicated SR (left out, with the reason), a network the DR pool lacks (an isolated "
    "network is created), a VM created inside the replication lag (missing from the "
    "replicated metadata), and HA on at the DR pool (turned off for the test, back on after).",
    "outcome": "Test failover run {run_id}: {state}; {done} of {vms} VMs recovered and started "
    "paused, RTO {rto}; cleanup left nothing behind: {clean}.",
    "try": "The simulators keep running. In another terminal:\n"
    "  drbot status --config {config}\n"
    "  drbot plan failover payments --config {config}\n"
    "  drbot runs --config {config}\n"
    "  drbot sim ctl --endpoints {endpoints} state\n"
    "Ctrl-C stops them.",
    "not_started": "  {name}: {status}: {error}",
    "stopped": "Simulators stopped.",
    "failed": "The demo's test failover did not finish ({state}); see `drbot runs show {run_id} "
    "--config {config}`.",
}


def _invoke(command: Any, *args: Any, **kwargs: Any) -> int:
    """Run an operator command as the CLI would, returning its exit code."""
    try:
        command(*args, **kwargs)
    except typer.Exit as exc:
        return exc.exit_code
    return 0


def demo(
    state_dir: Annotated[
        Path, typer.Option(help="Where the demo keeps its files (wiped at the start).")
    ] = Path("var/demo"),
    speed: Annotated[
        float, typer.Option(help="How much faster than real time the simulated hosts run.")
    ] = 20.0,
    keep_running: Annotated[
        bool, typer.Option(help="Keep the simulators up afterwards, until Ctrl-C.")
    ] = False,
) -> None:
    """Run both simulators on loopback and walk through a DR readiness check and drill."""
    from sim.slack.server import SlackSim
    from sim.xapi.serve import start_sim

    if state_dir.exists():
        shutil.rmtree(state_dir)
    state_dir.mkdir(parents=True)
    endpoints_path = state_dir / "endpoints.json"
    config_path = state_dir / "drbot.toml"

    console.print(MSG["starting"].format(scenario="demo", speed=speed))
    xapi = start_sim("demo", speed=speed)
    slack = SlackSim.start()
    try:
        endpoints = {**xapi.endpoints, "slack": slack.endpoints()}
        write_endpoints(endpoints, endpoints_path)
        write_config(endpoints, config_path, Path("drbot.db"))
        for site, info in endpoints["sites"].items():
            console.print(
                MSG["sites"].format(
                    site=site, url=info["coordinator"], members=len(info["members"])
                )
            )
        console.print(
            MSG["slack"].format(
                url=endpoints["slack"]["api_url"],
                channels=", ".join(f"#{c}" for c in endpoints["slack"]["channels"]),
            )
        )
        console.print(MSG["files"].format(endpoints=endpoints_path, config=config_path))
        console.print(MSG["story"])
        config = str(config_path)

        console.print(Rule(MSG["step_status"]))
        _invoke(cli_ops.status, config=config)
        console.print(Rule(MSG["step_plan"]))
        _invoke(cli_ops.plan_cmd, "test-failover", "all", disable_ha=True, config=config)
        console.print(Rule(MSG["step_run"]))
        before = _dr_vms(xapi.control_url)
        _invoke(cli_ops.run_cmd, "test-failover", "all", disable_ha=True, config=config)
        clean = _dr_vms(xapi.control_url) == before
        console.print(Rule(MSG["step_after"]))
        _invoke(cli_ops.status, config=config)
        ok = _report(config_path, clean=clean)

        if keep_running:
            console.print(MSG["try"].format(config=config_path, endpoints=endpoints_path))
            done = threading.Event()
            for sig in (signal.SIGINT, signal.SIGTERM):
                signal.signal(sig, lambda *_: done.set())
            done.wait()
    finally:
        slack.stop()
        xapi.stop()
        console.print(MSG["stopped"])
    if not ok:
        raise typer.Exit(1)


def _dr_vms(control_url: str) -> set[str]:
    """The VM uuids of the DR site's pools, read from the simulator's control API.

    The engine verifies its own cleanup; this is the demo's independent look at the world.
    """
    # The control URL is the http:// one the simulator just printed.
    with urllib.request.urlopen(f"{control_url}/state", timeout=30) as resp:  # noqa: S310
        state = json.load(resp)
    return {
        vm["uuid"]
        for site, info in state["sites"].items()
        if site != "primary"
        for pool in info["pools"].values()
        for vm in pool["vms"]
    }


def _report(config_path: Path, *, clean: bool) -> bool:
    """Say in one line how the drill went, from the store; False if it did not finish."""
    from bot.settings import load_settings
    from store import open_store

    settings = load_settings(config_path)
    with open_store(settings.store_path) as store:
        run = store.runs.list(limit=1)[0]
        vms = run.outcome.vms
        started = [v for v in vms.values() if v.status.succeeded("start")]
        drills = store.drills.recent(run.pool, limit=1)
    finished = run.state in ("succeeded", "partially-succeeded") and clean
    if not finished:
        console.print(MSG["failed"].format(state=run.state, run_id=run.id, config=config_path))
        return False
    rto = drills[0]["rto_seconds"] if drills else None
    console.print(
        MSG["outcome"].format(
            run_id=run.id,
            state=run.state,
            done=len(started),
            vms=len(vms),
            rto=f"{rto:.0f} s" if rto is not None else "not measured",
            clean="yes" if clean else "NO: VMs remain at the DR site",
        )
    )
    for vm in sorted(vms.values(), key=lambda v: v.name):
        if vm not in started:
            console.print(
                MSG["not_started"].format(name=vm.name, status=vm.status, error=vm.error or "")
            )
    return True
