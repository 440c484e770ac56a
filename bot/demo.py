"""`drbot demo`: the whole product on one machine, told the way its users meet it, in Slack.

It starts two XenServer sites (sim/xapi, the `demo` scenario) and a Slack workspace
(sim/slack) on loopback, writes an endpoints file and a drbot configuration pointing at them,
and runs the real bot in Socket Mode against both. Then people act through the Slack double,
as they would in the Slack client:

1. olivia (on call) asks `/dr status`;
2. she asks `/dr test-failover all`; alex approves; progress, summary, cleanup verified;
3. disaster: the primary site is lost (the simulator's control API);
4. she asks `/dr failover all --reason ...`; her own approval is refused, victor (a viewer)
   is refused, alex and priya approve; progress, summary;
5. the primary site comes back; `/dr failback all --reason ...`, approved by both.

It prints the conversation as people see it (the double's screen of the channel and of each
thread, buttons numbered), then the run summaries. `--interactive` lets a person type commands
as a chosen user and click buttons by number; `--keep-running` leaves everything up.
"""

from __future__ import annotations

import json
import shutil
import signal
import textwrap
import threading
import time
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console
from rich.rule import Rule

from bot.simconfig import write_config, write_endpoints

if TYPE_CHECKING:
    from bot.slack.serve import Serving
    from commands.service import Service
    from sim.slack.record import Seen
    from sim.slack.server import SlackSim
    from store.records import RunRecord

console = Console(width=80)

WIDTH = 80
CHANNEL = "dr-ops"
MSG = {
    "starting": "Starting two XenServer sites ('{scenario}', speed x{speed:g}), a Slack "
    "workspace and drbot (Socket Mode) on loopback...",
    "files": "Endpoints: {endpoints}\nConfiguration: {config}",
    "people": "People: olivia (on call, operator), alex and priya (approvers, through the "
    "dr-approvers group), victor (viewer).",
    "act": "{who}: {what}",
    "not_ours": "{path} is not a directory the demo made (it has files and no {marker}): the "
    "demo wipes its --state-dir at the start, so it will not touch this one. Give a new or "
    "empty --state-dir, or the one an earlier demo used.",
    "only_they_see": "  drbot, to {who} only: {text}",
    "step_status": "1. Is the DR site ready?",
    "step_drill": "2. A test failover, approved by one approver",
    "step_disaster": "3. Disaster: the primary site is lost",
    "step_failover": "4. Failover: two approvers, never the requester",
    "step_restore": "5. The primary site is back",
    "pending": "What alex sees before he decides (buttons numbered)",
    "step_failback": "6. Failback",
    "rearm": "turns on metadata replication at the DR pool for the failback (XenCenter: "
    "Pool > Disaster Recovery > Configure)",
    "conversation": "The conversation in #{channel}, as olivia sees it",
    "thread": "Thread of drbot's message of {time}",
    "summaries": "Run summaries",
    "summary_line": "run {id} {kind} of {target}: {state}{error}",
    "interactive": "Type `/dr ...` as {user} (`as NAME` switches, `click N` clicks button N of "
    "the newest message with buttons, `screen` shows the whole channel, `quit`). After each "
    "command or click, what it changed on the screen is shown.",
    "now_as": "Now typing as {user}.",
    "nothing_new": "(nothing new on {user}'s screen yet)",
    "new_entry": "{who}{tags}",
    "unknown_input": "Type `/dr ...`, `click N`, `as NAME`, `screen` or `quit`.",
    "no_buttons": "No message with buttons on this person's screen.",
    "finishing": "Waiting for run(s) {runs} to finish before stopping...",
    "try": "Everything keeps running. In another terminal:\n"
    "  drbot status --config {config}\n  drbot runs --config {config}\n"
    "  drbot sim ctl --endpoints {endpoints} state\nCtrl-C stops it.",
    "stopped": "Simulators and bot stopped.",
    "report": "The drill report in #dr-reports (posted as the Monday drill posts it)",
    "report_files": "The drill report for people outside Slack: {page} (charts: {png})",
    "failed": "The demo did not finish: {what}",
}


