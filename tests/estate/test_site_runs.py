"""Runs over many pools: `site:NAME` and `all pools` are one run per protected pool; runs into
the same DR pool queue one after another (their place shown, never refused), runs into
different DR pools go in parallel; one approval, one split-brain guard and one summary cover
the whole request; a queue does not wait behind a run that waits for a person (interrupted or
paused): the pools it holds are reported held by it, and the rest of the estate goes on."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from bot.reports.probe import engine_probe
from bot.reports.readiness import record
from commands.events import EstateEvent
from commands.parse import parse
from commands.requests import (
    ApproveRequest,
    FailoverRequest,
    PlanRequest,
    RunsRequest,
    StatusRequest,
    TestFailoverRequest,
)
from commands.results import ApprovalOpened, EstateResult, Refused, RunsList
from commands.service import Service
from commands.wiring import Wiring
from store import RunState
from tests.commands.conftest import ALEX, CLI, GROUPS, OLIVIA, manual_storage, policy
from tests.estate.conftest import estate_text

WAIT = 180.0


def _transitions(svc: Service) -> list[tuple[int, int, str]]:
    """Every (transition id, run id, to_state) in the store, oldest first."""
    store = svc.wiring.store
    with store.conn.lock:  # the queues' threads write beside us
        rows = list(store.db.query("SELECT id, run_id, to_state FROM run_transitions ORDER BY id"))
    return [(r["id"], r["run_id"], r["to_state"]) for r in rows]


def _first(transitions, run_id: int, states: set[str]) -> int:
    return next(t for t, r, s in transitions if r == run_id and s in states)


ENDED = {"succeeded", "partially-succeeded", "failed", "cancelled"}


def test_a_site_drill_queues_its_two_pools_into_dr_one_after_the_other(estate_service):
    """`test-failover site:east`: east-a then east-b into dr, places 1 and 2 shown; east-b's run
    starts only after east-a's ended; both succeed; no run was refused as busy."""
    svc = estate_service()
    events: list[EstateEvent] = []
    svc.subscribe(lambda e: events.append(e) if isinstance(e, EstateEvent) else None)
    asked = svc.dispatch(TestFailoverRequest(target="site:east"), CLI)
    assert isinstance(asked, EstateResult), asked
    assert [(i.protected, i.dr, i.position) for i in asked.items] == [
        ("east-a", "dr", 1),
        ("east-b", "dr", 2),
    ]
    summary = svc.estate.wait(asked.request_id, timeout=WAIT)
    assert summary.phase == "finished"
    assert [(i.protected, i.state) for i in summary.items] == [
        ("east-a", "succeeded"),
        ("east-b", "succeeded"),
    ]
    a, b = (i.run_id for i in summary.items)
    assert a is not None
    assert b is not None
    moves = _transitions(svc)
    assert _first(moves, b, {"running"}) > _first(moves, a, ENDED)
    runs = svc.dispatch(RunsRequest(), OLIVIA)
    assert isinstance(runs, RunsList)
    assert sorted(r.id for r in runs.runs) == sorted([a, b])
    assert all(r.state == "succeeded" for r in runs.runs)
    finished = [e.result for e in events if e.result.phase == "finished"]
    assert len(finished) == 1
    assert finished[0].request_id == asked.request_id


def test_all_pools_run_into_different_dr_pools_in_parallel(estate_service):
    """`all pools` from /dr: north (into dr2) starts at once beside east-a (into dr), before
    east-a's run ends; the pools into dr queue in order; one summary names all four."""
    svc = estate_service()
    request = parse("test-failover all pools")
    assert isinstance(request, TestFailoverRequest)
    asked = svc.dispatch(request, CLI)
    assert isinstance(asked, EstateResult), asked
    places = {i.protected: (i.dr, i.position) for i in asked.items}
    assert places == {
        "east-a": ("dr", 1),
        "east-b": ("dr", 2),
        "west": ("dr", 3),
        "north": ("dr2", 1),
    }
    summary = svc.estate.wait(asked.request_id, timeout=WAIT)
    runs = {i.protected: i.run_id for i in summary.items}
    assert {i.state for i in summary.items} == {"succeeded"}
    moves = _transitions(svc)
    assert _first(moves, runs["north"], {"running"}) < _first(moves, runs["east-a"], ENDED)
    assert (
        _first(moves, runs["east-a"], ENDED)
        < _first(moves, runs["east-b"], {"running"})
        < _first(moves, runs["east-b"], ENDED)
        < _first(moves, runs["west"], {"running"})
    )


def test_one_approval_covers_the_whole_site_and_starts_every_pool(estate_service):
    """From chat, `test-failover site:east` opens one approval bound to both plans; one
    approver's quorum starts both pools' runs."""
    svc = estate_service()
    asked = svc.dispatch(TestFailoverRequest(target="site:east"), OLIVIA)
    assert isinstance(asked, EstateResult), asked
    assert asked.phase == "awaiting-approval"
    assert asked.approval is not None
    assert asked.approval.plan_hash == asked.plan_hash
    assert not svc.wiring.store.runs.list()
    started = svc.dispatch(ApproveRequest(approval_id=asked.approval.id), ALEX)
    assert isinstance(started, EstateResult), started
    assert started.phase == "started"
    assert started.approval is not None
    assert started.approval.state == "started"
    summary = svc.estate.wait(started.request_id, timeout=WAIT)
    assert [i.state for i in summary.items] == ["succeeded", "succeeded"]


