"""Requests over many pools: `site:NAME` and `all pools` as a TARGET, and the run history of
one protected pool.

A request over several pools is one run per protected pool (`engine.topology.pairs_in_scope`),
each recovering all of its pool's VMs, under one decision:
- every pool is planned (in parallel: the pools answer over the network); if any plan has a
  blocker (the split-brain guard among them) nothing starts and every blocker is named;
- a failover's pools that share a DR pool must fit there together (`engine.capacity`), else
  nothing starts; a test failover's runs clean up one after another, so they need not;
- one approval covers the whole request, bound to the hash of every pool's plan hash; when
  the quorum is reached every pool is planned again and must hash the same;
- runs into the same DR pool go one after another, in a queue per DR pool (FIFO across
  requests), with each pool's place shown; runs into different DR pools go in parallel;
- a run holding a pool that waits for a person (`RunConflict.waits_for_person`: interrupted,
  its process gone, or paused at a manual step) keeps it until that person resumes or aborts
  it: a queue does not wait for that. Each pool it holds is reported `held` ("held by run N
  (paused: needs a person)", and what to type), the pool's own paused run `paused`, and the
  queue goes on with its other pools, as do the other DR pools' queues; the one exception is
  a run of the request itself paused at a storage step (the manual adapter pauses every run
  there): that is the storage team's part of the work, so its queue waits for their Done;
- when every pool's run has ended or waits for a person, one summary of the whole request
  (`EstateResult`, phase `finished`) is published (`EstateEvent`) and kept for `wait`.

The threads a request starts (its planners, its queue's work, its summary) run in a copy of
the context of the request that asked (`contextvars`), so what they log carries the person
the front end bound there (bot/logs.py).

Why a queue rather than one combined plan: each pool keeps its own plan, journal, lease, run id
and resume/abort, exactly as when run alone, so an interrupted pool is resumed or aborted alone
and the runner, journal and kinds need nothing new; a combined plan would be a second run
model for the engine to get right. What a combined plan would add, the sum into a shared DR
pool, is checked here before anything starts (docs/contracts/commands.md).
"""

from __future__ import annotations

import contextvars
import hashlib
import logging
import threading
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

from commands import messages as m
from commands.actor import Actor
from commands.approvals import Desk
from commands.events import EstateEvent
from commands.requests import (
    REQUEST,
    EstateScope,
    FailbackRequest,
    FailoverRequest,
    PlanRequest,
    RunRequest,
    TestFailoverRequest,
)
from commands.results import (
    ApprovalView,
    EstateItem,
    EstateResult,
    Refused,
    Result,
    RunSummary,
)
from commands.views import run_summary
from commands.wiring import Wiring
from engine import capacity, topology
from engine.config import PoolPair
from engine.errors import DRError, RunConflict
from engine.events import RunEvent
from engine.models import Check, Plan
from engine.readiness import dr_room
from store import ACTIVE, HOLDS_POOL, Kind, RunRecord, RunState, Store

log = logging.getLogger(__name__)

# A run in these states will not end by itself: only a person's resume or abort moves it on.
WAITS_FOR_PERSON = frozenset({RunState.PAUSED, RunState.INTERRUPTED})

# Runs read to find a protected pool's newest ones: the history is filtered here, not in SQL
# (the pool is in the stored plan), so a pool whose runs are older than this many is not shown.
RUNS_SCANNED = 5000
PLANNERS = 8  # pools planned at once (threads waiting on XAPI)
# How often a queue looks again at a run driven by another process (this process's runs wake
# it through their events at once).
POLL_SECONDS = 5.0


def runs_of(store: Store, limit: int, pool: str | None) -> list[RunSummary]:
    """The newest `limit` runs, or the newest `limit` of protected pool `pool`."""
    if pool is None:
        return [run_summary(r) for r in store.runs.list(limit=limit)]
    found = []
    for record in store.runs.list(limit=RUNS_SCANNED):
        summary = run_summary(record)
        if summary.protected_pool == pool:
            found.append(summary)
            if len(found) == limit:
                break
    return found


