"""Runs: the state machine, its journal, leases and reaping at boot."""

from __future__ import annotations

import itertools
from datetime import timedelta

import pytest

from store import (
    IllegalTransition,
    Kind,
    LeaseHeld,
    PausedStep,
    RunNotFound,
    RunOutcome,
    RunState,
    VMOutcome,
    VMStatus,
    can_transition,
    open_store,
)


def _new(store, pool="dr", kind="failover"):
    return store.runs.create(kind, "app:payments", pool, "abc123", {"kind": kind}, "U1", "drill")


def test_open_store_uses_wal_and_applies_migrations_once(tmp_path, tick):
    """A new store is in WAL mode with every migration recorded, and reopening changes nothing."""
    path = tmp_path / "s.db"
    s = open_store(path, now=tick)
    assert s.db.journal_mode == "wal"
    applied = [r["name"] for r in s.db["_sqlite_migrations"].rows]
    s.close()
    s2 = open_store(path, now=tick)
    assert [r["name"] for r in s2.db["_sqlite_migrations"].rows] == applied
    assert {"runs", "run_transitions", "leases", "steps", "audit", "drills"} <= set(
        s2.db.table_names()
    )
    s2.close()


def test_create_starts_queued_and_journals_it(store):
    """A new run is queued, keeps its plan, and its journal starts with the creation."""
    run_id = _new(store)
    run = store.runs.get(run_id)
    assert run.state is RunState.QUEUED
    assert run.kind is Kind.FAILOVER
    assert run.plan == {"kind": "failover"}
    assert [(h.from_state, h.to_state) for h in store.runs.history(run_id)] == [(None, "queued")]


# The edges a run may take, written out as the design says (not read from `store.states`).
EDGES = {
    ("queued", "running"),
    ("queued", "cancelled"),
    ("queued", "failed"),  # refused before it ran (a busy pool)
    ("queued", "interrupted"),
    ("running", "paused"),
    ("running", "succeeded"),
    ("running", "partially-succeeded"),
    ("running", "failed"),
    ("running", "interrupted"),
    ("running", "cancelled"),
    ("running", "aborting"),
    ("paused", "running"),
    ("paused", "interrupted"),
    ("paused", "cancelled"),
    ("paused", "aborting"),
    ("paused", "failed"),
    ("interrupted", "running"),  # resume
    ("interrupted", "aborting"),
    ("aborting", "aborted"),
    ("aborting", "failed"),
    ("aborting", "interrupted"),
    ("failed", "aborting"),  # what a failed run left behind can still be removed
    ("cancelled", "aborting"),
}
STATES = [
    "queued",
    "running",
    "paused",
    "succeeded",
    "partially-succeeded",
    "failed",
    "interrupted",
    "cancelled",
    "aborting",
    "aborted",
]


def test_the_states_are_the_documented_ones():
    """A run's states are exactly the ten the design names."""
    assert sorted(s.value for s in RunState) == sorted(STATES)


@pytest.mark.parametrize(("src", "dst"), list(itertools.product(STATES, STATES)))
def test_transition_table_is_enforced(store, src, dst):
    """Each pair of states is allowed exactly when the design's edge list has it; a refusal
    changes nothing and names the states the run may go to."""
    run_id = _new(store)
    for step in _path_to(src):
        store.runs.transition(run_id, RunState(step), "setup")
    before = len(store.runs.history(run_id))
    if (src, dst) in EDGES:
        assert store.runs.transition(run_id, RunState(dst), "t").state == dst
        assert len(store.runs.history(run_id)) == before + 1
    else:
        with pytest.raises(IllegalTransition, match="cannot become"):
            store.runs.transition(run_id, RunState(dst), "t")
        assert store.runs.get(run_id).state == src
        assert len(store.runs.history(run_id)) == before


