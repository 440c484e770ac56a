"""`drbot rehearse PRIMARY.xml`: a DR drill on a twin of your own pool, before production.

The pool database dump (`xe pool-dump-database file-name=PRIMARY.xml`) is loaded into the
XAPI simulator as site `primary` (sim/xapi/twin), paired with a DR pool (`--dr-db DR.xml`,
or generated to match with `--dr-capacity F`), and served in-process on loopback. Then the
same engine the operator CLI drives reads readiness, plans `--kind` for every VM, runs it,
and says for the real estate what would fail and why (a VM on local storage, a disk on an
SR that is not replicated, a network missing at DR, not enough memory, a vApp order), with
the estimated RTO and the RTO the simulated run took.

The simulated hosts run `--speed` times faster than real ones; the engine is given a clock
that runs as fast, so its timeouts, delays and the measured RTO are in simulated (real-world)
seconds. A `failover` rehearses a disaster: the primary site is failed first.

`twin_scenario(...)` is also what `drbot sim serve --from-db` calls.
"""

from __future__ import annotations

import json
import tempfile
import textwrap
import time
import urllib.request
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Literal

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from bot.ops.output import dump, err
from store.drills import protected_of

if TYPE_CHECKING:
    from commands.wiring import Wiring
    from engine.models import Plan
    from sim.xapi.twin import Twin

console = Console()
RehearsalKind = Literal["test-failover", "failover"]

DumpArg = Annotated[Path, typer.Argument(help="pool database dump (xe pool-dump-database)")]
DrDbOpt = Annotated[
    Path | None, typer.Option("--dr-db", help="dump of the DR pool (else one is generated)")
]
CapacityOpt = Annotated[
    float | None,
    typer.Option("--dr-capacity", help="generated DR pool: memory and CPUs vs the primary's"),
]
LagOpt = Annotated[float | None, typer.Option("--lag", help="replication lag in seconds")]
ReplicatedOpt = Annotated[
    list[str] | None,
    typer.Option("--replicated", help="an SR (name or uuid) the array replicates; repeatable"),
]
NotReplicatedOpt = Annotated[
    list[str] | None,
    typer.Option("--not-replicated", help="an SR the array does not replicate; repeatable"),
]
AssumeOpt = Annotated[
    Path | None,
    typer.Option("--assumptions", help="assumptions TOML (default: DUMP.twin.toml if present)"),
]

MSG = {
    "header": "Twin of pool {pool!r} ({path}, schema {major}.{minor}): {vms} VMs, {apps} vApps, "
    "{hosts} hosts, {srs} SRs, {nets} networks; DR pool {dr!r}.",
    "assumed": "What the twin assumes:",
    "left_out": "Rows left out of the twin ({n}):",
    "more": "  ... and {n} more (--json lists them all)",
    "readiness": "Readiness: {verdict}",
    "blocked": "The plan has blockers, so the {kind} was not run.",
    "run": "The {kind} ended {state}: {reason}",
    "rto": "RTO: estimated {estimated}, simulated {simulated} (at {speed:g}x speed).",
    "failed": "What would fail, and why:",
    "none_failed": "Every VM of the estate came up.",
    "left_out_status": "left out",
    "left_out_why": "not in the plan",
    "v_blocked": "not ready: the plan has blockers",
    "v_error": "not ready: the engine could not rehearse (see above)",
    "v_left_out": "not ready: {n} VM(s) of the estate would not come up",
    "v_run": "not ready: the {kind} ended {state}",
    "verdict": "Verdict: {verdict}",
    "disaster": "Failing the primary site first (a failover rehearses a disaster).",
    "running": "Running the {kind} on the twin ({speed:g}x faster than real hosts)...",
    "no_both": "give --dr-db or --dr-capacity, not both: a DR dump has its own capacity",
    "engine_error": "The rehearsal stopped: {error}",
}
SHOWN = 12  # rows of a list shown before "... and N more"
OK_STATUSES = {"started", "started-paused", "recovered"}


