"""Readiness over time: samples kept in the store, alerts when a pool gets worse (posted once,
when it happens) and a notice when it is ready again, and the daily summary of each pool's
verdict and what changed since the last summary.

The checks come from a `ReadinessProbe` (a function returning one `PoolReadiness` per pool),
so this module neither plans nor calls XAPI; `bot.reports.probe` makes one from the engine.

State that must survive a restart (what was last announced per pool, what the last summary
showed) is in the store's kv, so a second replica taking over the schedule says nothing twice.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from bot.reports import messages as m
from bot.reports.blocks import Blocks, context, divider, fits, header, listing, section
from bot.reports.config import ReportsConfig
from bot.reports.models import RANK, PoolReadiness
from bot.reports.poster import Poster
from bot.reports.units import duration, size
from store import Store

ReadinessProbe = Callable[[], list[PoolReadiness]]

ANNOUNCED = "reports.readiness-announced"  # kv: pool -> {"verdict", "since"} last posted
LAST_SUMMARY = "reports.last-summary"  # kv: pool -> the PoolReadiness the last summary showed
NAMES_SHOWN = 300  # characters of VM or network names listed in one change line


def record(store: Store, samples: Sequence[PoolReadiness]) -> None:
    """Keep `samples` in the readiness history."""
    for s in samples:
        store.history.add_sample(
            s.pool,
            s.verdict,
            at=s.at,
            dr_pool=s.dr_pool,
            lag_seconds=s.lag_seconds,
            metadata_age_seconds=s.metadata_age_seconds,
            capacity_needed_bytes=s.capacity_needed_bytes,
            capacity_free_bytes=s.capacity_free_bytes,
            unprotected_count=len(s.unprotected),
            detail=s.model_dump(mode="json"),
        )


@dataclass(frozen=True)
class Announcement:
    """A message about one pool's readiness, and what is announced for it once posted."""

    pool: str
    text: str
    blocks: Blocks
    state: dict[str, str]


def alerts(store: Store, samples: Sequence[PoolReadiness]) -> list[Announcement]:
    """The alerts and recovery notices `samples` call for: a pool worse than last announced is
    alerted once; back to ready after an alert, a recovery notice once; anything in between
    stays quiet (and is remembered, so a fall back down is news again). The announced state
    changes only through `announced`, once the message is posted."""
    announced = store.kv(ANNOUNCED)
    out: list[Announcement] = []
    for s in samples:
        before = announced.get(s.pool) or {"verdict": "ready", "since": s.at.isoformat()}
        was = before["verdict"]
        now = {"verdict": s.verdict, "since": s.at.isoformat()}
        if RANK[s.verdict] > RANK[was]:
            line = m.ALERT.format(
                icon=m.VERDICT_ICON[s.verdict], pool=s.pool, verdict=s.verdict, before=was
            )
            blocks = [section(line)]
            if s.reasons:
                blocks.append(section(listing(s.reasons, 2900)))
            text = m.ALERT_TEXT.format(pool=s.pool, verdict=s.verdict)
            out.append(Announcement(s.pool, text, blocks, now))
        elif s.verdict == "ready" and was != "ready":
            since = datetime.fromisoformat(before["since"])
            line = m.RECOVERED.format(
                pool=s.pool, before=was, since=since.strftime("%Y-%m-%d %H:%M UTC")
            )
            text = m.RECOVERED_TEXT.format(pool=s.pool)
            out.append(Announcement(s.pool, text, [section(line)], now))
        elif RANK[s.verdict] < RANK[was]:
            announced[s.pool] = {"verdict": s.verdict, "since": before["since"]}
    return out


def announced(store: Store, announcement: Announcement) -> None:
    """Remember that `announcement` was posted."""
    store.kv(ANNOUNCED)[announcement.pool] = announcement.state


def _names(names: Sequence[str]) -> str:
    shown: list[str] = []
    used = 0
    for name in names:
        if used + len(name) > NAMES_SHOWN:
            return m.AND_MORE.format(shown=", ".join(shown), more=len(names) - len(shown))
        shown.append(name)
        used += len(name) + 2
    return ", ".join(shown)


def changes(now: PoolReadiness, before: PoolReadiness | None, config: ReportsConfig) -> list[str]:
    """What is worth saying about a pool since the last summary: a verdict change, newly
    unprotected (or protected again) VMs, stale metadata, lag over the RPO target, a capacity
    shortfall and missing networks (the last four while they last, as each is a risk now)."""
    lines: list[str] = []
    if before is not None and before.verdict != now.verdict:
        lines.append(m.CHANGE_VERDICT.format(before=before.verdict, after=now.verdict))
    if before is None:
        if now.unprotected:
            lines.append(m.CHANGE_UNPROTECTED.format(names=_names(now.unprotected)))
    else:
        previous = set(before.unprotected)
        new = [n for n in now.unprotected if n not in previous]
        if new:
            lines.append(m.CHANGE_NEW_UNPROTECTED.format(names=_names(new)))
        back = sorted(previous - set(now.unprotected))
        if back:
            lines.append(m.CHANGE_NOW_PROTECTED.format(names=_names(back)))
    age = now.metadata_age_seconds
    if age is not None and age > config.metadata_stale_seconds:
        lines.append(
            m.CHANGE_METADATA_STALE.format(
                age=duration(age), limit=duration(config.metadata_stale_seconds)
            )
        )
    if now.lag_seconds is not None and now.lag_seconds > config.rpo_target_seconds:
        lines.append(
            m.CHANGE_LAG_HIGH.format(
                lag=duration(now.lag_seconds), limit=duration(config.rpo_target_seconds)
            )
        )
    if now.capacity_fits is False:
        lines.append(
            m.CHANGE_CAPACITY.format(
                needed=size(now.capacity_needed_bytes), free=size(now.capacity_free_bytes)
            )
        )
    if now.missing_networks:
        lines.append(m.CHANGE_NETWORKS.format(names=_names(now.missing_networks)))
    return lines


