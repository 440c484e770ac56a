"""A request asked from a mention waits for its reason in the store: once, for its
requester, for 30 minutes."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from bot.slack.reasons import PendingReasons
from commands.requests import FailoverRequest
from store import open_store

T0 = datetime(2026, 12, 4, 21, 0, tzinfo=UTC)


def test_a_kept_request_is_taken_once_as_it_was_asked(tmp_path):
    """The request comes back with the reason given, the same target and options, once; a
    second store on the same file (another bot process) cannot take it again."""
    with open_store(tmp_path / "drbot.db") as store:
        reasons = PendingReasons(store)
        request = FailoverRequest(target="web,crm", planned=True, reason=None)
        pending_id = reasons.add(request, "U0ONCALL01", "C0DROPS001", "1712.0001", T0)
        with open_store(tmp_path / "drbot.db") as other:
            taken = PendingReasons(other).take(pending_id)
        assert taken is not None
        assert taken.user == "U0ONCALL01"
        typed = taken.typed("DC1 lost power")
        assert typed == request.model_copy(update={"reason": "DC1 lost power"})
        assert reasons.take(pending_id) is None


def test_a_request_nobody_gave_a_reason_for_lapses_after_30_minutes(tmp_path):
    """After 30 minutes it is expired, and the next request asked forgets it."""
    with open_store(tmp_path / "drbot.db") as store:
        reasons = PendingReasons(store)
        old = reasons.add(FailoverRequest(target="all"), "U1", "C1", None, T0)
        found = reasons.get(old)
        assert found is not None
        assert not found.expired(T0 + timedelta(minutes=29))
        assert found.expired(T0 + timedelta(minutes=31))
        reasons.add(FailoverRequest(target="web"), "U1", "C1", None, T0 + timedelta(minutes=31))
        assert reasons.get(old) is None