def test_a_queue_stops_behind_an_interrupted_run_and_says_so(estate_service):
    """A run interrupted while holding dr keeps it: `test-failover site:east` starts nothing
    into dr, and both pools say they are held by that run, which needs a person, and how to
    go on."""
    svc = estate_service()
    runs = svc.wiring.store.runs
    held = runs.create("test-failover", "all", "dr", "h", {"source_pool": "west"}, "U1")
    runs.acquire_lease("dr", held, "elsewhere", datetime.now(UTC) + timedelta(hours=1))
    runs.transition(held, RunState.RUNNING, "started")
    runs.transition(held, RunState.INTERRUPTED, "lost contact")
    asked = svc.dispatch(TestFailoverRequest(target="site:east"), CLI)
    assert isinstance(asked, EstateResult), asked
    assert asked.items[0].position == 2  # behind the run that holds dr
    summary = svc.estate.wait(asked.request_id, timeout=WAIT)
    assert [i.state for i in summary.items] == ["held", "held"]
    for item in summary.items:
        assert f"held by run {held} (interrupted: needs a person)" in item.note
        assert f"resume {held}" in item.note
        assert item.run_id is None
    assert [r.id for r in runs.list()] == [held]


def test_the_estate_goes_on_past_a_paused_run_that_holds_its_dr_pool(estate_service):
    """A paused run holding dr (it waits for a person) does not keep `all pools` waiting: the
    three pools into dr are reported held by it, north's run into dr2 succeeds, and the
    request's one summary is published; no run was started into dr, none refused as busy."""
    svc = estate_service()
    runs = svc.wiring.store.runs
    held = runs.create("test-failover", "all", "dr", "h", {"source_pool": "west"}, "U1")
    runs.acquire_lease("dr", held, "elsewhere", datetime.now(UTC) + timedelta(hours=1))
    runs.transition(held, RunState.RUNNING, "started")
    runs.transition(held, RunState.PAUSED, "waits for the storage team")
    asked = svc.dispatch(parse("test-failover all pools"), CLI)
    assert isinstance(asked, EstateResult), asked
    summary = svc.estate.wait(asked.request_id, timeout=WAIT)
    assert summary.phase == "finished"
    states = {i.protected: i.state for i in summary.items}
    assert states == {"east-a": "held", "east-b": "held", "west": "held", "north": "succeeded"}
    for item in summary.items:
        if item.dr == "dr":
            assert f"held by run {held} (paused: needs a person)" in item.note
            assert f"abort {held}" in item.note
    started = [r for r in runs.list() if r.id != held]
    assert [(r.pool, r.state) for r in started] == [("dr2", "succeeded")]


def test_a_site_failover_while_the_site_answers_is_refused_for_every_pool(estate_service):
    """The split-brain guard covers the request: with site east up, `failover site:east` is
    refused naming both pools, and nothing starts."""
    svc = estate_service()
    refused = svc.dispatch(
        FailoverRequest(target="site:east", reason="drill", break_glass=True), CLI
    )
    assert isinstance(refused, Refused), refused
    assert refused.code == "blocked"
    assert "east-a:" in refused.reason
    assert "east-b:" in refused.reason
    assert not svc.wiring.store.runs.list()


def test_a_site_failover_that_does_not_fit_dr_together_is_refused_naming_the_pool(
    sim, tmp_path: Path
):
    """Site east lost, dr with 2 x 32 GiB: each east pool fits alone, not both (as the last
    readiness samples say: the lost site cannot): `failover site:east` is refused naming east-b,
    and nothing starts."""
    path = tmp_path / "estate.toml"
    path.write_text(
        estate_text(
            **{
                'name = "dr-h1", memory_gb = 64': 'name = "dr-h1", memory_gb = 32',
                'name = "dr-h2", memory_gb = 64': 'name = "dr-h2", memory_gb = 32',
            }
        )
    )
    world = sim(str(path))
    svc = Service(
        Wiring(world.config, tmp_path / "drbot.db"), policy(), members=lambda g: GROUPS.get(g, [])
    )
    try:
        # The bot's scheduled readiness probe kept a sample of each pair while east answered.
        record(svc.wiring.store, engine_probe(svc.wiring)())
        world.control("POST", "/sites/east/fail")
        alone = svc.dispatch(PlanRequest(kind="failover", target="all", pool="east-b"), CLI)
        assert not alone.plan.blockers, alone.plan.blockers
        refused = svc.dispatch(
            FailoverRequest(target="site:east", reason="east lost", break_glass=True), CLI
        )
        assert isinstance(refused, Refused), refused
        assert "east-b would not fit" in refused.reason
        assert not svc.wiring.store.runs.list()
    finally:
        svc.close()


