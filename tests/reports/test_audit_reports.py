"""The audit digest counts the day's events and says whether the chain holds; the scheduled
check alerts once when the chain breaks, and once when it holds again."""

from __future__ import annotations

from bot.reports.audit_digest import AuditReports
from tests.reports.conftest import AUDIT


def _posted(slack):
    return slack.record.entries(channel=AUDIT, kind="message")


def test_digest_counts_events_since_the_last_digest(store, clock, slack, poster, reports_config):
    """The first digest counts every event by type and actor; the second only the new ones."""
    for _ in range(3):
        store.audit.append("RunRequested", "U0ONCALL01", {"run_id": 1})
    store.audit.append("ApprovalGranted", "U0APPROV01", {"run_id": 1})
    jobs = AuditReports(store, poster, reports_config)
    jobs.digest(clock.now())
    store.audit.append("DrillPreApproved", "system:drbot-scheduler", {})
    clock.advance(86400)
    jobs.digest(clock.now())
    first, second = _posted(slack)
    assert first.text.startswith("Audit digest: 4 events")
    assert "`RunRequested`: 3" in str(first.blocks)
    assert "U0ONCALL01 (3)" in str(first.blocks)
    assert "Audit chain verified: 4 entries" in str(first.blocks)
    assert second.text.startswith("Audit digest: 1 events")
    assert "RunRequested" not in str(second.blocks)
    assert "Audit chain verified: 5 entries" in str(second.blocks)


def test_a_broken_chain_is_alerted_once_and_its_repair_once(
    store, clock, slack, poster, reports_config
):
    """An edited entry breaks the chain: five hourly checks post one alert; once the entry is
    put back, one notice that it verifies."""
    for i in range(3):
        store.audit.append("RunRequested", "U0ONCALL01", {"run_id": i})
    jobs = AuditReports(store, poster, reports_config)
    jobs.verify(clock.now())
    assert _posted(slack) == []
    original = next(store.db["audit"].rows_where("seq = 2"))["payload_json"]
    with store.conn.write() as db:
        db.execute("UPDATE audit SET payload_json = ? WHERE seq = 2", ['{"run_id": 99}'])
    for _ in range(5):
        clock.advance(3600)
        jobs.verify(clock.now())
    with store.conn.write() as db:
        db.execute("UPDATE audit SET payload_json = ? WHERE seq = 2", [original])
    for _ in range(3):
        clock.advance(3600)
        jobs.verify(clock.now())
    texts = [e.text for e in _posted(slack)]
    assert texts == ["The audit chain does not verify", ":lock: Audit chain verified: 3 entries."]
