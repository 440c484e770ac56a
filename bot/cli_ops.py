"""The operator CLI, for when chat is down: status, plan, run, runs, resume, abort.

Mounted on `drbot` by `bot/cli.py` (`cli_ops.register(app)`). Connection settings come from the
configuration file (`--config FILE`, else `DRBOT_CONFIG`, else ./drbot.toml). Every command
takes `--json` for scripts; otherwise it prints rich tables and, for runs, a progress bar.

A failover or failback from the CLI bypasses chat approvals, so it needs `--break-glass` and a
`--reason`, both recorded in the audit trail. Exit codes: 0 done, 1 the run did not fully
succeed, 2 the request was refused (bad input, blockers, busy pool, configuration).
"""

from __future__ import annotations

import getpass
import json
import sys
from collections.abc import Callable
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from bot.settings import Settings, load_settings
from engine.clock import SystemClock
from engine.errors import DRError
from engine.events import RunEvent
from store import RunNotFound, Store, StoreError, open_store

# -- user-facing strings of the CLI ------------------------------------------------------------
MSG = {
    "break_glass": (
        "A {kind} from the CLI bypasses chat approvals: add --break-glass and --reason TEXT "
        "(both are recorded in the audit trail), or ask for it in Slack."
    ),
    "reason_needed": "--break-glass needs --reason TEXT saying why chat approval is bypassed.",
    "blocked": "The plan has blockers; fix them and plan again:",
    "no_pair": (
        "No pool pair in the configuration{what}; add a [[engine.pairs]] entry "
        "(protected = ..., dr = ...)."
    ),
    "started": "Run {run_id} started ({kind} of {target} into {pool}).",
    "ended": "Run {run_id} ended {state}: {reason}",
    "interrupted": "Interrupted at boot: run {run_id} (last step: {step}).",
    "cancelling": "Cancelling run {run_id}; steps in flight finish, then it cleans up...",
    "unreachable": "unreachable",
    "storage_pending": (
        "Run {run_id} waits for a storage step done by hand: {instruction} When it is done, "
        "run `drbot resume {run_id} --storage-done`."
    ),
}

DONE_STATUSES = {
    "started",
    "started-paused",
    "recovered",
    "recover-failed",
    "start-failed",
    "skipped",
    "not-run",
}

STORAGE_CONFIRMATIONS = "storage-confirmations"  # store.kv namespace of the manual adapter

console = Console()
err = Console(stderr=True, soft_wrap=True)

ConfigOpt = Annotated[str | None, typer.Option("--config", "-c", help="Configuration file (TOML).")]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON for scripts.")]
PairOpt = Annotated[
    str | None,
    typer.Option("--pool", "-p", help="Protected pool of the pair to act on (default: the first)."),
]


def _fail(message: str, code: int = 2) -> typer.Exit:
    # Not markup: messages quote config sections such as [engine], which rich would eat.
    err.print(message, style="red", markup=False)
    return typer.Exit(code)


def _dump(data: Any) -> None:
    sys.stdout.write(json.dumps(data, indent=2, sort_keys=True, default=str) + "\n")


# -- wiring ------------------------------------------------------------------------------------