@dataclass
class Simulators:
    """sim/xapi and sim/slack on loopback, and a drbot configuration pointing at them."""

    slack: SlackSim
    xapi: Any
    config_path: Path
    endpoints_path: Path

    @property
    def bot_user(self) -> str:
        return self.slack.workspace.app.bot_user_id

    def command(self, who: str, text: str, channel: str = CHANNEL) -> int:
        """`who` types `/dr text`; returns the record position before it."""
        since = self.slack.record.last_seq()
        self.slack.person(who).command("/dr", text, channel=channel)
        return since

    def wait_bot(
        self, since: int, predicate: Callable[[Seen], bool] | None = None, timeout: float = 60
    ) -> Seen:
        """The first thing the bot showed after `since` that matches `predicate`."""
        bot = self.bot_user
        shown = ("message", "thread_reply", "edit", "ephemeral")

        def match(entry: Seen) -> bool:
            if entry.user != bot or entry.kind not in shown:
                return False
            return predicate(entry) if predicate else True

        return self.slack.record.wait_for(match, timeout=timeout, since=since)

    def control(self, path: str, method: str = "POST") -> Any:
        """One request to sim/xapi's control API (fail or restore a site, faults ...)."""
        # The control URL is the http:// loopback one the simulator just printed.
        request = urllib.request.Request(  # noqa: S310
            self.xapi.control_url + path, data=b"" if method != "GET" else None, method=method
        )
        with urllib.request.urlopen(request, timeout=30) as resp:  # noqa: S310
            raw = resp.read()
        return json.loads(raw) if raw else None

    def luns(self) -> list[dict[str, Any]]:
        """The simulated array's replicated LUNs as `[[engine.storage.luns]]` entries."""
        keys = ("lun", "sr_uuid", "name", "source_site", "target_site", "mirror_device_config")
        return [{k: lun[k] for k in keys} for lun in self.control("/replication", "GET")]

    def stop(self) -> None:
        self.slack.stop()
        self.xapi.stop()


@dataclass
class DemoWorld(Simulators):
    """Both simulators and the bot, running; people act through `slack`."""

    service: Service = None  # type: ignore[assignment]  # always given by demo_world
    serving: Serving = None  # type: ignore[assignment]  # always given by demo_world
    threads: list[str] = field(default_factory=list)

    def started_run(self, approval: Seen, timeout: float = 60) -> int:
        """The run an approval message's approval started, once it started."""
        approval_id = approval_id_of(approval)
        return int(wait_until(lambda: self.service.approval(approval_id).run_id, timeout))

    def finished(self, run_id: int, timeout: float = 300) -> RunRecord:
        """The run once it ended and its summary was posted in its thread."""
        self.service.wait(run_id, timeout)
        threads = self.serving.bot.threads
        wait_until(lambda: (t := threads.get(run_id)) is not None and t.summary_posted, timeout)
        return self.service.wiring.store.runs.get(run_id)


@contextmanager
def simulators(
    state_dir: Path,
    *,
    scenario: str = "demo",
    speed: float = 20.0,
    mode: str = "socket",
    slack_clock: Any = None,
    policy: dict[str, Any] | None = None,
    storage: str = "sim",
    slack_settings: dict[str, Any] | None = None,
) -> Iterator[Simulators]:
    """Start sim/xapi (`scenario`) and sim/slack on loopback and write a drbot configuration
    for them in `state_dir` (the bot in `mode`: socket or http); stop them afterwards.
    `storage = "manual"` configures the manual storage adapter over the simulated array's
    LUNs: each storage step then waits for a person (who acts on the array through sim/xapi's
    control API) to click Done. `policy` and `slack_settings` are merged into the
    configuration's [policy] and [slack]."""
    import tomllib

    import tomli_w

    from sim.slack.server import SlackSim
    from sim.xapi.serve import start_sim

    state_dir.mkdir(parents=True, exist_ok=True)
    endpoints_path = state_dir / "endpoints.json"
    config_path = state_dir / "drbot.toml"
    xapi = start_sim(scenario, speed=speed)
    try:
        slack = SlackSim.start(clock=slack_clock)
    except BaseException:
        xapi.stop()
        raise
    sims = Simulators(slack, xapi, config_path, endpoints_path)
    try:
        endpoints = {**xapi.endpoints, "slack": slack.endpoints()}
        write_endpoints(endpoints, endpoints_path)
        write_config(endpoints, config_path, Path("drbot.db"), force=True)  # the demo's own file
        if policy or slack_settings or mode != "socket" or storage != "sim":
            data = tomllib.loads(config_path.read_text())
            if storage == "manual":
                data["engine"]["storage"] = {"adapter": "manual", "luns": sims.luns()}
            data["policy"] = {**data.get("policy", {}), **(policy or {})}
            data["slack"] = {**data["slack"], **(slack_settings or {}), "mode": mode}
            if mode == "http":
                data["slack"]["http"] = {"host": "127.0.0.1", "port": 0}
            config_path.write_text(tomli_w.dumps(data))
        yield sims
    finally:
        sims.stop()