def combined_hash(plans: list[tuple[PoolPair, Plan]]) -> str:
    """The hash one approval binds: every pool's pair and plan hash, in order."""
    text = "\n".join(f"{pair.protected}:{pair.dr}:{plan.hash}" for pair, plan in plans)
    return hashlib.sha256(text.encode()).hexdigest()


@dataclass
class _Item:
    pair: PoolPair
    plan: Plan
    position: int = 1
    state: str = "planned"
    run_id: int | None = None
    note: str = ""
    preview: bool = False
    """A dry run's item: its view carries the whole plan."""

    def view(self) -> EstateItem:
        return EstateItem(
            protected=self.pair.protected,
            dr=self.pair.dr,
            plan_hash=self.plan.hash,
            vms=len(self.plan.vms),
            vapps=len(self.plan.appliances),
            srs=len({lun.sr_uuid or lun.sr_name for lun in self.plan.luns}),
            blockers=len(self.plan.blockers),
            warnings=len(self.plan.warnings),
            estimated_rto_seconds=self.plan.estimated_rto_seconds,
            position=self.position,
            state=self.state,
            run_id=self.run_id,
            note=self.note,
            plan=self.plan if self.preview else None,
        )


@dataclass
class _Request:
    id: str
    kind: str
    scope: str
    items: list[_Item]
    plan_hash: str
    requested_by: str
    reason: str | None
    capacity: list[str] = field(default_factory=list)
    # The context of the thread that asked: the request's own work runs in copies of it.
    context: contextvars.Context = field(default_factory=contextvars.copy_context)
    finishing: bool = False
    done: threading.Event = field(default_factory=threading.Event)
    """Set once the summary was audited and published: `wait` then returns it."""

    def result(self, phase: str, approval: ApprovalView | None = None) -> EstateResult:
        return EstateResult.model_validate(
            {
                "request_id": self.id,
                "kind": self.kind,
                "scope": self.scope,
                "phase": phase,
                "items": [i.view() for i in self.items],
                "plan_hash": self.plan_hash,
                "capacity": self.capacity,
                "approval": approval,
            }
        )


Publish = Callable[[EstateEvent], None]


