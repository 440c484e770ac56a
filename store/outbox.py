"""What the Slack bot must post, kept until Slack took it: the audit channel's entries (and
anything else that must not be lost while Slack is down or rate-limiting).

Each item has a `topic` ("audit") and a `key` unique within it (the audit entry's seq), so
adding the same item twice (a restart, two bot processes on one store) keeps one. Items are
posted oldest first; a failed post leaves them pending with the error and an attempt count,
and the next pass tries again, so nothing is lost and nothing is posted twice by one poster.

    outbox.add("audit", "17", {"text": "..."})
    for item in outbox.pending("audit", limit=20): ...
    outbox.mark_posted([item["id"] for item in batch])
"""

from __future__ import annotations

import json
from typing import Any

from store.db import StoreConnection


class Outbox:
    """The `outbox` table."""

    def __init__(self, conn: StoreConnection) -> None:
        self._c = conn

    def add(self, topic: str, key: str, payload: dict[str, Any]) -> bool:
        """Keep an item to post; False if (topic, key) was already kept."""
        with self._c.write() as db:
            cursor = db.execute(
                "INSERT OR IGNORE INTO outbox (topic, key, payload_json, created_at, attempts) "
                "VALUES (?, ?, ?, ?, 0)",
                [topic, key, json.dumps(payload, sort_keys=True, default=str), self._c.stamp()],
            )
            return cursor.rowcount == 1

    def last_key(self, topic: str) -> str | None:
        """The key of the newest item of `topic`, posted or not."""
        with self._c.lock:
            rows = list(
                self._c.db.query(
                    "SELECT key FROM outbox WHERE topic = ? ORDER BY id DESC LIMIT 1", [topic]
                )
            )
        return rows[0]["key"] if rows else None

    def pending(self, topic: str, limit: int = 50) -> list[dict[str, Any]]:
        """Items of `topic` not yet posted, oldest first, with `payload` decoded."""
        with self._c.lock:
            rows = list(
                self._c.db.query(
                    "SELECT * FROM outbox WHERE topic = ? AND posted_at IS NULL "
                    "ORDER BY id LIMIT ?",
                    [topic, limit],
                )
            )
        return [{**r, "payload": json.loads(r["payload_json"])} for r in rows]

    def mark_posted(self, ids: list[int]) -> None:
        with self._c.write() as db:
            at = self._c.stamp()
            for item_id in ids:
                db.execute(
                    "UPDATE outbox SET posted_at = ?, error = NULL WHERE id = ?", [at, item_id]
                )

    def mark_failed(self, ids: list[int], error: str) -> None:
        with self._c.write() as db:
            for item_id in ids:
                db.execute(
                    "UPDATE outbox SET attempts = attempts + 1, error = ? WHERE id = ?",
                    [error[:500], item_id],
                )