def start_stack(sims: Simulators, *, clock: Any = None) -> tuple[Service, Serving]:
    """The commands service and the bot for `sims`' configuration, running (the Slack
    double delivers to it: Socket Mode, or HTTP mode at the bot's URL)."""
    from bot.settings import load_settings
    from bot.slack.app import make_client, slack_members
    from bot.slack.serve import start_bot
    from commands.service import Service
    from commands.wiring import Wiring
    from engine.clock import SystemClock

    settings = load_settings(sims.config_path)
    assert settings.slack is not None
    clock = clock or SystemClock()
    service = Service(
        Wiring(settings.engine, settings.store_path, clock=clock),
        settings.policy,
        members=slack_members(make_client(settings.slack)),
    )
    try:
        serving = start_bot(settings.slack, service, clock=clock, reports=settings.reports)
    except BaseException:
        service.close()
        raise
    if settings.slack.mode == "http":
        assert serving.url is not None
        sims.slack.configure_delivery(socket_mode=False, request_url=serving.url)
    else:
        _wait_connected(sims.slack)
    return service, serving


@contextmanager
def demo_world(
    state_dir: Path,
    *,
    scenario: str = "demo",
    speed: float = 20.0,
    mode: str = "socket",
    slack_clock: Any = None,
    clock: Any = None,
    policy: dict[str, Any] | None = None,
    storage: str = "sim",
    slack_settings: dict[str, Any] | None = None,
) -> Iterator[DemoWorld]:
    """Both simulators and the bot (`mode`: socket or http) on loopback, with a configuration
    in `state_dir`; everything stopped afterwards. `clock` is the service's and the bot's (a
    test's ManualClock for approval expiry)."""
    with simulators(
        state_dir,
        scenario=scenario,
        speed=speed,
        mode=mode,
        slack_clock=slack_clock,
        policy=policy,
        storage=storage,
        slack_settings=slack_settings,
    ) as sims:
        service, serving = start_stack(sims, clock=clock)
        world = DemoWorld(
            sims.slack,
            sims.xapi,
            sims.config_path,
            sims.endpoints_path,
            service=service,
            serving=serving,
        )
        try:
            yield world
        finally:
            serving.stop()
            service.close()


def _wait_connected(slack: SlackSim, timeout: float = 10.0) -> None:
    wait_until(slack.socket.links, timeout)


def wait_until(condition: Callable[[], Any], timeout: float = 30.0) -> Any:
    """Wait (bounded, in real time) for something the bot does in its own threads."""
    pause = threading.Event()
    deadline = time.monotonic() + timeout
    while not (value := condition()):
        if time.monotonic() > deadline:
            raise TimeoutError(f"nothing happened within {timeout:g} s")
        pause.wait(0.01)
    return value


def approval_id_of(message: Seen) -> int:
    """The approval id an approval message's Approve button carries."""
    for block in message.blocks or []:
        for element in block.get("elements") or []:
            if element.get("action_id") == "dr_approve":
                return int(element["value"])
    raise ValueError(f"no Approve button in {message.text!r}")


# ---- the story ---------------------------------------------------------------------------------


