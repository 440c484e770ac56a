"""The audit channel: every entry of the audit trail posted, in order, batched, within Slack's
rate limits, and nothing lost while Slack is down.

Each pass copies the entries not yet kept into the store's outbox (keyed by their seq, so two
passes or two processes keep each once; one transaction a pass), then posts the pending ones
oldest first, up to `batch` lines a message, at most one message a second (chat.postMessage's
per-channel rate). Requests, decisions, approvals, transitions and outcomes get a line each; a
run's step entries (thousands for a large failover) collapse into one line per run and
message, naming the entries it covers and the first failure (`blocks.audit_lines`), so a
1,000-VM run costs a handful of messages. A post that fails leaves its entries pending: the
next pass, once Slack answers again, posts them. Entries carry their hash, so the channel
shows the chain a reader can check.

The chain's anchors go to the channel too: a copy of the head out of reach of whoever can
write the machine's disk (store/audit.py anchors every `anchor_every` entries and when a store
closes). Each pass reads the anchor file, so anchors written by any process
(the CLI, this bot before a restart) are posted, each once, after the entries they cover;
and every `anchor_every` seconds on the clock the feed anchors the head itself if entries came
since the last anchor, so a quiet trail is still anchored at intervals.
"""

from __future__ import annotations

import logging
import threading

from bot.slack import blocks
from bot.slack.poster import Poster
from engine.clock import Clock
from store import Store
from store.audit import Anchor, read_anchors

log = logging.getLogger(__name__)

TOPIC = "audit"
ANCHORS = "audit-anchor"


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
        window: int = 2_000,
        every: float = 5.0,
        anchor_every: float = 3_600.0,
    ) -> None:
        self._store = store
        self._poster = poster
        self._channel = channel
        self._clock = clock
        self._batch = batch
        self._window = window  # entries looked at a message: a run's steps collapse within it
        self._every = every
        self._anchor_every = anchor_every
        self._anchor_checked = clock.monotonic()
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
        with self._store.conn.write():  # one transaction, not one per entry
            for entry in self._store.audit.entries(since=int(last or 0)):
                payload = {k: entry[k] for k in ("seq", "at", "event_type", "actor", "hash")}
                payload["payload"] = entry["payload"]
                if self._store.outbox.add(TOPIC, str(entry["seq"]), payload):
                    kept += 1
        return kept

    def post_pending(self, max_posts: int = 5) -> int:
        """Post up to `max_posts` messages of up to `batch` lines; returns how many entries
        were posted. Stops at the first failure (the rest stay pending)."""
        posted = 0
        with self._lock:
            for _ in range(max_posts):
                window = self._store.outbox.pending(TOPIC, limit=self._window)
                if not window:
                    break
                entries = [item["payload"] for item in window]
                lines, used = blocks.audit_lines(entries, self._batch)
                items = window[:used]
                ids = [item["id"] for item in items]
                try:
                    message = blocks.audit_message(
                        lines, entries[0]["seq"], entries[used - 1]["seq"]
                    )
                    self._poster.post(self._channel, message)
                except Exception as failure:  # Slack down: keep them for the next pass
                    log.warning("audit entries not posted yet: %s", failure)
                    self._store.outbox.mark_failed(ids, str(failure))
                    break
                self._store.outbox.mark_posted(ids)
                self.posts += 1
                posted += len(items)
        return posted

    def anchor_if_due(self) -> Anchor | None:
        """Anchor the head if `anchor_every` seconds passed since the last look and entries
        came since the last anchor; returns the anchor written."""
        now = self._clock.monotonic()
        if now - self._anchor_checked < self._anchor_every:
            return None
        self._anchor_checked = now
        anchors = self._anchors()
        last = anchors[-1].seq if anchors else 0
        if not self._store.audit.entries(since=last, limit=1):
            return None
        return self._store.audit.anchor()

    def _anchors(self) -> list[Anchor]:
        path = self._store.audit.anchor_file
        return read_anchors(path) if path.exists() else []

    def collect_anchors(self) -> int:
        """Keep the anchors of the anchor file newer than the last one kept; returns how
        many. Keyed by entry and time: the same head anchored twice is two anchors."""
        last = self._store.outbox.last_key(ANCHORS) or ""
        kept = 0
        for anchor in self._anchors():
            key = f"{anchor.seq:012d}@{anchor.at}"
            if key > last and self._store.outbox.add(ANCHORS, key, anchor.model_dump()):
                kept += 1
        return kept

    def post_anchors(self) -> int:
        """Post the newest anchor kept whose entries were posted already, as one message that
        vouches for the older ready ones too (an anchor hashes the whole chain up to its
        entry; a large run writes one every `anchor_every` entries and posting each would
        crowd the channel). Returns the anchors it covers; on failure all stay pending."""
        waiting = self._store.outbox.pending(TOPIC, limit=1)
        first_unposted = int(waiting[0]["key"]) if waiting else None
        last_kept = int(self._store.outbox.last_key(TOPIC) or 0)
        with self._lock:
            ready = []
            for item in self._store.outbox.pending(ANCHORS, limit=1_000):
                anchor = Anchor.model_validate(item["payload"])
                if anchor.seq > last_kept or (
                    first_unposted is not None and anchor.seq >= first_unposted
                ):
                    break  # its entries are not in the channel yet
                ready.append((item["id"], anchor))
            if not ready:
                return 0
            ids = [item_id for item_id, _ in ready]
            try:
                self._poster.post(
                    self._channel, blocks.audit_anchor(ready[-1][1], earlier=len(ready) - 1)
                )
            except Exception as failure:  # Slack down: keep them for the next pass
                log.warning("audit anchor not posted yet: %s", failure)
                self._store.outbox.mark_failed(ids, str(failure))
                return 0
            self._store.outbox.mark_posted(ids)
        return len(ready)

    def run_once(self) -> int:
        """One pass: anchor if due, keep and post new entries, then their anchors; returns
        the entries posted."""
        try:
            self.anchor_if_due()
        except Exception:  # an unwritable anchor file must not stop the entries
            log.exception("the audit trail could not be anchored")
        self.collect()
        posted = self.post_pending()
        try:
            self.collect_anchors()
            self.post_anchors()
        except Exception:
            log.exception("audit anchors not posted")
        return posted

    def _loop(self) -> None:
        while not self._stop.wait(self._every):
            try:
                self.run_once()
            except Exception:
                log.exception("audit feed pass failed")
