"""The outbox keeps what the bot must post until Slack took it: each item once, oldest first,
failures kept with their error, in a real SQLite file."""

from __future__ import annotations

from store import open_store


def test_an_item_is_kept_once_and_posted_in_order(tmp_path):
    """Adding the same (topic, key) twice keeps one; pending lists items oldest first."""
    with open_store(tmp_path / "drbot.db") as store:
        assert store.outbox.add("audit", "1", {"n": 1})
        assert store.outbox.add("audit", "2", {"n": 2})
        assert not store.outbox.add("audit", "1", {"n": 99})
        assert [i["payload"]["n"] for i in store.outbox.pending("audit")] == [1, 2]
        assert store.outbox.last_key("audit") == "2"


def test_posted_items_leave_and_failed_ones_stay_with_their_error(tmp_path):
    """mark_posted removes items from pending; mark_failed keeps them, counting attempts."""
    with open_store(tmp_path / "drbot.db") as store:
        for n in range(3):
            store.outbox.add("audit", str(n), {"n": n})
        first, second, third = (i["id"] for i in store.outbox.pending("audit"))
        store.outbox.mark_posted([first])
        store.outbox.mark_failed([second, third], "ratelimited")
        store.outbox.mark_failed([second], "ratelimited")
        pending = store.outbox.pending("audit")
        assert [i["id"] for i in pending] == [second, third]
        assert [i["attempts"] for i in pending] == [2, 1]
        assert pending[0]["error"] == "ratelimited"


def test_the_outbox_survives_a_restart(tmp_path):
    """Items not yet posted are still pending after the store is closed and opened again."""
    path = tmp_path / "drbot.db"
    with open_store(path) as store:
        store.outbox.add("audit", "7", {"text": "entry seven"})
    with open_store(path) as store:
        assert [i["key"] for i in store.outbox.pending("audit")] == ["7"]
