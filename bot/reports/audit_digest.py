"""The audit digest (the day's audit events, counted by type and actor, to the audit channel)
and the scheduled check of the audit chain, which alerts once when the chain stops verifying
(and again only if what is broken changes).

What was last digested and what was last said about the chain are in the store's kv, so a
restart or a second replica neither repeats a digest nor re-alerts.
"""

from __future__ import annotations

from collections import Counter
from datetime import datetime
from typing import Any

from bot.reports import messages as m
from bot.reports.blocks import Blocks, context, header, listing, section
from bot.reports.config import ReportsConfig
from bot.reports.poster import Poster
from store import Store

DIGESTED = "reports.audit-digested"  # kv: "seq" -> the last entry digested, "at" -> when
CHAIN = "reports.audit-chain"  # kv: "problem" -> the break last alerted ("" when verified)
ACTORS_SHOWN = 10


def chain_problem(store: Store) -> tuple[str, int]:
    """What breaks the audit chain ("" when it verifies) and how many entries it has.

    Uses the store's `check()` where the audit trail names the first broken entry (the keyed
    chain), else its `verify()`.
    """
    audit: Any = store.audit
    check = getattr(audit, "check", None)
    if check is not None:
        result = check()
        return result.problem or "", int(result.entries)
    count = store.db["audit"].count
    return ("" if audit.verify() else "an entry no longer matches its hash or link"), count


def digest_message(
    entries: list[dict[str, Any]], since: datetime | None, when: datetime, config: ReportsConfig
) -> tuple[str, Blocks]:
    """The digest of `entries` (oldest first) since `since`."""
    local = when.astimezone(config.zone).strftime("%a %d %b %H:%M %Z")
    since_text = (
        since.astimezone(config.zone).strftime("%d %b %H:%M") if since else m.AUDIT_SINCE_START
    )
    blocks: Blocks = [header(m.AUDIT_DIGEST_TITLE.format(when=local))]
    if not entries:
        blocks.append(section(m.AUDIT_DIGEST_NONE.format(since=since_text)))
        return m.AUDIT_DIGEST_NONE.format(since=since_text), blocks
    types = Counter(e["event_type"] for e in entries)
    lines = [m.AUDIT_DIGEST_LINE.format(type=t, count=n) for t, n in types.most_common()]
    blocks.append(section(listing(lines, 2800)))
    actors = Counter(e["actor"] for e in entries)
    shown = ", ".join(f"{a} ({n})" for a, n in actors.most_common(ACTORS_SHOWN))
    if len(actors) > ACTORS_SHOWN:
        shown += f" and {len(actors) - ACTORS_SHOWN} more"
    blocks.append(context(m.AUDIT_DIGEST_ACTORS.format(actors=shown)))
    first, last = entries[0]["seq"], entries[-1]["seq"]
    blocks.append(context(m.AUDIT_DIGEST_RANGE.format(first=first, last=last)))
    return m.AUDIT_DIGEST_TEXT.format(count=len(entries), since=since_text), blocks


class AuditReports:
    """The audit jobs: `digest` (daily) and `verify` (hourly)."""

    def __init__(self, store: Store, poster: Poster, config: ReportsConfig) -> None:
        self.store = store
        self.poster = poster
        self.config = config

    def digest(self, due: datetime) -> str:
        """Post the events since the last digest, with the chain's state."""
        done = self.store.kv(DIGESTED)
        since_seq = int(done.get("seq", 0))
        since = datetime.fromisoformat(done["at"]) if "at" in done else None
        entries = self.store.audit.entries(since=since_seq)
        text, blocks = digest_message(entries, since, due, self.config)
        problem, count = chain_problem(self.store)
        blocks.append(
            section(
                m.AUDIT_CHAIN_BROKEN.format(detail=problem)
                if problem
                else m.AUDIT_CHAIN_OK.format(count=count)
            )
        )
        self.poster.post(self.config.audit_channel, text, blocks)
        done["seq"] = entries[-1]["seq"] if entries else since_seq
        done["at"] = due.isoformat()
        return text

    def verify(self, due: datetime) -> str:
        """Check the chain; alert once per distinct break, and say once when it holds again."""
        problem, count = chain_problem(self.store)
        state = self.store.kv(CHAIN)
        said = state.get("problem", "")
        if problem and problem != said:
            line = m.AUDIT_CHAIN_BROKEN.format(detail=problem)
            self.poster.post(self.config.audit_channel, m.AUDIT_CHAIN_BROKEN_TEXT, [section(line)])
        elif not problem and said:
            line = m.AUDIT_CHAIN_OK.format(count=count)
            self.poster.post(self.config.audit_channel, line, [section(line)])
        state["problem"] = problem
        return problem or m.AUDIT_CHAIN_OK.format(count=count)
