"""The audit channel: every entry of the audit trail posted, in order, batched, within Slack's
rate limits, and nothing lost while Slack is down.

Each pass copies the entries not yet kept into the store's outbox (keyed by their seq, so two
passes or two processes keep each once), then posts the pending ones oldest first, up to
`batch` entries a message, at most one message a second (chat.postMessage's per-channel
rate). A post that fails leaves its entries pending: the next pass, once Slack answers again,
posts them. Entries carry their hash, so the channel shows the chain a reader can check.
"""

from __future__ import annotations

import logging
import threading

from bot.slack import blocks
from bot.slack.poster import Poster
from engine.clock import Clock
from store import Store

log = logging.getLogger(__name__)

TOPIC = "audit"


class AuditFeed:
    """Posts the audit trail to one channel."""

    def __init__(
        self,
        store: Store,
        poster: Poster,
        channel: str,
        clock: Clock,
        *,
        batch: int = 20,
        every: float = 5.0,
    ) -> None:
        self._store = store
        self._poster = poster
        self._channel = channel
        self._clock = clock
        self._batch = batch
        self._every = every
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="drbot-audit", daemon=True)
        self._lock = threading.Lock()
        self.posts = 0

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)

    def collect(self) -> int:
        """Keep the audit entries newer than the last one kept; returns how many."""
        last = self._store.outbox.last_key(TOPIC)
        kept = 0
        for entry in self._store.audit.entries(since=int(last or 0)):
            payload = {k: entry[k] for k in ("seq", "at", "event_type", "actor", "hash")}
            payload["payload"] = entry["payload"]
            if self._store.outbox.add(TOPIC, str(entry["seq"]), payload):
                kept += 1
        return kept

    def post_pending(self, max_posts: int = 5) -> int:
        """Post up to `max_posts` batches; returns how many entries were posted. Stops at the
        first failure (the rest stay pending)."""
        posted = 0
        with self._lock:
            for _ in range(max_posts):
                items = self._store.outbox.pending(TOPIC, limit=self._batch)
                if not items:
                    break
                ids = [item["id"] for item in items]
                try:
                    message = blocks.audit_batch([item["payload"] for item in items])
                    self._poster.post(self._channel, message)
                except Exception as failure:  # Slack down: keep them for the next pass
                    log.warning("audit entries not posted yet: %s", failure)
                    self._store.outbox.mark_failed(ids, str(failure))
                    break
                self._store.outbox.mark_posted(ids)
                self.posts += 1
                posted += len(items)
        return posted

    def run_once(self) -> int:
        self.collect()
        return self.post_pending()

    def _loop(self) -> None:
        while not self._stop.wait(self._every):
            try:
                self.run_once()
            except Exception:
                log.exception("audit feed pass failed")