class Story:
    """The demo's scenes, each waiting (bounded) for what the bot shows."""

    def __init__(self, world: DemoWorld) -> None:
        self.world = world
        self.runs: list[int] = []

    def say(self, who: str, what: str) -> None:
        console.print(MSG["act"].format(who=who, what=what), style="bold", markup=False)

    def ask_for_approval(self, who: str, text: str) -> Seen:
        """`who` types a run command; returns the approval message the bot posted."""
        self.say(who, f"/dr {text}")
        since = self.world.command(who, text)
        approval = self.world.wait_bot(
            since, lambda e: e.kind in ("message", "thread_reply") and "approval" in e.text.lower()
        )
        self.world.threads.append(approval.ts or "")
        return approval

    def approve(self, who: str, approval: Seen) -> None:
        """`who` clicks Approve (and confirms); waits for the bot's answer to the click."""
        self.say(who, "clicks Approve (and confirms)")
        since = self.world.slack.record.last_seq()
        self.world.slack.person(who).click(CHANNEL, approval.ts or "", action_id="dr_approve")
        answer = self.world.wait_bot(since, timeout=60)
        if answer.kind == "ephemeral":  # a refusal only the clicker sees: show it here
            _print_wrapped(MSG["only_they_see"].format(who=who, text=answer.text))

    def run_of(self, approval: Seen) -> int:
        run_id = self.world.started_run(approval)
        self.runs.append(run_id)
        return run_id

    def finish(self, run_id: int) -> RunRecord:
        return self.world.finished(run_id)

    def rearm_dr_metadata(self) -> None:
        """What the failback's pre-check asks a person to do when the failover could not
        (the primary was never seen, so drbot did not know which SRs carried metadata): turn
        on metadata replication on the DR pool's replicated SRs."""
        wiring = self.world.service.wiring
        pair = wiring.pair(None)
        client = wiring.client(pair.dr)
        for ref, sr in client.get_all_records("SR").items():
            if sr.get("type") == "lvmoiscsi" and sr.get("shared"):
                client.call("SR.enable_database_replication", ref)

    def play(self) -> bool:
        w = self.world
        console.print(Rule(MSG["step_status"]))
        self.say("olivia", "/dr status")
        since = w.command("olivia", "status")
        w.wait_bot(since)

        console.print(Rule(MSG["step_drill"]))
        approval = self.ask_for_approval("olivia", "test-failover all --disable-ha")
        self.approve("alex", approval)
        drill = self.finish(self.run_of(approval))

        console.print(Rule(MSG["step_disaster"]))
        self.say("the primary site", "loses power (sim/xapi control API)")
        w.control("/sites/primary/fail")

        console.print(Rule(MSG["step_failover"]))
        approval = self.ask_for_approval("olivia", "failover all --reason primary site lost power")
        console.print(Rule(MSG["pending"]))
        _print_wrapped(w.slack.person("alex").screen(CHANNEL, thread_ts=approval.ts))
        self.approve("olivia", approval)  # refused: the requester
        self.approve("victor", approval)  # refused: a viewer
        self.approve("alex", approval)
        self.approve("priya", approval)
        failover = self.finish(self.run_of(approval))

        console.print(Rule(MSG["step_restore"]))
        self.say("the primary site", "is powered on again (sim/xapi control API)")
        w.control("/sites/primary/restore")

        self.say("the storage admin", MSG["rearm"])
        self.rearm_dr_metadata()

        console.print(Rule(MSG["step_failback"]))
        approval = self.ask_for_approval("olivia", "failback all --reason primary site restored")
        self.approve("alex", approval)
        self.approve("priya", approval)
        failback = self.finish(self.run_of(approval))
        return all(
            r.state in ("succeeded", "partially-succeeded") for r in (drill, failover, failback)
        )


def show_conversation(world: DemoWorld, who: str = "olivia") -> None:
    """Print the channel and each thread as `who` sees them, at 80 columns."""
    person = world.slack.person(who)
    console.print(Rule(MSG["conversation"].format(channel=CHANNEL)))
    _print_wrapped(person.screen(CHANNEL))
    for ts in world.threads:
        console.print(Rule(MSG["thread"].format(time=_clock_time(ts))))
        _print_wrapped(person.screen(CHANNEL, thread_ts=ts))


def show_summaries(world: DemoWorld, runs: list[int]) -> None:
    console.print(Rule(MSG["summaries"]))
    for run_id in runs:
        run = world.service.wiring.store.runs.get(run_id)
        console.print(
            MSG["summary_line"].format(
                id=run_id,
                kind=run.kind,
                target=run.target,
                state=run.state,
                error=f" ({run.error})" if run.error else "",
            ),
            markup=False,
        )


