"""Steps journal, hash-chained audit trail and drill history."""

from __future__ import annotations

import pytest

from store import StepAlreadyDone


def _run(store):
    return store.runs.create("test-failover", "all", "dr", "h", {}, "U1")


def test_step_is_journaled_before_and_after_with_its_task(store):
    """A step goes started -> done with its task ref and result, and names the run's last step."""
    run_id = _run(store)
    step = store.steps.begin(run_id, "recover:vm:u1", "recover VM", "web-1")
    assert store.steps.get(run_id, "recover:vm:u1").status == "started"
    assert store.runs.get(run_id).last_step == "recover VM web-1"
    store.steps.attach_task(step, "OpaqueRef:task-1")
    store.steps.finish(step, {"vm": "OpaqueRef:vm-1"})
    row = store.steps.get(run_id, "recover:vm:u1")
    assert (row.status, row.task_ref, row.result) == (
        "done",
        "OpaqueRef:task-1",
        {"vm": "OpaqueRef:vm-1"},
    )


def test_a_done_step_is_never_begun_again(store):
    """Beginning a key that is already done is refused."""
    run_id = _run(store)
    store.steps.finish(store.steps.begin(run_id, "k", "n"), None)
    with pytest.raises(StepAlreadyDone, match="never done twice"):
        store.steps.begin(run_id, "k", "n")


def test_a_failed_or_started_step_is_reopened_with_its_task_ref(store):
    """A step not done is reopened under the same id, counting attempts and keeping its task."""
    run_id = _run(store)
    step = store.steps.begin(run_id, "k", "n")
    store.steps.attach_task(step, "OpaqueRef:t")
    again = store.steps.begin(run_id, "k", "n")
    assert again == step
    row = store.steps.get(run_id, "k")
    assert (row.attempts, row.task_ref, row.status) == (2, "OpaqueRef:t", "started")
    store.steps.fail(step, "VM_REQUIRES_SR")
    store.steps.begin(run_id, "k", "n")
    assert store.steps.get(run_id, "k").attempts == 3


def test_steps_are_listed_in_order(store):
    """for_run lists a run's steps in the order they were first begun."""
    run_id = _run(store)
    for key in ("a", "b", "c"):
        store.steps.begin(run_id, key, key)
    assert [s.key for s in store.steps.for_run(run_id)] == ["a", "b", "c"]


def test_audit_chain_verifies_and_detects_tampering(store):
    """The audit chain verifies as written, and an edited or deleted entry breaks it."""
    for i in range(5):
        store.audit.append("RunTransitioned", "U1", {"i": i})
    assert store.audit.verify()
    entries = store.audit.entries()
    assert [e["payload"]["i"] for e in entries] == [0, 1, 2, 3, 4]
    assert entries[1]["prev_hash"] == entries[0]["hash"]
    store.db.execute("UPDATE audit SET payload_json = ? WHERE seq = 3", ['{"i":99}'])
    store.db.conn.commit()
    assert not store.audit.verify()


def test_audit_detects_a_deleted_entry(store):
    """Removing an entry from the middle of the chain is detected."""
    for i in range(3):
        store.audit.append("X", "U1", {"i": i})
    store.db.execute("DELETE FROM audit WHERE seq = 2")
    store.db.conn.commit()
    assert not store.audit.verify()


def test_empty_audit_verifies(store):
    """An empty trail is a valid chain."""
    assert store.audit.verify()


def test_drills_are_recorded_and_listed_newest_first(store, tick):
    """Drill outcomes are kept per pool recovered into and listed newest first."""
    run_id = _run(store)
    store.drills.record(run_id, "test-failover", "dr", 120.0, "succeeded", {"a": "ok"})
    tick.advance(10)
    store.drills.record(run_id, "test-failover", "dr", 90.5, "partially-succeeded", {})
    store.drills.record(run_id, "test-failover", "other", 1.0, "succeeded", {})
    recent = store.drills.into("dr")
    assert [d["rto_seconds"] for d in recent] == [90.5, 120.0]
    assert recent[1]["per_vm"] == {"a": "ok"}


def test_key_values_persist_per_namespace(tmp_path, tick):
    """A kv namespace is a durable mapping, separate from the others, shared across opens."""
    from store import open_store

    a = open_store(tmp_path / "kv.db", now=tick)
    confirmations = a.kv("manual-storage")
    confirmations["lun-1:promote"] = True
    a.kv("other")["lun-1:promote"] = False
    a.close()
    b = open_store(tmp_path / "kv.db", now=tick)
    again = b.kv("manual-storage")
    assert dict(again) == {"lun-1:promote": True}
    assert len(b.kv("other")) == 1
    del again["lun-1:promote"]
    assert "lun-1:promote" not in again
    with pytest.raises(KeyError):
        del again["lun-1:promote"]
    b.close()


def test_concurrent_first_appends_of_a_new_store_share_one_key(tmp_path):
    """Four threads append at once to 30 new stores: every trail verifies (a thread that
    found the key file created but not yet written took an empty key, and the trail was
    broken for good from its first entry)."""
    import threading

    from store import open_store

    broken = []
    for n in range(30):
        with open_store(tmp_path / f"s{n}.db") as fresh:
            start = threading.Barrier(4)

            def append(i: int, store=fresh, start=start) -> None:
                start.wait()
                store.audit.append("Decision", "slack:U0ONCALL01", {"n": i})

            threads = [threading.Thread(target=append, args=(i,)) for i in range(4)]
            for t in threads:
                t.start()
            for t in threads:
                t.join()
            check = fresh.audit.check()
            if not check.ok:
                broken.append(check.problem)
    assert broken == []