def test_a_scope_naming_no_site_or_a_dr_site_is_refused_with_the_choices(estate_service):
    """`site:nowhere` lists the sites; `site:dr` says dr has only DR pools."""
    svc = estate_service()
    unknown = svc.dispatch(TestFailoverRequest(target="site:nowhere"), CLI)
    assert isinstance(unknown, Refused)
    assert "east, west, north, dr, dr2" in unknown.reason
    empty = svc.dispatch(TestFailoverRequest(target="site:dr"), CLI)
    assert isinstance(empty, Refused)
    assert "no protected pool" in empty.reason


def test_planning_a_site_shows_each_pool_and_its_place(estate_service):
    """`plan test-failover site:east` plans both pools, starts nothing, and shows their places."""
    svc = estate_service()
    planned = svc.dispatch(PlanRequest(kind="test-failover", target="site:east"), OLIVIA)
    assert isinstance(planned, EstateResult), planned
    assert planned.phase == "planned"
    assert [(i.protected, i.vms, i.position) for i in planned.items] == [
        ("east-a", 3, 1),
        ("east-b", 3, 1),
    ]
    assert not svc.wiring.store.runs.list()
    assert not isinstance(
        svc.dispatch(PlanRequest(kind="failover", target="all"), OLIVIA), ApprovalOpened
    )


def test_a_lost_sites_failover_recovers_each_of_its_vms_exactly_once(estate_service, estate):
    """Site east (two pools) lost after drbot had read it: `failover site:east` recovers
    east-a's and east-b's VMs into dr, each VM once, each pool's run only its own LUNs."""
    svc = estate_service()
    svc.dispatch(StatusRequest(), OLIVIA)  # what a running bot has read before the night
    estate.control("POST", "/sites/east/fail")
    asked = svc.dispatch(
        FailoverRequest(target="site:east", reason="east lost", break_glass=True), CLI
    )
    assert isinstance(asked, EstateResult), asked
    summary = svc.estate.wait(asked.request_id, timeout=WAIT)
    assert [i.state for i in summary.items] == ["succeeded", "succeeded"]
    dr = estate.client("dr")
    names = sorted(
        r["name_label"]
        for r in dr.get_all_records("VM").values()
        if not r["is_a_template"] and not r["is_control_domain"]
    )
    expected = sorted(
        f"{pool}-{vm}" for pool in ("east-a", "east-b") for vm in ("db", "web-01", "web-02")
    )
    assert names == expected
    for item in summary.items:
        plan = svc.wiring.store.runs.get(item.run_id).plan
        assert {lun["sr_uuid"] for lun in plan["luns"]} <= set(
            svc.wiring.store.kv("pool-srs")[item.protected]
        )


def test_a_lost_sites_failover_with_nothing_known_of_its_pools_is_refused(estate_service, estate):
    """Site east lost before drbot ever read it: which LUN is east-a's cannot be told, so the
    failover of site:east is refused rather than recover a neighbour's VMs twice."""
    svc = estate_service()
    estate.control("POST", "/sites/east/fail")
    refused = svc.dispatch(
        FailoverRequest(target="site:east", reason="east lost", break_glass=True), CLI
    )
    assert isinstance(refused, Refused), refused
    assert not svc.wiring.store.runs.list()


def test_a_site_failover_with_manual_storage_waits_for_each_done_and_runs_every_pool(
    estate_service, estate
):
    """With the manual storage adapter every run pauses at its storage steps: `failover
    site:east` waits for each Done of its own runs (the storage team's work, not a stuck run)
    and runs east-b after east-a; neither pool is left held, so nothing needs asking again."""
    from bot.demo import wait_until
    from commands.requests import ConfirmStorageRequest, ShowRequest
    from commands.results import RunView

    array = estate.storage()
    config = estate.config.model_copy(update={"storage": manual_storage(array)})
    svc = estate_service(config=config)
    svc.dispatch(StatusRequest(), OLIVIA)  # what a running bot has read before the night
    estate.control("POST", "/sites/east/fail")
    asked = svc.dispatch(
        FailoverRequest(target="site:east", reason="east lost", break_glass=True), CLI
    )
    assert isinstance(asked, EstateResult), asked
    done: list[tuple[int, str, str]] = []

    def storage_team() -> bool:
        """Do and confirm each step a run of the request waits for; True once all ended."""
        current = svc.estate.summary(asked.request_id)
        if current is not None:
            return True
        for run in svc.wiring.store.runs.list():
            view = svc.dispatch(ShowRequest(run_id=run.id), CLI)
            if isinstance(view, RunView) and view.storage_step is not None:
                step = view.storage_step
                getattr(array, step.action)(step.lun)
                svc.dispatch(ConfirmStorageRequest(run_id=run.id), CLI)
                done.append((run.id, step.lun, step.action))
        return False

    wait_until(storage_team, timeout=WAIT)
    summary = svc.estate.wait(asked.request_id, timeout=WAIT)
    assert [(i.protected, i.state) for i in summary.items] == [
        ("east-a", "succeeded"),
        ("east-b", "succeeded"),
    ]
    a, b = (i.run_id for i in summary.items)
    assert {run for run, _, _ in done} == {a, b}