class ScaledClock:
    """The engine's clock at the simulator's speed: `speed` simulated seconds pass per real one.

    Wall time starts at the real time of creation, so timestamps stay close to the
    simulator's (it stamps with real time; only durations are scaled on both sides).
    """

    def __init__(self, speed: float) -> None:
        self.speed = speed
        self._wall0 = datetime.now(UTC)
        self._mono0 = time.monotonic()

    def _elapsed(self) -> float:
        return (time.monotonic() - self._mono0) * self.speed

    def now(self) -> datetime:
        return self._wall0 + timedelta(seconds=self._elapsed())

    def monotonic(self) -> float:
        return self._elapsed()

    def sleep(self, seconds: float) -> None:
        if seconds > 0:
            time.sleep(seconds / self.speed)


def twin_scenario(
    dump_path: Path,
    dr_db: Path | None = None,
    dr_capacity: float | None = None,
    lag: float | None = None,
    assumptions: Path | None = None,
    *,
    replicated: list[str] | None = None,
    not_replicated: list[str] | None = None,
    quiet: bool = False,
) -> Twin:
    """Load the dumps and build the twin (sim.xapi.twin.Twin); print what it assumes.

    A dump or assumptions file that cannot be used exits 2 with its one-line reason.
    """
    from sim.xapi.twin import DumpError, build_twin, load_assumptions, load_dump

    if dr_db is not None and dr_capacity is not None:
        err.print(MSG["no_both"], style="red", markup=False)
        raise typer.Exit(2)
    try:
        a = load_assumptions(
            dump_path,
            assumptions,
            dr_capacity=dr_capacity,
            lag_seconds=lag,
            replicated=replicated or None,
            not_replicated=not_replicated or None,
        )
        primary = load_dump(dump_path)
        dr = load_dump(dr_db) if dr_db is not None else None
        twin = build_twin(primary, dr, assumptions=a)
    except DumpError as exc:
        err.print(str(exc), style="red", markup=False)
        raise typer.Exit(2) from None
    if not quiet:
        _print_twin(twin)
    return twin


def _summary(twin: Twin) -> dict[str, Any]:
    pool = twin.scenario.sites[0].pools[0]
    return {
        "pool": twin.primary_pool,
        "dr_pool": twin.dr_pool,
        "path": twin.primary.source,
        "schema": f"{twin.primary.schema[0]}.{twin.primary.schema[1]}",
        "vms": len(pool.vms),
        "vapps": len(pool.appliances),
        "hosts": len(pool.hosts),
        "srs": sum(len(pool.hosts) if sr.kind == "local" else 1 for sr in pool.srs),
        "networks": len(pool.networks),
        "assumptions": list(twin.notes),
        "left_out": [str(p) for p in twin.problems],
    }


def _print_twin(twin: Twin) -> None:
    s = _summary(twin)
    major, minor = twin.primary.schema
    console.print(
        MSG["header"].format(
            pool=s["pool"],
            path=s["path"],
            major=major,
            minor=minor,
            vms=s["vms"],
            apps=s["vapps"],
            hosts=s["hosts"],
            srs=s["srs"],
            nets=s["networks"],
            dr=s["dr_pool"],
        ),
        markup=False,
    )
    console.print(MSG["assumed"])
    _bullets(s["assumptions"])
    if s["left_out"]:
        console.print(MSG["left_out"].format(n=len(s["left_out"])))
        _bullets(s["left_out"])


def _bullets(lines: list[str]) -> None:
    width = max(40, console.width)
    for line in lines[:SHOWN]:
        console.print(
            textwrap.fill(line, width, initial_indent="  - ", subsequent_indent="    "),
            markup=False,
        )
    if len(lines) > SHOWN:
        console.print(MSG["more"].format(n=len(lines) - SHOWN), markup=False)


def _seconds(value: float | None) -> str:
    if value is None:
        return "not measured"
    return f"{value:.0f} s" if value < 120 else f"{value / 60:.1f} min"


