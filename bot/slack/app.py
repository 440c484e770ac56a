"""The Slack bot: a Bolt app over the commands service, and everything that keeps Slack in
step with it (approval messages, progress, summaries, the storage step, App Home, the audit
channel, interrupted runs).

`SlackBot` is a thin adapter. Listeners (`bot.slack.listeners`) ack within Slack's 3 seconds
and hand the work to the bot's own `Worker`; the work turns what a person typed or clicked
into a `commands` request, calls `Service.dispatch(request, actor)`, and renders the typed
result (`bot.slack.blocks`). What the service decides (who may, approvals, runs) is never
decided here. Service events (run progress, approvals changing) keep the messages current.

    bot = SlackBot(config, service, clock=SystemClock())
    bot.start()                         # progress flusher, audit feed, approval expiry
    SocketModeHandler(bot.app, app_token).connect()
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterable
from datetime import datetime
from functools import partial
from typing import Any

from slack_bolt import App
from slack_sdk import WebClient

from bot.logs import bound
from bot.slack import blocks, estate_blocks, listeners
from bot.slack import messages as m
from bot.slack.audit_feed import AuditFeed
from bot.slack.config import SlackConfig
from bot.slack.pacing import ConnectionErrors, PacedClient, Pacer, RetryAfter, ServerErrors
from bot.slack.poster import Poster, Reply
from bot.slack.progress import TERMINAL, ProgressBoard
from bot.slack.reasons import PendingReasons
from bot.slack.storage_notices import StorageNotices
from bot.slack.threads import RunThread, Threads
from bot.slack.worker import Worker
from commands.actor import Actor
from commands.events import ApprovalEvent, ServiceEvent
from commands.requests import Request, ShowRequest
from commands.results import (
    ApprovalOpened,
    ApprovalUpdated,
    ApprovalView,
    AuditList,
    EstateResult,
    HelpResult,
    Invalid,
    PlanResult,
    ReasonNeeded,
    Refused,
    Result,
    RunsList,
    RunStarted,
    RunSummary,
    RunUpdated,
    RunView,
    StatusResult,
    StorageStep,
)
from commands.service import Service
from commands.views import storage
from engine.clock import Clock, SystemClock
from engine.events import RunEvent
from engine.models import Plan
from store.states import RunState

log = logging.getLogger(__name__)

EXPIRY_EVERY = 30.0  # seconds between sweeps for expired approvals
HOME_USERS = 200  # people whose App Home is refreshed when a run changes state
PLANS_KV = "slack-approval-plans"  # approval id -> the plan it was opened with
TO_POST = "post_to"  # an approval's refs: where its message goes, kept before it is posted
# Run states in which no storage step is waited for any more (the run ended or is undone).
STORAGE_OVER = TERMINAL | {"aborting"}


def make_client(config: SlackConfig, clock: Clock | None = None) -> PacedClient:
    """The WebClient every call goes through: each call waits its turn within Slack's rate
    tiers, a 429 is waited out (Retry-After, for every caller of the method) and retried up
    to 5 times, lost connections and Slack's 5xx a few times (`bot.slack.pacing`)."""
    kwargs: dict[str, Any] = {"token": config.bot_token.get_secret_value(), "timeout": 15}
    if config.api_url:
        kwargs["base_url"] = config.api_url
    clock = clock or SystemClock()
    pacer = Pacer(clock)
    client = PacedClient(pacer, **kwargs)
    client.retry_handlers = [ConnectionErrors(clock), RetryAfter(pacer), ServerErrors(clock)]
    return client


def slack_members(client: WebClient) -> Callable[[str], Iterable[str]]:
    """A user group's members, for the service's policy (it caches them)."""

    def members(group_id: str) -> list[str]:
        return list(client.usergroups_users_list(usergroup=group_id)["users"])

    return members


