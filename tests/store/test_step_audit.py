"""A run's steps are entries of the keyed audit chain, written with their journal row, under the
run's requester; every entry naming a person carries their name (`actor_name`) besides the id
the chain's `actor` column keeps, so `drbot audit verify` and export see one id per person."""

from __future__ import annotations

import pytest

from engine.clock import ManualClock
from engine.errors import XapiError
from engine.events import EventBus
from engine.runner import AuditedJournal
from engine.stepkeys import StepKey, Verb
from store import Kind, Store
from store.audit import STEP_DONE, STEP_FAILED, STEP_SKIPPED

OLIVIA = "slack:U0ONCALL01"


def _run(store: Store, requested_by: str = OLIVIA) -> int:
    return store.runs.create(Kind.FAILOVER, "all", "dr", "h" * 64, {}, requested_by, "drill")


def _journal(store: Store, run_id: int) -> AuditedJournal:
    return AuditedJournal(store, run_id, EventBus(), ManualClock(), OLIVIA)


def _recover(vm: str) -> StepKey:
    return StepKey(Verb.RECOVER, ("vm", vm))


def test_each_step_outcome_is_one_chained_entry_under_the_runs_requester(store: Store):
    """done, failed (with XAPI's code) and skipped steps become StepDone / StepFailed /
    StepSkipped entries naming run, step key, VM, and the requester with her name."""
    store.audit.append("Decision", OLIVIA, {"command": "failover", "actor_name": "olivia"})
    run_id = _run(store)
    journal = _journal(store, run_id)
    ok = journal.begin(_recover("u1"), "recover VM", "web-01")
    journal.finish(ok, _recover("u1"), "web-01", {"vm": "OpaqueRef:1"})
    with pytest.raises(XapiError):
        journal.effect(
            _recover("u2"),
            "recover VM",
            "pay-db-01",
            lambda _: (_ for _ in ()).throw(XapiError("VM_REQUIRES_SR", ["OpaqueRef:sr"])),
        )
    journal.skipped(StepKey(Verb.START, ("vm", "u2")), "start VM", "pay-db-01", "recovery failed")
    steps = [e for e in store.audit.entries() if e["event_type"].startswith("Step")]
    assert [e["event_type"] for e in steps] == [STEP_DONE, STEP_FAILED, STEP_SKIPPED]
    assert {e["actor"] for e in steps} == {OLIVIA}
    assert {e["payload"]["actor_name"] for e in steps} == {"olivia"}
    done, failed, skipped = (e["payload"] for e in steps)
    assert (done["run_id"], done["step"], done["subject"]) == (run_id, "recover:vm:u1", "web-01")
    assert (failed["code"], failed["subject"], failed["name"]) == (
        "VM_REQUIRES_SR",
        "pay-db-01",
        "recover VM",
    )
    assert (skipped["step"], skipped["why"]) == ("start:vm:u2", "recovery failed")
    assert [s.status.value for s in store.steps.for_run(run_id)] == ["done", "failed"]
    assert store.audit.verify()


def test_a_step_and_its_entry_are_written_together_or_not_at_all(store: Store):
    """A step's journal row and its audit entry share one transaction: if the entry cannot be
    written, the step is not journaled done either (it stays started, to be checked on resume)."""
    run_id = _run(store)
    journal = _journal(store, run_id)
    key = _recover("u1")
    step_id = journal.begin(key, "recover VM", "web-01")
    store.audit.key_file.write_text("not hex\n")  # a broken key: every append fails
    store.audit._key = None
    with pytest.raises(Exception, match="audit key"):
        journal.finish(step_id, key, "web-01", {})
    assert store.steps.get(run_id, str(key)).status.value == "started"  # type: ignore[union-attr]  # begun above
    assert not [e for e in store.audit.entries() if e["event_type"] == STEP_DONE]


def test_an_entry_without_a_name_gets_the_name_the_trail_last_gave_that_actor(store: Store):
    """The engine knows only ids: an entry by an actor seen before with a name (a Decision)
    carries that name, also after a restart (read back from the trail); an explicit empty name
    stays empty; drbot itself is nameless; the chain verifies."""
    store.audit.append("Decision", OLIVIA, {"actor_name": "Priya Patel"})
    store.audit.append("RunTransitioned", OLIVIA, {"run_id": 1, "to": "running"})
    store.audit._names.clear()  # as a new process would start
    store.audit.append("RunTransitioned", OLIVIA, {"run_id": 1, "to": "succeeded"})
    store.audit.append("Refused", OLIVIA, {"actor_name": ""})
    store.audit.append("RunInterrupted", "drbot", {"run_id": 1})
    store.audit.append("RunTransitioned", "slack:U0NOBODY", {"run_id": 2})
    names = [e["payload"].get("actor_name") for e in store.audit.entries()]
    assert names == ["Priya Patel", "Priya Patel", "Priya Patel", "", None, None]
    assert store.audit.verify()