@pytest.mark.parametrize(
    ("src", "dst"),
    [
        ("succeeded", "running"),
        ("failed", "running"),  # a failed run is never resumed: plan again
        ("aborted", "aborting"),
        ("interrupted", "succeeded"),
        ("queued", "succeeded"),
    ],
)
def test_edges_that_must_never_exist(src, dst):
    """The edges that would let a run skip its work or come back from the dead do not exist."""
    assert not can_transition(src, dst)


def _path_to(target: str) -> list[str]:
    frontier: list[tuple[str, list[str]]] = [("queued", [])]
    seen = {"queued"}
    while frontier:
        state, path = frontier.pop(0)
        if state == target:
            return path
        for a, b in sorted(EDGES):
            if a == state and b not in seen:
                seen.add(b)
                frontier.append((b, [*path, b]))
    raise AssertionError(f"{target} unreachable from queued")


def test_every_state_is_reachable_from_queued():
    """The design has no dead states: each one can be reached from `queued`."""
    ends = {state: (_path_to(state) or ["queued"])[-1] for state in STATES}
    assert ends == {state: state for state in STATES}


def test_get_unknown_run_says_how_to_list(store):
    """Asking for a run that does not exist names the command that lists runs."""
    with pytest.raises(RunNotFound, match="drbot runs"):
        store.runs.get(999)


def test_one_lease_per_pool(store, tick):
    """A second run cannot take a pool another active run holds; another pool is free."""
    a, b = _new(store), _new(store)
    until = tick() + timedelta(minutes=5)
    store.runs.acquire_lease("dr", a, "host-1", until)
    with pytest.raises(LeaseHeld, match=f"run {a}"):
        store.runs.acquire_lease("dr", b, "host-2", until)
    store.runs.acquire_lease("other", b, "host-2", until)
    store.runs.release_lease("dr", a)
    store.runs.acquire_lease("dr", b, "host-2", until)
    assert store.runs.lease("dr").run_id == b


def test_finished_run_does_not_hold_the_pool(store, tick):
    """Once a run has finished, its stale lease no longer blocks a new run on the pool."""
    a, b = _new(store), _new(store)
    store.runs.acquire_lease("dr", a, "h", tick() + timedelta(minutes=5))
    store.runs.transition(a, RunState.RUNNING)
    store.runs.transition(a, RunState.SUCCEEDED)
    store.runs.acquire_lease("dr", b, "h", tick() + timedelta(minutes=5))
    assert store.runs.lease("dr").run_id == b


def test_interrupted_run_still_holds_its_pool(store, tick):
    """A crashed run keeps its pool until it is resumed or aborted."""
    a, b = _new(store), _new(store)
    store.runs.acquire_lease("dr", a, "h", tick() + timedelta(seconds=30))
    store.runs.transition(a, RunState.RUNNING)
    tick.advance(60)
    store.runs.interrupted_at_boot()
    with pytest.raises(LeaseHeld):
        store.runs.acquire_lease("dr", b, "h2", tick() + timedelta(minutes=5))
    store.runs.acquire_lease("dr", a, "h2", tick() + timedelta(minutes=5))


def test_renew_lease_refuses_another_holder(store, tick):
    """Only the holder of a lease can renew it."""
    a = _new(store)
    store.runs.acquire_lease("dr", a, "h1", tick() + timedelta(seconds=30))
    store.runs.renew_lease("dr", a, "h1", tick() + timedelta(seconds=90))
    assert store.runs.lease("dr").until.isoformat().startswith("2026-03-01T12:01:30")
    with pytest.raises(LeaseHeld):
        store.runs.renew_lease("dr", a, "h2", tick() + timedelta(seconds=90))