class SlackBot:
    """The Bolt app and its helpers, built around one `Service`."""

    def __init__(
        self,
        config: SlackConfig,
        service: Service,
        *,
        clock: Clock,
        client: WebClient | None = None,
        next_drill: Callable[[], datetime | None] | None = None,
    ) -> None:
        self.config = config
        self.service = service
        self.store = service.wiring.store
        self.clock = clock
        self.client = client or make_client(config, clock)
        self.poster = Poster(self.client)
        self.poster.on_back = self._slack_back
        self.threads = Threads(self.store)
        self.worker = Worker(config.workers, after_job=self._release_connections)
        self.next_drill = next_drill or (lambda: None)
        # Last and next run of each scheduled report, for `/dr status` (set by start_bot).
        self.schedule_lines: Callable[[], list[str]] = list
        self.app = App(
            client=self.client,
            signing_secret=(
                config.signing_secret.get_secret_value() if config.signing_secret else ""
            ),
            # Socket Mode needs no signature: the WebSocket is authenticated by the app token.
            request_verification_enabled=config.mode == "http",
            process_before_response=False,
        )
        self.board = ProgressBoard(
            self.poster,
            self.threads,
            clock,
            interval=config.progress_interval_seconds,
            summarise=self._summary,
            on_state=self._run_state_changed,
            apps_of=self._apps_of,
            on_written=self._progress_written,
        )
        self.audit = (
            AuditFeed(
                self.store,
                self.poster,
                config.channels.audit,
                clock,
                batch=config.audit_batch_size,
                every=config.audit_batch_seconds,
                anchor_every=config.audit_anchor_minutes * 60,
            )
            if config.channels.audit
            else None
        )
        self._plans = self.store.kv(PLANS_KV)
        self.storage = StorageNotices(self.store)
        self.reasons = PendingReasons(self.store)
        self._storage_lock = threading.Lock()
        # Approvals whose message could not be edited (Slack down): edited when it is back.
        self._stale_approvals: dict[int, None] = {}
        self._stale_lock = threading.Lock()
        self._approval_posts = threading.Lock()
        self._home_users: dict[str, None] = {}  # insertion-ordered set, newest last
        self._homes_lock = threading.Lock()
        self._homes_due = False
        self._publishing_homes = threading.Lock()
        self._names: dict[str, str] = {}
        self._stop = threading.Event()
        self._sweeper = threading.Thread(target=self._sweep, name="drbot-expiry", daemon=True)
        self._unsubscribe: Callable[[], None] | None = None
        listeners.register(self)

    # ---- lifecycle ---------------------------------------------------------------------------

    def start(self) -> None:
        """Follow the service's events and start the background posters."""
        self._unsubscribe = self.service.subscribe(self.on_event)
        self.board.start()
        if self.audit:
            self.audit.start()
        self._sweeper.start()

    def stop(self) -> None:
        self._stop.set()
        if self._unsubscribe:
            self._unsubscribe()
        self.board.stop()
        if self.audit:
            self.audit.stop()
        self.worker.close()

    def _release_connections(self) -> None:
        """Close the XAPI connections a worker thread opened while the service planned or read
        readiness for a request: the client keeps connections per thread, and a pool thread's
        would otherwise linger until garbage collection."""
        self.service.wiring.release_thread()

    def _sweep(self) -> None:
        while not self._stop.wait(EXPIRY_EVERY):
            try:
                self.service.expire_approvals()
            except Exception:
                log.exception("approval expiry sweep failed")

    # ---- who asks ----------------------------------------------------------------------------

    def actor(self, user_id: str, channel: str | None, fallback_name: str = "") -> Actor:
        return Actor(
            id=user_id, name=self.name_of(user_id, fallback_name), via="slack", channel=channel
        )

    def name_of(self, user_id: str, fallback: str = "") -> str:
        """A person's name as Slack shows it: display name, else real name (many people never
        set a display name), else the handle; cached."""
        if user_id not in self._names:
            try:
                profile = self.client.users_info(user=user_id)["user"]
                p = profile.get("profile") or {}
                self._names[user_id] = (
                    p.get("display_name") or p.get("real_name") or profile.get("name") or fallback
                )
            except Exception:  # a name is a nicety; never fail a request for it
                return fallback
        return self._names[user_id]

    # ---- requests ----------------------------------------------------------------------------

    def handle(self, request: Request, actor: Actor, reply: Reply) -> None:
        """Dispatch one request and answer it (on the worker); its log lines name the actor."""
        with bound(actor=actor.label):
            self.render(self.service.dispatch(request, actor), actor, reply)

    def submit(self, job: Callable[[], None], reply: Reply | None) -> None:
        """Run `job` on the worker; a failure tells the person, without a traceback."""

        def apologise(_: BaseException) -> None:
            if reply is not None:
                reply.private(self.poster, blocks.note(m.FAILED))

        self.worker.submit(job, on_error=apologise)

    def render(self, result: Result, actor: Actor, reply: Reply) -> None:
        """Show a result where it belongs."""
        if isinstance(result, Invalid):
            reply.private(
                self.poster, blocks.error_reply(result.message, result.usage, result.suggestion)
            )
        elif isinstance(result, Refused):
            reply.private(self.poster, blocks.refused(result.reason, result.hint))
            if result.plan is not None and result.code == "blocked":
                reply.private(self.poster, blocks.plan_reply(result.plan))
        elif isinstance(result, ReasonNeeded):
            reply.private(self.poster, blocks.error_reply(m.REASON_EMPTY))
        elif isinstance(result, HelpResult):
            reply.private(self.poster, blocks.help_reply(result))
        elif isinstance(result, StatusResult):
            reply.public(self.poster, blocks.status_reply(result, self.schedule_lines()))
        elif isinstance(result, PlanResult):
            reply.public(self.poster, blocks.plan_reply(result.plan))
        elif isinstance(result, RunsList):
            reply.public(self.poster, blocks.runs_reply(result))
        elif isinstance(result, RunView):
            reply.public(self.poster, blocks.show_reply(result))
        elif isinstance(result, AuditList):
            reply.private(self.poster, blocks.audit_reply(result))
        elif isinstance(result, ApprovalOpened):
            self.open_approval(result.approval, result.plan, reply)
        elif isinstance(result, ApprovalUpdated):
            pass  # the service's ApprovalEvent edits the message (one edit per change)
        elif isinstance(result, RunStarted):
            self.run_started(result, reply)
        elif isinstance(result, EstateResult):
            estate_blocks.show(self, result, reply)
        elif isinstance(result, RunUpdated):
            text = m.RUN_UPDATED.format(user=actor.id, run_id=result.run.id, action=result.action)
            if result.storage_step is not None:
                self.close_storage(
                    result.run.id,
                    result.storage_step,
                    m.STORAGE_CONFIRMED.format(user=actor.id, at=blocks.when(self.clock.now())),
                )
            where = self.threads.get(result.run.id)
            if where is not None:
                self.poster.post(where.channel, blocks.note(text), thread_ts=where.thread_ts)
            else:
                reply.public(self.poster, blocks.note(text))

    # ---- approvals ---------------------------------------------------------------------------

    def open_approval(self, approval: ApprovalView, plan: Plan, reply: Reply) -> None:
        """Post a new approval request: in the thread it was asked from (a mention in a
        thread, or a superseded approval's thread), else as the parent of a new thread in the
        channel it was asked in. Where it goes is kept with the approval first: if Slack is
        down, it is posted when Slack answers again (see `_slack_back`)."""
        supersedes: ApprovalView | None = None
        if approval.supersedes is not None:
            supersedes = self.service.approval(approval.supersedes)
            channel = str(supersedes.refs.get("channel") or reply.channel)
            thread_ts = (
                str(supersedes.refs.get("thread_ts") or supersedes.refs.get("ts") or "") or None
            )
        elif approval.run_id is not None and self.threads.get(approval.run_id) is not None:
            run_where = self.threads.get(approval.run_id)
            assert run_where is not None
            channel, thread_ts = run_where.channel, run_where.thread_ts
        else:
            channel, thread_ts = reply.channel, reply.thread_ts
        self._plans[str(approval.id)] = plan.model_dump(mode="json")
        self.service.bind(approval.id, {TO_POST: {"channel": channel, "thread_ts": thread_ts}})
        if supersedes is not None and thread_ts:
            note = m.SUPERSEDED_NOTE.format(
                old=supersedes.plan_hash[:12], new=approval.plan_hash[:12]
            )
            self.poster.post(channel, blocks.note(note), thread_ts=thread_ts)
        self._post_approval(approval.id)

    def _post_approval(self, approval_id: int) -> None:
        """Post the message of an approval kept with where it goes and not posted yet, once
        (a second caller finds it posted), and show any change that came before."""
        with self._approval_posts:
            approval = self.service.approval(approval_id)
            where = approval.refs.get(TO_POST)
            if approval.refs.get("ts") or not isinstance(where, dict):
                return
            channel, thread_ts = str(where["channel"]), where.get("thread_ts")
            thread_ts = str(thread_ts) if thread_ts else None
            message = blocks.approval_message(approval, self.plan_of(approval_id))
            ts = self.poster.post(channel, message, thread_ts=thread_ts)
            bound = self.service.bind(
                approval_id, {"channel": channel, "ts": ts, "thread_ts": thread_ts or ts}
            )
        if bound.state != approval.state or bound.votes != approval.votes:
            # It changed before we knew where its message is (its event came too early to
            # edit it): show its state now.
            self.refresh_approval(bound)

    def refresh_approval(self, approval: ApprovalView) -> None:
        """Edit the approval's message to its current state (buttons only while pending); if
        Slack refuses, it is edited, to its state then, once Slack answers again."""
        channel, ts = approval.refs.get("channel"), approval.refs.get("ts")
        if not channel or not ts:
            return
        try:
            self.poster.update(
                str(channel), str(ts), blocks.approval_message(approval, self.plan_of(approval.id))
            )
        except Exception:
            with self._stale_lock:
                self._stale_approvals[approval.id] = None
            raise

    def _slack_back(self) -> None:
        """Slack answers again after refusing writes: post the approvals asked for meanwhile,
        edit the approval messages that missed a change, and post the storage step of any
        paused run that lacks it."""
        with self._stale_lock:
            stale, self._stale_approvals = list(self._stale_approvals), {}
        for approval_id in stale:
            self.submit(partial(self._refresh_approval_id, approval_id), None)
        for pending in self.service.desk.pending():
            if not pending.refs.get("ts") and pending.refs.get(TO_POST):
                self.submit(partial(self._post_approval, pending.id), None)
        for run in self.store.runs.list(limit=50, states={RunState.PAUSED}):
            self.submit(partial(self._post_paused_step, run.id), None)

    def _refresh_approval_id(self, approval_id: int) -> None:
        self.refresh_approval(self.service.approval(approval_id))

    def plan_of(self, approval_id: int) -> Plan | None:
        """The plan an approval was opened with (kept in the store: a message refreshed by
        another process or after a restart still shows it)."""
        raw = self._plans.get(str(approval_id))
        return Plan.model_validate(raw) if raw else None

    def run_started(self, result: RunStarted, reply: Reply) -> None:
        """Give the run its thread: its approval's, else a new one in the asking channel."""
        approval = result.approval
        if approval is not None and approval.refs.get("channel"):
            channel = str(approval.refs["channel"])
            thread_ts = str(approval.refs.get("thread_ts") or approval.refs["ts"])
        else:
            channel = reply.channel
            thread_ts = reply.thread_ts or self.poster.post(
                channel, blocks.plan_reply(result.plan), thread_ts=None
            )
        self.threads.attach(result.run.id, channel, thread_ts)
        view = self.service.dispatch(ShowRequest(run_id=result.run.id), self._system())
        if isinstance(view, RunView) and view.storage_step is not None:
            self.post_storage(result.run.id, view.storage_step)  # it paused before we knew
        self.board.begin(
            result.run.id,
            result.run.kind,
            result.run.target,
            {vm.name: app.name for app in result.plan.appliances for vm in app.vms}
            | {vm.name: "" for vm in result.plan.standalone_vms},
        )

    # ---- service events (any thread) -------------------------------------------------------

    def on_event(self, event: ServiceEvent) -> None:
        if isinstance(event, RunEvent):
            self.board.note(event)
            if event.type == "paused":
                self.submit(lambda: self._storage_step(event), None)
            elif event.type == "state" and event.state in STORAGE_OVER:
                # The run ended or is being undone: no storage step is waited for any more.
                text = m.STORAGE_NOT_NEEDED.format(run_id=event.run_id, state=event.state)
                self.submit(lambda: self.close_storage(event.run_id, None, text), None)
            if event.type == "state" and event.state and event.state != "interrupted":
                state = event.state
                self.submit(lambda: self.close_interrupted(event.run_id, state), None)
        elif isinstance(event, ApprovalEvent):
            if event.change != "opened":
                approval = event.approval
                self.submit(lambda: self.refresh_approval(approval), None)
            self.homes_changed()  # what waits for each approver changed

    def _progress_written(self, run_id: int, state: str) -> None:
        """Slack took a paused run's progress: make sure its storage step is on screen too (a
        Done message lost to an outage when the run paused is posted now, once)."""
        if state == "paused":
            self.submit(lambda: self._post_paused_step(run_id), None)

    def _post_paused_step(self, run_id: int) -> None:
        run = self.store.runs.get(run_id)
        step = storage(run.paused_step) if run.state == "paused" else None
        if step is not None:
            self.post_storage(run_id, step)

    def _storage_step(self, event: RunEvent) -> None:
        lun, action = event.extra.get("lun"), event.extra.get("action")
        if lun and action:
            step = StorageStep(lun=str(lun), action=str(action), instruction=event.message)
            self.post_storage(event.run_id, step)

    def post_storage(self, run_id: int, step: StorageStep) -> None:
        """Post the step a run paused at, with Done, in the run's thread, once per step. A run
        that pauses at once may do so before its thread is known: `run_started` then posts
        the step when it attaches the thread."""
        with self._storage_lock:
            where = self.threads.get(run_id)
            if where is None or self.storage.is_open(run_id, step):
                return  # no thread yet, or already on screen (paused again at the same step)
            try:
                ts = self.poster.post(
                    where.channel, blocks.storage_message(run_id, step), thread_ts=where.thread_ts
                )
            except Exception:  # Slack down: posted once the run's progress gets through
                log.exception("storage step of run %s not posted yet", run_id)
                return
            self.storage.add(run_id, where.channel, ts, step)

    def close_storage(self, run_id: int, step: StorageStep | None, outcome: str) -> None:
        """Take the Done button off the messages of `step` (every open one of the run when
        None), saying `outcome`."""
        for notice in self.storage.close(run_id, step):
            self.poster.update(
                notice.channel,
                notice.ts,
                blocks.storage_message(run_id, notice.step, outcome),
                final=True,
            )

    def _system(self) -> Actor:
        return Actor(id="drbot", name="drbot", via="schedule")

    def _summary(self, run_id: int, rto: float | None) -> blocks.Message | None:
        view = self.service.dispatch(ShowRequest(run_id=run_id), self._system())
        if not isinstance(view, RunView):
            return None
        if rto is None:
            rows = list(
                self.store.db.query(
                    "SELECT rto_seconds FROM drills WHERE run_id = ? ORDER BY id DESC LIMIT 1",
                    [run_id],
                )
            )
            rto = rows[0]["rto_seconds"] if rows else None
        return blocks.summary_message(view, rto)

    def _apps_of(self, run_id: int) -> dict[str, str]:
        """VM name -> vApp of the run's VMs in a vApp, as its recorded outcome has them."""
        vms = self.store.runs.get(run_id).outcome.vms.values()
        return {vm.name: vm.appliance for vm in vms if vm.appliance}

    def _run_state_changed(self, run_id: int, state: str) -> None:
        self.homes_changed()

    # ---- App Home ----------------------------------------------------------------------------

    def homes_changed(self) -> None:
        """Refresh the App Home of everyone who opened it (a run or an approval changed);
        changes that come while a refresh is waiting share it."""
        with self._homes_lock:
            if self._homes_due or not self._home_users:
                return
            self._homes_due = True
        self.submit(self._refresh_homes, None)

    def _refresh_homes(self) -> None:
        with self._homes_lock:
            self._homes_due = False
            users = list(self._home_users)[-HOME_USERS:]
        # Readiness and runs are read once for everyone (reading the pools takes seconds, and
        # each read is audited): as drbot, then shown to those who hold a role.
        self._publish_homes(users, self._system())

    def publish_home(self, user_id: str) -> None:
        """A person opened App Home: publish theirs, read as them."""
        with self._homes_lock:
            self._home_users.pop(user_id, None)
            self._home_users[user_id] = None
        self._publish_homes([user_id], self.actor(user_id, None))

    def _publish_homes(self, users: list[str], reader: Actor) -> None:
        """Read and publish under one lock: two refreshes on two worker threads would
        otherwise publish in either order, the older view last."""
        with self._publishing_homes:
            self._publish_homes_now(users, reader)

    def _publish_homes_now(self, users: list[str], reader: Actor) -> None:
        from commands.requests import RunsRequest, StatusRequest

        status = self.service.dispatch(StatusRequest(), reader)
        runs = self.service.dispatch(RunsRequest(limit=10), reader)
        for user_id in users:
            actor = self.actor(user_id, None)
            if self.service.role_of(actor) is None:
                view = blocks.home_view(None, m.HELP_NO_ROLE, [], [], self.next_drill())
            else:
                approvals = [(a, self.plan_of(a.id)) for a in self.service.pending_approvals(actor)]
                view = blocks.home_view(
                    status if isinstance(status, StatusResult) else None,
                    getattr(status, "reason", None),
                    approvals,
                    runs.runs if isinstance(runs, RunsList) else [],
                    self.next_drill(),
                )
            try:
                self.client.views_publish(user_id=user_id, view=view)
            except Exception:  # one person's Home must not stop the others'
                log.exception("App Home of %s not published", user_id)

    # ---- at start ----------------------------------------------------------------------------

    def announce_interrupted(self, runs: list[RunSummary]) -> None:
        """Post each interrupted run, in its own thread, with Resume / Abort."""
        requests = self.config.channels.requests
        if requests is None:
            return  # `drbot serve` refuses to start without one (SlackConfig.ready)
        for run in runs:
            where = self.threads.get(run.id) or RunThread(
                channel=requests,
                thread_ts=self.poster.post(
                    requests,
                    blocks.note(
                        m.PROGRESS_HEADER.format(
                            title=m.ACTION_TITLE.get(run.kind, run.kind),
                            run_id=run.id,
                            state=run.state,
                        )
                    ),
                ),
            )
            self.threads.put(run.id, where)
            view = self.service.dispatch(ShowRequest(run_id=run.id), self._system())
            done = "-"
            if isinstance(view, RunView):
                finished = [s for s in view.steps if s.status == "done"]
                done = (
                    f"{len(finished)} of {len(view.steps)} steps" if view.steps else "nothing yet"
                )
            ts = self.poster.post(
                where.channel, blocks.interrupted_message(run, done), thread_ts=where.thread_ts
            )
            self.threads.interrupted_posted(run.id, ts)

    def close_interrupted(self, run_id: int, state: str) -> None:
        """The run is no longer interrupted (resumed, aborting, ended): its Resume / Abort
        message says so and loses its buttons."""
        where = self.threads.get(run_id)
        ts = self.threads.take_interrupted(run_id)
        if where is None or ts is None:
            return
        self.poster.update(
            where.channel,
            ts,
            blocks.note(m.INTERRUPTED_OVER.format(run_id=run_id, state=state)),
            final=True,
        )
