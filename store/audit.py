"""The audit trail: append-only and hash-chained, so an edit or a deletion is detectable.

Each entry's `hash` is the sha256 of the previous entry's hash and the canonical JSON of the
entry (sequence, time, type, actor, payload). `verify()` recomputes the chain from the start.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from store.db import StoreConnection

GENESIS = "0" * 64


def _canonical(obj: Any) -> str:
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), default=str)


def entry_hash(prev_hash: str, seq: int, at: str, event_type: str, actor: str, payload: str) -> str:
    body = _canonical(
        {"seq": seq, "at": at, "event_type": event_type, "actor": actor, "payload": payload}
    )
    return hashlib.sha256((prev_hash + body).encode()).hexdigest()


class Audit:
    """Append to and verify the hash-chained audit trail."""

    def __init__(self, conn: StoreConnection) -> None:
        self._c = conn

    def append(self, event_type: str, actor: str, payload: dict[str, Any]) -> dict[str, Any]:
        """Add one entry at the end of the chain and return it (with `seq`, `hash`)."""
        payload_json = _canonical(payload)
        with self._c.write() as db:
            last = list(db.query("SELECT seq, hash FROM audit ORDER BY seq DESC LIMIT 1"))
            prev = last[0]["hash"] if last else GENESIS
            seq = (last[0]["seq"] + 1) if last else 1
            at = self._c.stamp()
            row = {
                "seq": seq,
                "at": at,
                "event_type": event_type,
                "actor": actor,
                "payload_json": payload_json,
                "prev_hash": prev,
                "hash": entry_hash(prev, seq, at, event_type, actor, payload_json),
            }
            db.table("audit").insert(row)
        return {**row, "payload": payload}

    def entries(self, since: int = 0, limit: int | None = None) -> list[dict[str, Any]]:
        """Entries with `seq > since`, oldest first, with `payload` decoded."""
        with self._c.lock:
            rows = list(
                self._c.db["audit"].rows_where("seq > ?", [since], order_by="seq", limit=limit)
            )
        return [{**r, "payload": json.loads(r["payload_json"])} for r in rows]

    def verify(self) -> bool:
        """True when every entry's hash matches its content and links to the one before."""
        prev, expected_seq = GENESIS, 1
        with self._c.lock:
            rows = self._c.db.query("SELECT * FROM audit ORDER BY seq")
            for r in rows:
                if r["seq"] != expected_seq or r["prev_hash"] != prev:
                    return False
                digest = entry_hash(
                    prev, r["seq"], r["at"], r["event_type"], r["actor"], r["payload_json"]
                )
                if digest != r["hash"]:
                    return False
                prev, expected_seq = r["hash"], expected_seq + 1
        return True