class Ops:
    """What the commands need, built from the settings: store, clients, adapter, planner."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.config = settings.engine
        self.clock = SystemClock()
        self.store: Store = open_store(settings.store_path, now=self.clock.now)
        self._clients: dict[str, Any] = {}
        self._adapter: Any = None

    def client(self, pool: str) -> Any:
        from engine.xapi import XapiClient

        if pool not in self._clients:
            t = self.config.timeouts
            self._clients[pool] = XapiClient.connect(
                self.config.pool(pool),
                originator=self.config.originator,
                clock=self.clock,
                timeout=t.call_seconds,
                connect_timeout=t.connect_seconds,
            )
        return self._clients[pool]

    @property
    def adapter(self) -> Any:
        from engine.storage import adapter_from_config

        if self._adapter is None:
            storage = self.config.storage
            if storage.adapter == "manual":
                from engine.storage.base import ReplicatedLun
                from engine.storage.manual import ManualStorageAdapter

                # Confirmations live in the store: the bot and this CLI share them.
                self._adapter = ManualStorageAdapter(
                    [ReplicatedLun.model_validate(lun.model_dump()) for lun in storage.luns],
                    confirmed=self.store.kv(STORAGE_CONFIRMATIONS),
                )
            else:
                self._adapter = adapter_from_config(storage)
        return self._adapter

    def pair(self, protected: str | None) -> Any:
        if not self.config.pairs:
            raise DRError(MSG["no_pair"].format(what=""))
        if protected is None:
            return self.config.pairs[0]
        for pair in self.config.pairs:
            if protected in (pair.protected, pair.dr):
                return pair
        raise DRError(MSG["no_pair"].format(what=f" for pool {protected!r}"))

    def site(self, name: str) -> Any:
        """The pool as the planner and readiness see it; if drbot cannot use it, the Site
        remembers why (a refused login is not a lost site: the split-brain guard tells them
        apart)."""
        from engine.protection import Site

        endpoint = self.config.pool(name)
        return Site.open(name, lambda: self.client(name), site=endpoint.site)

    def plan(self, kind: str, target: str, protected: str | None, **options: Any) -> Any:
        from engine import planner

        pair = self.pair(protected)
        source, dest = (
            (pair.dr, pair.protected) if kind == "failback" else (pair.protected, pair.dr)
        )
        opts = planner.PlanOptions(
            network_map=dict(pair.network_map),
            max_lag_seconds=self.config.storage.max_lag_seconds,
            **{k: v for k, v in options.items() if v is not None},
        )

        def history(k: str, _src: str, dst: str) -> list[float]:
            rows = self.store.drills.recent(dst, limit=10, kind=k)
            return [r["rto_seconds"] for r in reversed(rows) if r["rto_seconds"]]

        return planner.plan(
            kind,
            target,
            source=self.site(source),
            dest=self.site(dest),
            options=opts,
            storage=self.adapter,
            history=history,
            clock=self.clock,
        )

    def runner(self) -> Any:
        from engine.runner import Runner

        return Runner(
            self.store,
            self.client,
            self.adapter,
            self.clock,
            self.config.concurrency,
            task_timeout=self.config.timeouts.task_seconds,
        )

    def close(self) -> None:
        for client in self._clients.values():
            client.close()
        self.store.close()


def _ops(config: str | None) -> Ops:
    try:
        return Ops(load_settings(config))
    except (DRError, StoreError) as exc:
        raise _fail(str(exc)) from None


def _guard(fn: Callable[[], None]) -> None:
    """Turn the errors a person can cause into a clear message and exit code 2."""
    try:
        fn()
    except (DRError, StoreError, RunNotFound) as exc:
        raise _fail(str(exc)) from None


# -- rendering ---------------------------------------------------------------------------------


def _plan_table(plan: Any) -> None:
    console.print(
        f"[bold]{plan.kind}[/bold] of [bold]{escape(plan.target)}[/bold]: "
        f"{plan.source_pool} -> {plan.dest_pool}, power after: {plan.power_after}, "
        f"estimated RTO {plan.estimated_rto_seconds:.0f} s, hash {plan.hash[:12]}"
    )
    table = Table("vApp / VM", "order", "delay", "record from", "in destination")
    for app in plan.appliances:
        table.add_row(f"[bold]{app.name}[/bold]", "", "", "", "")
        for vm in app.vms:
            table.add_row(
                f"  {vm.name}",
                str(vm.order),
                str(vm.start_delay),
                vm.record_source,
                vm.existing_in_dest,
            )
    for vm in plan.standalone_vms:
        table.add_row(vm.name, "-", "-", vm.record_source, vm.existing_in_dest)
    console.print(table)
    if plan.luns:
        luns = Table("LUN", "SR", "state", "lag (s)", "action")
        for lun in plan.luns:
            lag = "" if lun.lag_seconds is None else f"{lun.lag_seconds:.0f}"
            luns.add_row(lun.lun, lun.sr_name, lun.state, lag, lun.action)
        console.print(luns)
    if plan.checks:
        checks = Table("check", "status", "subject", "message")
        colour = {"ok": "green", "warning": "yellow", "blocker": "red"}
        for c in plan.checks:
            checks.add_row(
                escape(c.name),
                f"[{colour[c.status]}]{c.status}[/]",
                escape(c.subject),
                escape(c.message),
            )
        console.print(checks)


def _run_summary(run: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in run.items() if k not in ("plan_json", "outcome_json", "plan")}


def _runs_table(runs: list[dict[str, Any]]) -> None:
    table = Table("id", "kind", "target", "pool", "state", "requested by", "created", "last step")
    for r in runs:
        table.add_row(
            str(r["id"]),
            r["kind"],
            r["target"],
            r["pool"],
            r["state"],
            r["requested_by"] or "",
            r["created_at"][:19],
            r["last_step"] or "",
        )
    console.print(table)


def _follow(ops: Ops, runner: Any, run_id: int, as_json: bool) -> dict[str, Any]:
    """Wait for the run, with a progress bar of VMs; Ctrl-C cancels it."""
    run = ops.store.runs.get(run_id)
    total = len(run["plan"].get("standalone_vms", [])) + sum(
        len(vm_group)
        for app in run["plan"].get("appliances", [])
        for vm_group in app.get("order_groups", [])
    )
    progress = Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
        disable=as_json,
    )
    bar = progress.add_task(f"run {run_id}", total=total or 1)
    finished: set[str] = set()

    def on_event(ev: RunEvent) -> None:
        if ev.run_id != run_id:
            return
        if ev.type == "vm" and ev.vm_uuid and ev.vm_status in DONE_STATUSES:
            finished.add(ev.vm_uuid)
            progress.update(bar, completed=len(finished))
        elif ev.type == "progress" and ev.message:
            progress.update(bar, description=f"run {run_id}: {ev.message}")
        elif ev.type == "paused":
            err.print(f"paused: {ev.message}", style="yellow", markup=False)

    unsubscribe = runner.subscribe(on_event)
    try:
        with progress:
            while True:
                try:
                    run = runner.wait(run_id, timeout=1.0)
                except KeyboardInterrupt:
                    err.print(MSG["cancelling"].format(run_id=run_id))
                    runner.cancel(run_id, actor=_actor())
                    continue
                if run["state"] not in ("running", "queued", "aborting"):
                    break
    finally:
        unsubscribe()
    return run


def _actor() -> str:
    return f"cli:{getpass.getuser()}"


def _end(run: dict[str, Any], as_json: bool) -> None:
    if as_json:
        _dump({**_run_summary(run), "outcome": run.get("outcome")})
    else:
        state = run["state"]
        colour = "green" if state in ("succeeded", "aborted") else "red"
        reason = run["error"] or (run.get("history_reason") or "")
        history = run.get("_history") or []
        if history:
            reason = history[-1]["reason"] or reason
        console.print(
            MSG["ended"].format(run_id=run["id"], state=state, reason=reason),
            style=colour,
            markup=False,
        )
    if run["state"] not in ("succeeded", "aborted", "paused"):
        raise typer.Exit(1)


# -- commands ----------------------------------------------------------------------------------


def status(config: ConfigOpt = None, as_json: JsonOpt = False) -> None:
    """Readiness of every protected pool, replication, active runs and the last drill."""
    ops = _ops(config)

    def go() -> None:
        report: dict[str, Any] = {"pairs": [], "active_runs": [], "replication": []}
        try:
            report["replication"] = [lun.model_dump(mode="json") for lun in ops.adapter.state()]
        except DRError as exc:
            report["replication_error"] = str(exc)
        for pair in ops.config.pairs:
            entry: dict[str, Any] = {"protected": pair.protected, "dr": pair.dr}
            try:
                entry["readiness"] = _readiness(ops, pair)
            except DRError as exc:
                entry["readiness"] = {"verdict": "unknown", "reasons": [str(exc)]}
            entry["last_drill"] = _last_drill(ops, pair)
            report["pairs"].append(entry)
        report["active_runs"] = [
            _run_summary(r)
            for r in ops.store.runs.list(
                limit=50, states={"queued", "running", "paused", "interrupted", "aborting"}
            )
        ]
        if as_json:
            _dump(report)
            return
        table = Table("protected", "DR pool", "verdict", "reasons", "last drill")
        for entry in report["pairs"]:
            rd = entry["readiness"]
            last = entry["last_drill"]
            table.add_row(
                entry["protected"],
                entry["dr"],
                rd.get("verdict", "?"),
                escape("\n".join(rd.get("reasons", [])[:8])),
                f"{last['outcome']} ({last['rto_seconds'] or 0:.0f} s)" if last else "never",
            )
        console.print(table)
        if report["replication"]:
            rep = Table("LUN", "SR", "state", "lag (s)")
            for lun in report["replication"]:
                lag = "" if lun["lag_seconds"] is None else f"{lun['lag_seconds']:.0f}"
                rep.add_row(lun["lun"], lun["name"], lun["state"], lag)
            console.print(rep)
        if report["active_runs"]:
            _runs_table(report["active_runs"])

    try:
        _guard(go)
    finally:
        ops.close()


def _last_drill(ops: Ops, pair: Any) -> dict[str, Any] | None:
    """The pair's last test failover, as readiness counts drills: recorded under the DR pool
    (else the protected pool); a real failover or failback is not a drill and is passed over,
    however recent."""
    for pool in (pair.dr, pair.protected):
        drills = ops.store.drills.recent(pool, limit=1, kind="test-failover")
        if drills:
            return {k: drills[0][k] for k in ("run_id", "kind", "outcome", "rto_seconds", "at")}
    return None


def _readiness(ops: Ops, pair: Any) -> dict[str, Any]:
    """The readiness verdict of a pair (engine.readiness), with every reason."""
    from engine import readiness

    result = readiness.assess(
        pair,
        protected=ops.site(pair.protected),
        dr=ops.site(pair.dr),
        storage=ops.adapter,
        last_drill=ops.store.drills.recent,
        max_lag_seconds=ops.config.storage.max_lag_seconds,
        clock=ops.clock,
    )
    return {
        "verdict": result.verdict,
        "reasons": [f"{r.severity}: {r.subject}: {r.message}" for r in result.reasons],
        "protected_vms": result.protected_count,
        "vms": len(result.vms),
        "rpo_seconds": result.rpo_seconds,
    }


KindArg = Annotated[str, typer.Argument(help="test-failover, failover or failback.")]
TargetArg = Annotated[str, typer.Argument(help="'all', a vApp name, a VM name or uuid, or a,b,c.")]
PowerOpt = Annotated[
    str | None,
    typer.Option("--power", help="After recovery: start, start-paused or leave-off."),
]
PlannedOpt = Annotated[
    bool, typer.Option("--planned", help="Failover with the primary up: shut down there first.")
]
HaOpt = Annotated[
    bool,
    typer.Option("--disable-ha", help="Test failover: turn HA off on the DR pool, back on after."),
]


def plan_cmd(
    kind: KindArg,
    target: TargetArg,
    pool: PairOpt = None,
    power: PowerOpt = None,
    planned: PlannedOpt = False,
    disable_ha: HaOpt = False,
    config: ConfigOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Show what a run would do (the dry run): VMs, order, storage, checks, RTO, hash."""
    ops = _ops(config)

    def go() -> None:
        plan = ops.plan(
            kind, target, pool, power_after=power, planned=planned, disable_ha=disable_ha
        )
        if as_json:
            _dump(plan.model_dump(mode="json"))
        else:
            _plan_table(plan)
        if plan.blockers:
            raise typer.Exit(1)

    try:
        _guard(go)
    finally:
        ops.close()