class Estate:
    """Plans, approves and queues requests over several pools (see the module docstring)."""

    def __init__(self, wiring: Wiring, desk: Desk, publish: Publish) -> None:
        self.wiring = wiring
        self.desk = desk
        self._publish = publish
        self._cond = threading.Condition()
        self._lanes: dict[str, list[tuple[_Request, _Item]]] = {}
        self._requests: dict[str, _Request] = {}
        self._seen: dict[int, int] = {}  # run id -> events seen (a wake-up is never lost)
        self._unsubscribe: Callable[[], None] | None = None
        self._closed = False

    # -- asking -----------------------------------------------------------------------------

    def plan(self, request: RunRequest, scope: EstateScope) -> _Request | Refused:
        """Plan every pool of `scope`; a refusal names every pool that cannot run."""
        kind = Kind(request.command)
        plans = self._plan_all(request, scope)
        blocked = blocked_pools(plans)
        if blocked:
            return Refused(
                code="blocked",
                reason=m.ESTATE_BLOCKED.format(
                    count=len(blocked), total=len(plans), items="; ".join(blocked)
                ),
                hint=m.ESTATE_BLOCKED_HINT,
            )
        short, unknown = self._capacity(kind, plans)
        if kind is Kind.FAILOVER and short:
            return Refused(
                code="blocked",
                reason=m.ESTATE_CAPACITY.format(items=" ".join(short)),
                hint=m.ESTATE_CAPACITY_HINT,
            )
        return _Request(
            id=uuid.uuid4().hex[:8],
            kind=kind.value,
            scope=scope.label,
            items=[_Item(pair, plan) for pair, plan in plans],
            plan_hash=combined_hash(plans),
            requested_by="",
            reason=request.reason,
            capacity=short + unknown,
        )

    def _plan_all(self, request: RunRequest, scope: EstateScope) -> list[tuple[PoolPair, Plan]]:
        """Every pool of `scope` planned, in parallel, in the order of the configuration."""
        pairs = topology.pairs_in_scope(self.wiring.config, scope.site, request.pool)
        kind = Kind(request.command)
        planned = isinstance(request, FailoverRequest) and request.planned
        disable_ha = isinstance(request, TestFailoverRequest) and request.disable_ha

        def plan_one(pair: PoolPair) -> Plan:
            try:
                return self.wiring.plan(
                    kind,
                    "all",
                    f"{pair.protected}:{pair.dr}",
                    power_after=request.power,
                    planned=planned,
                    disable_ha=disable_ha,
                )
            finally:
                self.wiring.release_thread()

        with ThreadPoolExecutor(max_workers=max(1, min(PLANNERS, len(pairs)))) as pool:
            # In the asker's context (one copy each: a context runs in one thread at a time).
            futures = [pool.submit(contextvars.copy_context().run, plan_one, p) for p in pairs]
            return list(zip(pairs, (f.result() for f in futures), strict=True))

    def _capacity(
        self, kind: Kind, plans: list[tuple[PoolPair, Plan]]
    ) -> tuple[list[str], list[str]]:
        """What would not fit where the plans land together (a test failover is told, a
        failover refused), and the pools whose need is unknown (told, left out of the sum)."""
        if kind is Kind.FAILBACK:
            return [], []  # each pool goes back into its own pool
        by_dr: dict[str, list[tuple[str, int]]] = {}
        unknown = []
        for pair, plan in plans:
            needed = self._needed(pair, plan)
            if needed is None:
                unknown.append(m.ESTATE_NEED_UNKNOWN.format(pool=pair.protected, dr=pair.dr))
                continue
            by_dr.setdefault(pair.dr, []).append((pair.protected, needed))
        short = []
        for dr, pools in by_dr.items():
            if len(pools) < 2:
                continue
            room = dr_room(self.wiring.site(dr))
            if room is not None:
                short += capacity.landing(room, pools).messages()
        return short, unknown

    def preview(self, request: PlanRequest, scope: EstateScope) -> Result:
        """`plan KIND site:NAME` / `all pools`: every pool's plan, nothing started.

        A dry run shows every pool's plan, blocked or not (it is where a person finds out what
        to fix), and says in `would_block` what would keep a real run from starting: the pools
        with blockers (a run of the request starts none of them, one request being one
        decision) and, for a failover, pools that would not fit their DR pool together. It
        refuses nothing itself: only what cannot be planned at all (an unreadable request, no
        pool in scope) is refused."""
        fields: dict[str, object] = {
            "command": request.kind,
            "target": request.target,
            "pool": request.pool,
            "power": request.power,
        }
        if request.kind == "failover":
            fields["planned"] = request.planned
        if request.kind == "test-failover":
            fields["disable_ha"] = request.disable_ha
        run_request = REQUEST.validate_python(fields)
        assert isinstance(run_request, TestFailoverRequest | FailoverRequest | FailbackRequest)
        kind = Kind(run_request.command)
        plans = self._plan_all(run_request, scope)
        short, unknown = self._capacity(kind, plans)
        would_block = blocked_pools(plans)
        if kind is Kind.FAILOVER and short:
            would_block.append(m.ESTATE_PREVIEW_CAPACITY.format(items=" ".join(short)))
            short = []
        preview = _Request(
            id=uuid.uuid4().hex[:8],
            kind=kind.value,
            scope=scope.label,
            items=[_Item(pair, plan, preview=True) for pair, plan in plans],
            plan_hash=combined_hash(plans),
            requested_by="",
            reason=None,
            capacity=short + unknown,
        )
        for item in preview.items:
            item.position = self._ahead(item) + 1
            if item.plan.blockers:
                item.state = "blocked"
                item.note = m.ESTATE_PREVIEW_NOTE.format(names=_names(item.plan.blockers))
        return preview.result("planned").model_copy(update={"would_block": would_block})

    def _needed(self, pair: PoolPair, plan: Plan) -> int | None:
        """The memory `plan`'s VMs will take at the DR pool. A lost site's plan lists no VM
        (only the replicated metadata, read by the run, says which): then the last readiness
        sample of the pair says what its running VMs needed; None when there is none."""
        if plan.vms:
            return sum(v.memory_bytes for v in plan.vms if v.power_after != "leave-off")
        sample = self.wiring.store.history.latest(pair.protected, dr_pool=pair.dr)
        if sample is None or sample["capacity_needed_bytes"] is None:
            return None
        return int(sample["capacity_needed_bytes"])

    def with_site_loss(self, plan: Plan) -> Plan:
        """A failover plan of one pool, with a warning when the loss of its whole site would
        send it and its site's other pools into the same DR pool and they would not fit there
        together (from each pair's last readiness sample: the other pools are not read)."""
        if plan.kind is not Kind.FAILOVER:
            return plan
        config = self.wiring.config
        pair = config.pair_for(f"{plan.source_pool}:{plan.dest_pool}")
        site = config.pools[pair.protected].site
        others = [
            p
            for p in config.pairs
            if p.dr == pair.dr and p.protected != pair.protected
            and config.pools[p.protected].site == site
        ]  # fmt: skip
        own = self.wiring.store.history.latest(pair.protected, dr_pool=pair.dr)
        needed = self._needed(pair, plan)
        if not site or not others or own is None or needed is None:
            return plan
        if own["capacity_free_bytes"] is None:
            return plan
        pools = [(pair.protected, needed)]
        for other in others:
            sample = self.wiring.store.history.latest(other.protected, dr_pool=other.dr)
            if sample is not None and sample["capacity_needed_bytes"] is not None:
                pools.append((other.protected, int(sample["capacity_needed_bytes"])))
        room = capacity.DrRoom(pool=pair.dr, free_bytes=int(own["capacity_free_bytes"]))
        found = capacity.landing(room, pools, site).messages()
        if len(pools) < 2 or not found:
            return plan
        checks = [
            *plan.checks,
            *(Check(name="site-capacity", status="warning", subject=pair.dr, message=text)
              for text in found),
        ]  # fmt: skip
        return plan.model_copy(update={"checks": checks}).sealed()

    def ask(self, request: RunRequest, scope: EstateScope, actor: Actor) -> Result:
        """Plan `request` over `scope` and start it (CLI, scheduler, quorum 0) or open its one
        approval (chat)."""
        planned = self.plan(request, scope)
        if isinstance(planned, Refused):
            return planned
        planned.requested_by = actor.label
        if actor.via != "slack" or self.desk.quorum(request.command) == 0:
            if isinstance(request, FailoverRequest | FailbackRequest) and actor.via == "cli":
                self.wiring.store.audit.append(
                    "BreakGlass",
                    actor.label,
                    {
                        "kind": request.command,
                        "target": request.target,
                        "reason": request.reason,
                        "plan_hash": planned.plan_hash,
                        "pools": [i.pair.protected for i in planned.items],
                    },
                )
            return self.start(planned)
        approval = self.desk.open(
            request.command, request, actor, planned.plan_hash, reason=request.reason
        )
        return planned.result("awaiting-approval", approval)

    def start_approved(
        self, approval: ApprovalView, request: RunRequest, scope: EstateScope, voter: Actor
    ) -> Result:
        """The quorum is reached: plan every pool again; the same hash starts it, another one
        supersedes the approval with a new one (as for one pool)."""
        try:
            planned = self.plan(request, scope)
        except DRError as exc:
            self.desk.close(approval.id, "failed", voter, why=str(exc))
            raise
        if isinstance(planned, Refused) or planned.plan_hash != approval.plan_hash:
            old = self.desk.close(approval.id, "superseded", voter, why=m.PLAN_CHANGED_WHY)
            if isinstance(planned, Refused):
                return planned
            new = self.desk.open(
                approval.action,
                request,
                approval.requester,
                planned.plan_hash,
                reason=approval.reason,
                supersedes=old.id,
            )
            return planned.result("awaiting-approval", new)
        planned.requested_by = approval.requester.label
        result = self.start(planned)
        closed = self.desk.close(approval.id, "started", voter)
        return result.model_copy(update={"approval": closed})

    # -- the queues ---------------------------------------------------------------------------

    def start(self, request: _Request) -> EstateResult:
        """Queue every pool's run behind those already queued into its DR pool; each DR pool's
        queue is worked by its own thread. Returns at once with each pool's place."""
        self._subscribe()
        self.wiring.store.audit.append(
            "EstateRequested",
            request.requested_by,
            {
                "request_id": request.id,
                "kind": request.kind,
                "scope": request.scope,
                "plan_hash": request.plan_hash,
                "pools": {i.pair.protected: i.plan.hash for i in request.items},
            },
        )
        with self._cond:
            self._requests[request.id] = request
            for item in request.items:
                item.position = self._ahead(item) + 1
                lane = self._lanes.setdefault(item.pair.dr, [])
                item.state = "queued"
                lane.append((request, item))
                if len(lane) == 1:
                    threading.Thread(
                        target=self._work,
                        args=(item.pair.dr,),
                        name=f"drbot-queue-{item.pair.dr}",
                        daemon=True,
                    ).start()
            started = request.result("started")
        return started

    def wait(self, request_id: str, timeout: float | None = None) -> EstateResult:
        """Wait (bounded) for every run of a request to end; returns its summary so far."""
        with self._cond:
            request = self._requests.get(request_id)
        if request is None:
            raise DRError(m.ESTATE_UNKNOWN_REQUEST.format(request_id=request_id))
        request.done.wait(timeout)
        with self._cond:
            return request.result("finished" if request.done.is_set() else "started")

    def summary(self, request_id: str) -> EstateResult | None:
        """The request's summary once every run has ended (before or while it is published:
        a listener that subscribes late finds it here), else None; never waits."""
        with self._cond:
            request = self._requests.get(request_id)
            if request is None or not request.finishing:
                return None
            return request.result("finished")

    def close(self) -> None:
        """Start nothing more (runs already started go on in the runner)."""
        with self._cond:
            self._closed = True
            self._cond.notify_all()
        if self._unsubscribe is not None:
            self._unsubscribe()

    def _subscribe(self) -> None:
        with self._cond:
            if self._unsubscribe is None:
                self._unsubscribe = self.wiring.runner.subscribe(self._on_run_event)

    def _on_run_event(self, event: RunEvent) -> None:
        with self._cond:
            self._seen[event.run_id] = self._seen.get(event.run_id, 0) + 1
            self._cond.notify_all()

    def _work(self, dr: str) -> None:
        """One DR pool's queue: each pool's run in turn, until the queue is empty."""
        try:
            while True:
                with self._cond:
                    lane = self._lanes.get(dr) or []
                    if not lane:
                        self._lanes.pop(dr, None)
                        return
                    request, item = lane[0]
                request.context.copy().run(self._run, request, item)
                with self._cond:
                    lane.pop(0)
                    if self._closed:
                        for other_request, other in lane:
                            other.state, other.note = "not-started", m.ESTATE_CLOSED
                            self._ended(other_request)
                        lane.clear()
                    self._ended(request)
        except Exception:  # a queue's bug must not leave its requests waiting for ever
            log.exception("the queue into %s failed", dr)
            with self._cond:
                for other_request, other in self._lanes.pop(dr, []):
                    if other.state in ("queued", "planned"):
                        other.state, other.note = "not-started", m.ESTATE_CLOSED
                    self._ended(other_request)

    def _run(self, request: _Request, item: _Item) -> None:
        """Start `item`'s run once its pools are free, and wait for it to end."""
        runner = self.wiring.runner
        pools = _pools(item.plan)
        while True:
            with self._cond:
                if self._closed:
                    item.state, item.note = "not-started", m.ESTATE_CLOSED
                    return
            runner.reap()  # a run whose process died is interrupted now, not running
            conflict = self._holder(pools)
            if conflict is None:
                try:
                    run_id = runner.start(
                        item.plan, requested_by=request.requested_by, reason=request.reason
                    )
                except RunConflict as exc:
                    conflict = exc  # another process took the pool between our look and start
                except DRError as exc:
                    item.state, item.note = "not-started", str(exc)
                    return
                else:
                    with self._cond:
                        item.run_id, item.state, item.note = run_id, RunState.RUNNING.value, ""
                    self._changed(request)
                    run = self._wait_for(run_id)
                    while run.state is RunState.PAUSED and run.paused_step is not None:
                        # Its storage step is part of this request's own work (the manual
                        # adapter pauses every run there): the storage team's Done resumes it,
                        # so the queue waits for it rather than leave the site's other pools
                        # held behind it, each needing a new request and a new approval.
                        with self._cond:
                            item.state = RunState.PAUSED.value
                            item.note = m.ESTATE_OWN_STORAGE_STEP.format(
                                run_id=run_id, lun=run.paused_step.lun, dr=item.pair.dr
                            )
                        self._changed(request)
                        if not self._wait_while_paused(run_id):
                            break
                        with self._cond:
                            item.state, item.note = RunState.RUNNING.value, ""
                        self._changed(request)
                        run = self._wait_for(run_id)
                    with self._cond:
                        item.state = run.state.value
                        if run.state is RunState.PAUSED:
                            item.note = m.ESTATE_OWN_PAUSED.format(run_id=run_id, dr=item.pair.dr)
                    return
            if conflict.waits_for_person:
                with self._cond:
                    item.state = "held"
                    item.note = m.ESTATE_HELD.format(
                        run_id=conflict.run_id, state=conflict.state, pool=conflict.pool
                    )
                return
            item.note = m.ESTATE_WAITING.format(
                run_id=conflict.run_id, state=conflict.state, pool=conflict.pool
            )
            self._wait_for(conflict.run_id)

    def _ahead(self, item: _Item) -> int:
        """How many runs go into `item`'s DR pool before it: those queued there, or the run
        (of another request, or alone) that holds its pools now."""
        lane = self._lanes.get(item.pair.dr) or []
        if lane:
            return len(lane)
        return 1 if self._holder(_pools(item.plan)) is not None else 0

    def _holder(self, pools: list[str]) -> RunConflict | None:
        """The run that keeps one of `pools` from another run, as the runner would refuse
        the pool (a look before `start`, which records a refused start as a failed run): it
        waits for a person when paused or interrupted (the runner's `reap` has just marked
        interrupted a run whose process is gone)."""
        runs = self.wiring.store.runs
        for pool in pools:
            lease = runs.lease(pool)
            if lease is None:
                continue
            run = runs.get(lease.run_id)
            if run.state in HOLDS_POOL:
                return RunConflict(
                    m.ESTATE_WAITING.format(run_id=run.id, state=run.state.value, pool=pool),
                    pool=pool,
                    run_id=run.id,
                    state=run.state.value,
                    waits_for_person=run.state in WAITS_FOR_PERSON,
                )
        return None

    def _wait_for(self, run_id: int) -> RunRecord:
        """Wait until run `run_id` no longer moves on its own: ended, interrupted, or paused
        for a person. Its events wake this at once; a run of another process is looked at
        every few seconds."""
        store = self.wiring.store
        while True:
            with self._cond:
                seen = self._seen.get(run_id, 0)
            run = store.runs.get(run_id)
            if run.state not in ACTIVE or run.state in WAITS_FOR_PERSON:
                return run
            with self._cond:
                if self._closed:
                    return run
                if self._seen.get(run_id, 0) == seen:
                    self._cond.wait(POLL_SECONDS)

    def _wait_while_paused(self, run_id: int) -> bool:
        """Wait until run `run_id` leaves `paused` (resumed, or aborted); False if drbot is
        closing first."""
        store = self.wiring.store
        while True:
            with self._cond:
                seen = self._seen.get(run_id, 0)
            if store.runs.get(run_id).state is not RunState.PAUSED:
                return True
            with self._cond:
                if self._closed:
                    return False
                if self._seen.get(run_id, 0) == seen:
                    self._cond.wait(POLL_SECONDS)

    def _changed(self, request: _Request) -> None:
        with self._cond:
            event = EstateEvent(result=request.result("started"))
        self._emit(event)

    def _ended(self, request: _Request) -> None:
        """Called with the lock held when one of `request`'s pools ended (or stopped)."""
        waiting = {"planned", "queued"} | {s.value for s in ACTIVE - WAITS_FOR_PERSON}
        if any(i.state in waiting for i in request.items):
            return
        if request.finishing:
            return
        request.finishing = True
        summary = request.result("finished")
        threading.Thread(
            target=request.context.copy().run, args=(self._finish, request, summary), daemon=True
        ).start()

    def _finish(self, request: _Request, summary: EstateResult) -> None:
        try:
            self.wiring.store.audit.append(
                "EstateFinished",
                request.requested_by,
                {
                    "request_id": request.id,
                    "pools": {i.protected: [i.run_id, i.state] for i in summary.items},
                },
            )
            self._emit(EstateEvent(result=summary))
        finally:
            request.done.set()  # after the summary is out: whoever waits gets it, audited

    def _emit(self, event: EstateEvent) -> None:
        try:
            self._publish(event)
        except Exception:  # a front end's bug must not stop a queue
            log.exception("estate event listener failed")