def rehearse(
    dump_path: DumpArg,
    dr_db: DrDbOpt = None,
    kind: Annotated[
        RehearsalKind,
        typer.Option("--kind", help="test-failover (nothing left behind) or failover"),
    ] = "test-failover",
    dr_capacity: CapacityOpt = None,
    lag: LagOpt = None,
    replicated: ReplicatedOpt = None,
    not_replicated: NotReplicatedOpt = None,
    assumptions: AssumeOpt = None,
    speed: Annotated[
        float, typer.Option(help="how much faster than real hosts the twin runs", min=1)
    ] = 100.0,
    as_json: Annotated[bool, typer.Option("--json", help="one JSON document")] = False,
) -> None:
    """Rehearse DR on a twin of your own pool: readiness, plan, run, what fails and why."""
    twin = twin_scenario(
        dump_path,
        dr_db,
        dr_capacity,
        lag,
        assumptions,
        replicated=replicated,
        not_replicated=not_replicated,
        quiet=as_json,
    )
    report = run_rehearsal(twin, kind, speed=speed, show=not as_json)
    if as_json:
        dump(report)
    if report["verdict"] != "ready":
        raise typer.Exit(1)


def run_rehearsal(twin: Twin, kind: RehearsalKind, *, speed: float, show: bool) -> dict[str, Any]:
    """Serve the twin in-process, then readiness, plan and run through the commands layer's
    wiring (the same store, clients, adapter, planner and runner the bot and CLI use).

    Returns the report (`--json`); with `show`, prints it for people as it goes.
    """
    from bot.ops.render import plan_table
    from bot.settings import load_settings
    from bot.simconfig import write_config
    from commands.status import pair_status
    from commands.wiring import Wiring
    from engine.errors import DRError
    from engine.models import Kind
    from sim.xapi.serve import start_sim

    report: dict[str, Any] = {"twin": _summary(twin), "kind": kind, "speed": speed}
    with (
        tempfile.TemporaryDirectory(prefix="drbot-rehearse-") as tmp,
        start_sim(twin.scenario, speed=speed, endpoints_path=Path(tmp) / "endpoints.json") as sim,
    ):
        config = Path(tmp) / "drbot.toml"
        write_config(sim.endpoints, config, Path("drbot.db"))
        settings = load_settings(config)
        wiring = Wiring(settings.engine, settings.store_path, clock=ScaledClock(speed))
        try:
            pair = wiring.pair(None)
            status = pair_status(wiring, pair)
            report["readiness"] = {"verdict": status.verdict, "reasons": list(status.reasons)}
            if show:
                _print_readiness(report["readiness"])
            if kind == "failover":
                if show:
                    console.print(MSG["disaster"])
                _control(sim.control_url, "POST", "/sites/primary/fail")
            plan = wiring.plan(Kind(kind), "all", None, disable_ha=kind == "test-failover")
            report["plan"] = plan.model_dump(mode="json")
            report["estimated_rto_seconds"] = plan.estimated_rto_seconds
            if show:
                plan_table(plan)
            if show and not plan.blockers:
                console.print(MSG["running"].format(kind=kind, speed=speed), markup=False)
            run = None if plan.blockers else _run(wiring, plan, kind)
            report["run"] = run
            report["findings"] = _findings(twin, plan, run, report["readiness"])
            if show:
                _print_outcome(report, speed)
        except DRError as exc:
            # The engine refused (a pool it cannot use, a plan it cannot make): that is the
            # rehearsal's finding, not a crash.
            report.setdefault("run", None)
            report["findings"] = [{"subject": "rehearsal", "status": "error", "why": str(exc)}]
            report["error"] = str(exc)
            if show:
                console.print(MSG["engine_error"].format(error=exc), markup=False)
        finally:
            wiring.close()
    report["verdict"] = _verdict(report)
    if show:
        console.print(MSG["verdict"].format(verdict=report["verdict"]), markup=False)
    return report


def _control(url: str, verb: str, path: str) -> Any:
    # The simulator's control API, on the loopback URL it just gave us.
    data = b"{}" if verb == "POST" else None
    req = urllib.request.Request(url + path, data=data, method=verb)  # noqa: S310 - http
    with urllib.request.urlopen(req, timeout=30) as resp:  # noqa: S310 - http loopback only
        return json.load(resp)


def _print_readiness(rd: dict[str, Any]) -> None:
    console.print(MSG["readiness"].format(verdict=rd["verdict"]), markup=False)
    _bullets(rd["reasons"])