def run_cmd(
    kind: KindArg,
    target: TargetArg,
    pool: PairOpt = None,
    power: PowerOpt = None,
    planned: PlannedOpt = False,
    disable_ha: HaOpt = False,
    break_glass: Annotated[
        bool, typer.Option("--break-glass", help="Run a failover/failback without chat approval.")
    ] = False,
    reason: Annotated[str | None, typer.Option("--reason", help="Why (recorded).")] = None,
    config: ConfigOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Plan and run a test-failover, failover or failback, following its progress."""
    if kind in ("failover", "failback") and not break_glass:
        raise _fail(MSG["break_glass"].format(kind=kind))
    if break_glass and not (reason and reason.strip()):
        raise _fail(MSG["reason_needed"])
    ops = _ops(config)

    def go() -> None:
        plan = ops.plan(
            kind, target, pool, power_after=power, planned=planned, disable_ha=disable_ha
        )
        if plan.blockers:
            if not as_json:
                _plan_table(plan)
            err.print(MSG["blocked"])
            for c in plan.blockers:
                err.print(f"  - {c.name} {c.subject}: {c.message}", markup=False)
            raise typer.Exit(2)
        runner = ops.runner()
        for run in runner.reap():
            err.print(
                MSG["interrupted"].format(run_id=run["id"], step=run["last_step"]), markup=False
            )
        if break_glass:
            ops.store.audit.append(
                "BreakGlass",
                _actor(),
                {"kind": kind, "target": target, "reason": reason, "plan_hash": plan.hash},
            )
        run_id = runner.start(plan, requested_by=_actor(), reason=reason)
        if not as_json:
            console.print(
                MSG["started"].format(
                    run_id=run_id, kind=kind, target=plan.target, pool=plan.dest_pool
                )
            )
        _end(_with_history(ops, _follow(ops, runner, run_id, as_json)), as_json)

    try:
        _guard(go)
    finally:
        ops.close()


def _with_history(ops: Ops, run: dict[str, Any]) -> dict[str, Any]:
    return {**run, "_history": ops.store.runs.history(run["id"])}


runs_app = typer.Typer(help="List runs, or show one.", no_args_is_help=False)


@runs_app.callback(invoke_without_command=True)
def runs_list(
    ctx: typer.Context,
    limit: Annotated[int, typer.Option("--limit", "-n", help="How many runs.")] = 20,
    config: ConfigOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """The newest runs first."""
    if ctx.invoked_subcommand is not None:
        return
    ops = _ops(config)

    def go() -> None:
        runs = [_run_summary(r) for r in ops.store.runs.list(limit=limit)]
        if as_json:
            _dump(runs)
        else:
            _runs_table(runs)

    try:
        _guard(go)
    finally:
        ops.close()


@runs_app.command("show")
def runs_show(
    run_id: Annotated[int, typer.Argument(help="Run id (see `drbot runs`).")],
    config: ConfigOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """One run: its state history, every step of its journal and each VM's outcome."""
    ops = _ops(config)

    def go() -> None:
        run = ops.store.runs.get(run_id)
        history = ops.store.runs.history(run_id)
        steps = ops.store.steps.for_run(run_id)
        if as_json:
            _dump(
                {
                    **_run_summary(run),
                    "outcome": run["outcome"],
                    "history": history,
                    "steps": steps,
                }
            )
            return
        console.print(
            f"[bold]run {run['id']}[/bold] {run['kind']} of {escape(run['target'])} into "
            f"{run['pool']}: "
            f"[bold]{run['state']}[/bold]  (requested by {run['requested_by']}"
            + (f", reason: {escape(run['reason'])}" if run["reason"] else "")
            + ")"
        )
        hist = Table("at", "from", "to", "reason")
        for h in history:
            hist.add_row(
                h["at"][:19], h["from_state"] or "", h["to_state"], escape(h["reason"] or "")
            )
        console.print(hist)
        st = Table("step", "subject", "status", "attempts", "task", "error")
        for s in steps:
            st.add_row(
                s["name"],
                s["subject"] or "",
                s["status"],
                str(s["attempts"]),
                (s["task_ref"] or "")[-12:],
                escape((s["error"] or "")[:80]),
            )
        console.print(st)
        vms = Table("VM", "vApp", "outcome", "error")
        for uuid, o in sorted(run["outcome"].items()):
            if uuid.startswith("_"):
                continue
            vms.add_row(
                o.get("name", uuid),
                o.get("appliance") or "",
                o.get("status", ""),
                escape((o.get("error") or "")[:80]),
            )
        console.print(vms)

    try:
        _guard(go)
    finally:
        ops.close()


RunIdArg = Annotated[int, typer.Argument(help="Run id (see `drbot runs`).")]


def resume(
    run_id: RunIdArg,
    storage_done: Annotated[
        bool,
        typer.Option(
            "--storage-done",
            help="Confirm that the manual storage step the run is paused at was done.",
        ),
    ] = False,
    config: ConfigOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Go on with an interrupted or paused run where its journal says it stopped."""
    ops = _ops(config)

    def go() -> None:
        runner = ops.runner()
        runner.reap()
        step = runner.paused_step(run_id)
        if step is not None and not storage_done:
            raise _fail(MSG["storage_pending"].format(run_id=run_id, **step))
        if step is not None:
            confirm = getattr(ops.adapter, "confirm", None)
            if confirm is not None:
                confirm(step["lun"], step["action"])
            ops.store.audit.append("StorageStepConfirmed", _actor(), {"run_id": run_id, **step})
        runner.resume(run_id, actor=_actor())
        _end(_with_history(ops, _follow(ops, runner, run_id, as_json)), as_json)

    try:
        _guard(go)
    finally:
        ops.close()


def abort(run_id: RunIdArg, config: ConfigOpt = None, as_json: JsonOpt = False) -> None:
    """Undo what a run created (VMs, vApps, SRs it attached, DR_tasks, test copies)."""
    ops = _ops(config)

    def go() -> None:
        runner = ops.runner()
        runner.reap()
        runner.abort(run_id, actor=_actor())
        _end(_with_history(ops, _follow(ops, runner, run_id, as_json)), as_json)

    try:
        _guard(go)
    finally:
        ops.close()


def register(app: typer.Typer) -> None:
    """Mount the operator commands on the `drbot` application."""
    app.command("status")(status)
    app.command("plan")(plan_cmd)
    app.command("run")(run_cmd)
    app.add_typer(runs_app, name="runs")
    app.command("resume")(resume)
    app.command("abort")(abort)