def show_drill_report(world: DemoWorld, run_id: int, out: Path, who: str = "olivia") -> None:
    """Check readiness and post the report of the drill `run_id` to #dr-reports (charts and CSV
    in its thread), as the schedules do; print that channel and thread as `who` sees them,
    and write the report's files to `out`."""
    if world.serving.reports is None:
        return
    world.serving.reports.check_readiness()  # a readiness sample for the RPO chart (and alerts)
    ts, paths = world.serving.reports.post_drill_report(run_id, out)
    person = world.slack.person(who)
    console.print(Rule(MSG["report"]))
    _print_wrapped(person.screen("dr-reports"))
    console.print(Rule(MSG["thread"].format(time=_clock_time(ts))))
    _print_wrapped(person.screen("dr-reports", thread_ts=ts))
    console.print(MSG["report_files"].format(page=paths[-1], png=paths[0]), markup=False)


def _clock_time(ts: str | None) -> str:
    """A Slack message ts as people see it in the client: the time it was posted."""
    from datetime import UTC, datetime

    return datetime.fromtimestamp(float(ts or 0), UTC).strftime("%H:%M:%S UTC")


def _print_wrapped(text: str) -> None:
    for line in text.splitlines():
        indent = len(line) - len(line.lstrip())
        wrapped = textwrap.wrap(
            line, WIDTH, subsequent_indent=" " * (indent + 2), break_long_words=True
        ) or [""]
        for part in wrapped:
            console.print(part, markup=False, highlight=False)


def interactive(world: DemoWorld) -> None:
    """Type commands as a person, click buttons by number."""
    from sim.slack.actors import ActorError

    user = "olivia"
    console.print(MSG["interactive"].format(user=user), markup=False)
    while True:
        try:
            line = input(f"{user}> ").strip()
        except EOFError:
            _let_runs_finish(world)
            return
        if line in ("quit", "exit"):
            _let_runs_finish(world)
            return
        if line.startswith("as "):
            wanted = line[3:].strip()
            try:
                world.slack.person(wanted)
            except ActorError as error:  # a person's typo: say who there is, keep going
                console.print(str(error), markup=False)
                continue
            user = wanted
            console.print(MSG["now_as"].format(user=user), markup=False)
        elif line.startswith("/dr"):
            since = world.command(user, line[3:].strip())
            _print_changes(world, user, since)
        elif line.startswith("click "):
            since = world.slack.record.last_seq()
            if _click_number(world, user, line[6:].strip()):
                _print_changes(world, user, since)
        elif line == "screen":
            _print_wrapped(world.slack.person(user).screen(CHANNEL))
        else:
            console.print(MSG["unknown_input"], markup=False)


def _print_changes(world: DemoWorld, user: str, since: int) -> None:
    """What the bot's answer changed on `user`'s screen since record position `since`: each
    message posted, edited or shown only to them, once, as it looks now."""
    from sim.slack import blockkit

    try:
        world.wait_bot(since, timeout=30)
    except TimeoutError:
        pass
    world.serving.bot.worker.wait_idle(5)  # an answer may come in several messages
    person = world.slack.person(user)
    latest: dict[str, Seen] = {}
    for entry in world.slack.record.entries(visible_to=person.id, since=since):
        if entry.ts and entry.kind in ("message", "thread_reply", "ephemeral", "edit"):
            latest[entry.ts] = entry
    if not latest:
        console.print(MSG["nothing_new"].format(user=user), markup=False)
        return
    lines = []
    for entry in latest.values():
        tags = " (only visible to you)" if entry.kind == "ephemeral" else ""
        tags += " (edited)" if entry.kind == "edit" else ""
        tags += " (in a thread)" if entry.thread_ts and entry.thread_ts != entry.ts else ""
        who = person.world.name_of(entry.user) if entry.user else "drbot"
        lines.append(MSG["new_entry"].format(who=who, tags=tags))
        rendered = blockkit.render(entry.text, entry.blocks, person.world.name_of)
        lines += ["  " + text for text in rendered.text.splitlines()]
    _print_wrapped("\n".join(lines))