def test_reaping_marks_runs_with_expired_leases_interrupted_with_their_last_step(store, tick):
    """At boot, running runs whose lease expired become interrupted, naming their last step."""
    live, dead, paused = _new(store, "p1"), _new(store, "p2"), _new(store, "p3")
    for run_id in (live, dead, paused):
        store.runs.transition(run_id, RunState.RUNNING)
    store.runs.acquire_lease("p1", live, "h", tick() + timedelta(minutes=10))
    store.runs.acquire_lease("p2", dead, "h", tick() + timedelta(seconds=10))
    store.runs.transition(paused, RunState.PAUSED, "waiting for storage team")
    store.steps.begin(dead, "recover:vm:1", "recover VM", "web-1")
    tick.advance(60)
    reaped = store.runs.interrupted_at_boot()
    assert [r.id for r in reaped] == [dead]
    assert store.runs.get(dead).state == "interrupted"
    assert "recover VM web-1" in store.runs.history(dead)[-1].reason
    assert store.runs.get(live).state == "running"
    assert store.runs.get(paused).state == "paused"


def test_store_is_shared_between_connections(tmp_path, tick):
    """Two connections to one file (the bot and the CLI) see each other's writes."""
    a = open_store(tmp_path / "x.db", now=tick)
    b = open_store(tmp_path / "x.db", now=tick)
    run_id = _new(a)
    b.runs.transition(run_id, RunState.RUNNING)
    assert a.runs.get(run_id).state == "running"
    a.close()
    b.close()


def test_outcome_is_kept(store):
    """The per-VM outcome and the notes written during a run are read back with the run."""
    run_id = _new(store)
    going = RunOutcome(vms={"vm-1": VMOutcome(name="web-1", status=VMStatus.RECOVERED)})
    store.runs.set_outcome(run_id, going)
    assert store.runs.get(run_id).outcome.vms["vm-1"].status is VMStatus.RECOVERED
    store.runs.transition(run_id, RunState.RUNNING)
    ended = RunOutcome(
        vms={"vm-1": VMOutcome(name="web-1", status=VMStatus.START_FAILED, error="no memory")},
        notes=["LUN 7 was not re-protected"],
    )
    store.runs.transition(run_id, RunState.FAILED, error="boom", outcome=ended)
    run = store.runs.get(run_id)
    assert run.error == "boom"
    assert run.outcome.vms["vm-1"].error == "no memory"
    assert run.outcome.notes == ["LUN 7 was not re-protected"]


def test_an_outcome_in_the_first_format_is_read(store):
    """A run recorded before notes were kept apart (a `_notes` entry among the VMs) reads back
    with its notes as notes and only VMs as VMs."""
    run_id = _new(store)
    store.db["runs"].update(
        run_id,
        {
            "outcome_json": '{"u1": {"name": "web-1", "appliance": null, "status": "started", '
            '"error": null, "start_at": "2026-03-01T12:00:00"}, "_notes": {"notes": ["n1"]}}'
        },
    )
    run = store.runs.get(run_id)
    assert list(run.outcome.vms) == ["u1"]
    assert run.outcome.vms["u1"].started_at == "2026-03-01T12:00:00"
    assert run.outcome.notes == ["n1"]


def test_the_paused_step_lives_with_the_paused_state(store):
    """A paused run carries the step it waits for; any next state drops it without being told."""
    run_id = _new(store)
    store.runs.transition(run_id, RunState.RUNNING)
    step = PausedStep(lun="lun-1", action="promote", instruction="Promote lun-1 on the array.")
    store.runs.transition(run_id, RunState.PAUSED, "waiting", paused_step=step)
    assert store.runs.get(run_id).paused_step == step
    store.runs.transition(run_id, RunState.RUNNING, "resumed")
    assert store.runs.get(run_id).paused_step is None


def test_only_a_paused_run_waits_for_a_step(store):
    """Giving a step to any other state is a programming error, refused before any write."""
    run_id = _new(store)
    step = PausedStep(lun="lun-1", action="promote", instruction="x")
    with pytest.raises(ValueError, match="paused"):
        store.runs.transition(run_id, RunState.RUNNING, "x", paused_step=step)
    assert store.runs.get(run_id).state is RunState.QUEUED