def _counts(samples: Sequence[PoolReadiness]) -> str:
    counts = Counter(s.verdict for s in samples)
    return ", ".join(f"{n} {v}" for v, n in sorted(counts.items(), key=lambda kv: RANK[kv[0]]))


def summary_message(
    samples: Sequence[PoolReadiness],
    previous: dict[str, PoolReadiness],
    config: ReportsConfig,
    when: datetime,
) -> tuple[str, Blocks]:
    """The daily summary: each pool's verdict and figures, and what changed since `previous`.
    Pools are shown worst first, as many as fit in one message; the rest are counted in one
    line (the thread is not needed: the worst pools come first)."""
    local = when.astimezone(config.zone)
    blocks: Blocks = [header(m.SUMMARY_TITLE.format(when=local.strftime("%a %d %b %H:%M %Z")))]
    ordered = sorted(samples, key=lambda s: (-RANK[s.verdict], s.pool))
    shown = 0
    for s in ordered:
        unprotected = (
            m.UNPROTECTED.format(count=len(s.unprotected)) if s.unprotected else m.ALL_PROTECTED
        )
        capacity = (
            f"{size(s.capacity_needed_bytes)} of {size(s.capacity_free_bytes)} free"
            if s.capacity_needed_bytes is not None
            else m.UNKNOWN_FIGURE
        )
        head = m.SUMMARY_POOL.format(
            icon=m.VERDICT_ICON[s.verdict], pool=s.pool, dr=s.dr_pool or "?", verdict=s.verdict
        )
        figures = m.SUMMARY_FIGURES.format(
            lag=duration(s.lag_seconds),
            age=duration(s.metadata_age_seconds),
            capacity=capacity,
            unprotected=unprotected,
        )
        said = changes(s, previous.get(s.pool), config)
        if s.pool not in previous:
            said.insert(0, m.SUMMARY_FIRST)
        elif not said:
            said = [m.SUMMARY_NO_CHANGE]
        pool_blocks = [
            section(f"{head}\n{figures}"),
            context(listing([f"• {line}" for line in said], 1500)),
        ]
        if not fits(blocks + pool_blocks):
            break
        blocks += pool_blocks
        shown += 1
    rest = ordered[shown:]
    if rest:
        blocks.append(divider())
        blocks.append(section(m.SUMMARY_MORE_POOLS.format(count=len(rest), counts=_counts(rest))))
    return m.SUMMARY_TEXT.format(counts=_counts(samples)), blocks


class ReadinessReports:
    """The readiness jobs: `check` (every few minutes) and `summary` (daily)."""

    def __init__(
        self,
        store: Store,
        probe: ReadinessProbe,
        poster: Poster,
        config: ReportsConfig,
    ) -> None:
        self.store = store
        self.probe = probe
        self.poster = poster
        self.config = config

    def check(self, due: datetime) -> str:
        """Check every pool, keep the samples, post what changed for the worse (or cleared),
        and drop samples older than the history's retention."""
        samples = self.probe()
        record(self.store, samples)
        posted = alerts(self.store, samples)
        for a in posted:
            # Posted first, remembered after: if Slack refuses, the next check says it again.
            self.poster.post(self.config.alerts_to, a.text, a.blocks)
            announced(self.store, a)
        self.store.history.prune(due - timedelta(days=self.config.history_days))
        return f"{len(samples)} pools checked ({_counts(samples)}); {len(posted)} posted"

    def summary(self, due: datetime) -> str:
        """Post the daily summary from a fresh check, and remember what it showed."""
        samples = self.probe()
        record(self.store, samples)
        last = self.store.kv(LAST_SUMMARY)
        previous = {pool: PoolReadiness.model_validate(value) for pool, value in last.items()}
        text, blocks = summary_message(samples, previous, self.config, due)
        self.poster.post(self.config.channel, text, blocks)
        for s in samples:
            last[s.pool] = s.model_dump(mode="json")
        return text


def latest_samples(store: Store) -> list[PoolReadiness]:
    """The newest kept sample of every pool (for App Home and `/dr status`)."""
    out = []
    for pool in store.history.pools():
        row: dict[str, Any] | None = store.history.latest(pool)
        if row is not None:
            out.append(PoolReadiness.model_validate(row["detail"]))
    return out


def rpo_series(store: Store, since: datetime) -> list[PoolReadiness]:
    """For the RPO chart: per pool and hour since `since`, the worst lag and metadata age of
    the kept samples, oldest first (a month of 5-minute checks is 720 points a pool, not
    8,640, and no peak is lost)."""
    return [
        PoolReadiness(
            pool=r["pool"],
            verdict="unknown",  # not read: the chart plots the figures only
            at=r["hour"],
            lag_seconds=r["lag_seconds"],
            metadata_age_seconds=r["metadata_age_seconds"],
        )
        for r in store.history.hourly_worst(since)
    ]