def _click_number(world: DemoWorld, user: str, number: str) -> bool:
    """Click button `number` of the newest message with buttons `user` sees; whether a
    click reached the bot (a typo or a button that is gone is said, and nothing else)."""
    person = world.slack.person(user)
    entries = world.slack.record.entries(visible_to=person.id)
    for entry in reversed(entries):
        if entry.blocks and any(b.get("type") == "actions" for b in entry.blocks) and entry.ts:
            try:
                person.click(entry.channel, entry.ts, number=int(number))
            except Exception as error:  # a person's typo: say so, keep going
                console.print(str(error), markup=False)
                return False
            return True
    console.print(MSG["no_buttons"], markup=False)
    return False


def _let_runs_finish(world: DemoWorld, timeout: float = 300.0) -> None:
    """Before the simulators stop, wait (bounded) for runs still going: stopping under a run
    would leave it interrupted mid-step and its thread without a summary."""
    from store.states import RunState

    world.serving.bot.worker.wait_idle(60)  # a click being handled may be starting a run
    live = {RunState.QUEUED, RunState.RUNNING, RunState.ABORTING}
    runs = world.service.wiring.store.runs.list(states=live)
    if runs:
        console.print(
            MSG["finishing"].format(runs=", ".join(str(r.id) for r in runs)), markup=False
        )
    for run in runs:
        try:
            world.finished(run.id, timeout)
        except TimeoutError:
            console.print(MSG["failed"].format(what=f"run {run.id} still going"), markup=False)


# Left in every --state-dir the demo made: only such a directory is ever wiped.
DEMO_MARKER = ".drbot-demo"


def wipe_state_dir(state_dir: Path) -> None:
    """Empty `state_dir` for a new demo, then mark it as the demo's. A directory that holds
    files but not the marker (`--state-dir .`, a home directory, a typo) is refused, never
    deleted."""
    from bot.ops.output import fail

    if state_dir.exists():
        if state_dir.is_dir() and not any(state_dir.iterdir()):
            pass
        elif not (state_dir / DEMO_MARKER).is_file():
            raise fail(MSG["not_ours"].format(path=state_dir, marker=DEMO_MARKER))
        else:
            shutil.rmtree(state_dir)
    state_dir.mkdir(parents=True, exist_ok=True)
    (state_dir / DEMO_MARKER).write_text("made by drbot demo: wiped at its next start\n")


def demo(
    state_dir: Annotated[
        Path,
        typer.Option(
            help="Where the demo keeps its files (a directory it made is wiped at the start)."
        ),
    ] = Path("var/demo"),
    speed: Annotated[
        float, typer.Option(help="How much faster than real time the simulated hosts run.")
    ] = 50.0,
    keep_running: Annotated[
        bool, typer.Option(help="Keep everything up afterwards, until Ctrl-C.")
    ] = False,
    interactive_mode: Annotated[
        bool,
        typer.Option("--interactive", help="Type commands as a person and click buttons."),
    ] = False,
) -> None:
    """The story in Slack: status, a test failover, a disaster, a failover with two approvers,
    and a failback, against both simulators on loopback."""
    wipe_state_dir(state_dir)
    console.print(MSG["starting"].format(scenario="demo", speed=speed), markup=False)
    with demo_world(state_dir, speed=speed) as world:
        console.print(
            MSG["files"].format(endpoints=world.endpoints_path, config=world.config_path),
            markup=False,
        )
        console.print(MSG["people"], markup=False)
        ok = True
        if interactive_mode:
            interactive(world)
        else:
            story = Story(world)
            try:
                ok = story.play()
            except TimeoutError as error:
                console.print(MSG["failed"].format(what=error), markup=False)
                ok = False
            show_conversation(world)
            show_summaries(world, story.runs)
            if story.runs:
                show_drill_report(world, story.runs[0], state_dir)
        if keep_running:
            console.print(
                MSG["try"].format(config=world.config_path, endpoints=world.endpoints_path),
                markup=False,
            )
            done = threading.Event()
            for sig in (signal.SIGINT, signal.SIGTERM):
                signal.signal(sig, lambda *_: done.set())
            done.wait()
    console.print(MSG["stopped"], markup=False)
    if not ok:
        raise typer.Exit(1)
