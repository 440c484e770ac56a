"""A run whose creation fails part-way (the disk fills) leaves no run queued holding a lease:
the store has the whole start of the run or none of it."""

from __future__ import annotations

from store import StoreError
from tests.engine.runs_support import make_harness

UNLIMITED = 1073741823  # SQLite's default max_page_count


def _pages(store) -> int:
    return store.db.execute("PRAGMA page_count").fetchone()[0]


def _limit(store, pages: int) -> None:
    with store.conn.lock:
        store.db.execute(f"PRAGMA max_page_count = {pages}")


def test_a_disk_that_fills_while_a_run_starts_leaves_no_queued_run_holding_a_lease(sim, tmp_path):
    """With the disk full at every point of starting a run (one more page each time), every
    failed start leaves no new run, no lease and a verifying audit trail; then a start fits."""
    h = make_harness(sim("demo"), tmp_path)
    try:
        plan = h.plan("test-failover", "web-shop", disable_ha=True)
        # A long reason spills into overflow pages in the run, its transition and its audit
        # entry, so the disk can fill between any two of them.
        reason = "quarterly drill " * 400
        failures = 0
        for extra in range(80):
            _limit(h.store, _pages(h.store) + extra)
            try:
                run_id = h.runner.start(plan, requested_by="U1", reason=reason)
            except StoreError as exc:
                refusal = str(exc)
            else:
                break
            failures += 1
            assert "disk is full" in refusal
            assert h.store.runs.list() == []
            assert h.store.db.execute("SELECT count(*) FROM leases").fetchone()[0] == 0
            assert h.store.audit.verify()
        else:
            raise AssertionError("the run never fitted in 80 more pages")
        assert failures > 3  # the sweep went through the start, not only past it
        _limit(h.store, UNLIMITED)
        h.runner.wait(run_id, 60)
        assert [r.id for r in h.store.runs.list()] == [run_id]
        assert [t.to_state for t in h.store.runs.history(run_id)][:2] == ["queued", "running"]
    finally:
        h.store.close()