def _run(wiring: Wiring, plan: Plan, kind: str) -> dict[str, Any]:
    runner = wiring.runner
    run_id = runner.start(plan, requested_by="drbot rehearse", reason="rehearsal on a twin")
    while True:
        run = runner.wait(run_id, timeout=1.0)
        if run.state not in ("running", "queued", "aborting"):
            break
    history = wiring.store.runs.history(run_id)
    protected = protected_of(kind, plan.model_dump(mode="json"))
    drills = wiring.store.drills.recent(protected, limit=1, kind=kind)
    vms = run.outcome.model_dump(mode="json")["vms"]
    return {
        "id": run_id,
        "state": run.state.value,
        "reason": (history[-1].reason if history else "") or run.error or "",
        "rto_seconds": drills[0]["rto_seconds"] if drills else None,
        "vms": vms,
    }


def _findings(
    twin: Twin, plan: Plan, run: dict[str, Any] | None, readiness: dict[str, Any]
) -> list[dict[str, str]]:
    """Every VM of the estate that would not come up, and why; then the plan's blockers.

    A VM the run did not bring up carries the run's error; a VM left out of the plan carries
    the check that left it out (its subject names the VM or its vApp), else the readiness
    reason that names it.
    """
    out: list[dict[str, str]] = []
    outcome = {vm.get("name", uuid): vm for uuid, vm in (run or {}).get("vms", {}).items()}
    planned = {vm.name for app in plan.appliances for vm in app.vms}
    planned |= {vm.name for vm in plan.standalone_vms}
    problems = [c for c in plan.checks if c.status != "ok"]
    for vm in twin.scenario.sites[0].pools[0].vms:
        if vm.name in outcome:
            status = outcome[vm.name].get("status", "")
            if status not in OK_STATUSES:
                out.append({"subject": vm.name, "status": status, "why": _error(outcome[vm.name])})
            continue
        if vm.name in planned and run is None:
            continue  # the blockers below say why nothing ran
        # A check about the VM itself first, then one about its vApp.
        own = [c for c in problems if c.subject.split("/")[-1] == vm.name]
        why = next(
            (
                c.message
                for c in own + problems
                if {vm.name, vm.appliance} & set(c.subject.split("/"))
            ),
            None,
        ) or next(
            (r for r in readiness["reasons"] if vm.name in r),
            MSG["left_out_why"],
        )
        out.append({"subject": vm.name, "status": MSG["left_out_status"], "why": why})
    out.extend({"subject": c.subject, "status": "blocker", "why": c.message} for c in plan.blockers)
    return out


def _error(vm: dict[str, Any]) -> str:
    error = vm.get("error") or ""
    return error if isinstance(error, str) else json.dumps(error)


def _print_outcome(report: dict[str, Any], speed: float) -> None:
    run = report["run"]
    if run is None:
        console.print(MSG["blocked"].format(kind=report["kind"]), markup=False)
    else:
        console.print(
            MSG["run"].format(kind=report["kind"], state=run["state"], reason=run["reason"]),
            markup=False,
        )
        console.print(
            MSG["rto"].format(
                estimated=_seconds(report["estimated_rto_seconds"]),
                simulated=_seconds(run["rto_seconds"]),
                speed=speed,
            ),
            markup=False,
        )
    if not report["findings"]:
        console.print(MSG["none_failed"])
        return
    console.print(MSG["failed"])
    table = Table("VM / check", "outcome", "why")
    for f in report["findings"]:
        table.add_row(escape(f["subject"]), escape(f["status"]), escape(f["why"]))
    console.print(table)


def _verdict(report: dict[str, Any]) -> str:
    """ready: the run succeeded and every VM of the estate came up; else not ready, and why."""
    run = report["run"]
    if report.get("error"):
        return MSG["v_error"]
    if run is None:
        return MSG["v_blocked"]
    if run["state"] == "succeeded" and not report["findings"]:
        return "ready"
    if run["state"] == "succeeded":
        return MSG["v_left_out"].format(n=len(report["findings"]))
    return MSG["v_run"].format(kind=report["kind"], state=run["state"])