def blocked_pools(plans: list[tuple[PoolPair, Plan]]) -> list[str]:
    """One line per pool whose plan has blockers: the pool, then its blockers, those that say
    the same of several subjects (three VMs running at a source that answers) said once with
    how many and the first few."""
    return [
        m.ESTATE_POOL_BLOCKERS.format(pool=pair.protected, blockers=_grouped(plan.blockers))
        for pair, plan in plans
        if plan.blockers
    ]


SUBJECTS_LISTED = 3  # subjects a grouped blocker names before "and N more"


def _grouped(checks: list[Check]) -> str:
    groups: dict[tuple[str, str], list[str]] = {}
    for c in checks:
        groups.setdefault((c.name, c.message), []).append(c.subject)
    parts = []
    for (name, message), subjects in groups.items():
        names = list(dict.fromkeys(subjects))
        listed = ", ".join(names[:SUBJECTS_LISTED])
        if len(names) == 1:
            who = listed
        elif len(names) <= SUBJECTS_LISTED:
            who = m.ESTATE_SUBJECTS.format(n=len(names), listed=listed)
        else:
            who = m.ESTATE_SUBJECTS_MORE.format(
                n=len(names), listed=listed, more=len(names) - SUBJECTS_LISTED
            )
        parts.append(m.ESTATE_BLOCKER.format(name=name, subjects=who, message=message))
    return " ".join(parts)


def _names(checks: list[Check]) -> str:
    """'split-brain x3, capacity': each check's name, with how many when more than one."""
    counts: dict[str, int] = {}
    for c in checks:
        counts[c.name] = counts.get(c.name, 0) + 1
    return ", ".join(name if n == 1 else f"{name} x{n}" for name, n in counts.items())


def _pools(plan: Plan) -> list[str]:
    """The pools a run of `plan` takes (engine/runner.py leases the same): its destination, and
    its source when it changes the source too (a failback, a planned failover)."""
    pools = [plan.dest_pool]
    if plan.kind is Kind.FAILBACK or (plan.kind is Kind.FAILOVER and plan.planned):
        pools.append(plan.source_pool)
    return pools
