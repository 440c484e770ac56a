"""The report's charts, drawn with matplotlib's object API on the Agg canvas (no pyplot, no
display, no global state: safe in the scheduler's threads).

- `rto_figure`: RTO per vApp against the target (the slowest `MAX_BARS` when there are many)
  and the trend of the last drills' RTO;
- `rpo_figure`: replication lag and metadata age per pool over the readiness history.

Each axes carries a gid (`rto-per-vapp`, `rto-trend`, `rpo-lag`, `rpo-metadata-age`) so a
reader (and the tests) can find the series in the figure.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from datetime import datetime

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from bot.reports import messages as m
from bot.reports.models import DrillPoint, DrillReport, PoolReadiness

MAX_BARS = 40
PASS_COLOUR, FAIL_COLOUR, TARGET_COLOUR = "#2e7d32", "#c62828", "#555555"


def rto_figure(report: DrillReport, trend: Sequence[DrillPoint]) -> Figure:
    """RTO per vApp (bars, seconds to running) with the target, beside the RTO trend."""
    apps = sorted(
        (a for a in report.appliances if a.rto_seconds is not None),
        key=lambda a: a.rto_seconds or 0.0,
        reverse=True,
    )[:MAX_BARS]
    apps.reverse()  # slowest at the top of a horizontal bar chart
    height = max(3.5, 0.28 * len(apps) + 1.5)
    fig = Figure(figsize=(11, height), dpi=100, layout="constrained")
    FigureCanvasAgg(fig)
    bars, line = fig.subplots(1, 2, width_ratios=[3, 2])

    bars.set_gid("rto-per-vapp")
    bars.barh(
        [a.name for a in apps],
        [a.rto_seconds or 0.0 for a in apps],
        color=[PASS_COLOUR if a.within_target else FAIL_COLOUR for a in apps],
    )
    bars.axvline(report.rto_target_seconds, color=TARGET_COLOUR, linestyle="--", label="target")
    shown = len(apps)
    total = sum(1 for a in report.appliances if a.rto_seconds is not None)
    title = m.CHART_RTO_TITLE.format(run_id=report.run_id)
    bars.set_title(title if shown == total else f"{title} (slowest {shown} of {total})")
    bars.set_xlabel("seconds to running")
    bars.tick_params(axis="y", labelsize=8)
    bars.legend(loc="lower right")

    line.set_gid("rto-trend")
    points = [p for p in trend if p.rto_seconds is not None]
    line.plot(
        [p.at for p in points],
        [p.rto_seconds for p in points],
        marker="o",
        color=TARGET_COLOUR,
        label="RTO",
    )
    for p in points:
        ok = p.outcome == "succeeded" and (p.rto_seconds or 0) <= report.rto_target_seconds
        line.plot([p.at], [p.rto_seconds], "o", color=PASS_COLOUR if ok else FAIL_COLOUR)
    line.axhline(report.rto_target_seconds, color=TARGET_COLOUR, linestyle="--")
    line.set_title(m.CHART_TREND_TITLE.format(count=len(points)))
    line.set_ylabel("seconds")
    line.set_ylim(bottom=0)
    line.tick_params(axis="x", labelrotation=30, labelsize=8)
    return fig


def rpo_figure(samples: Sequence[PoolReadiness], days: int, rpo_target_seconds: float) -> Figure:
    """Replication lag and metadata age per pool over time, with the RPO target."""
    fig = Figure(figsize=(11, 5.5), dpi=100, layout="constrained")
    FigureCanvasAgg(fig)
    lag_ax, age_ax = fig.subplots(2, 1, sharex=True)
    lag_ax.set_gid("rpo-lag")
    age_ax.set_gid("rpo-metadata-age")
    pools = sorted({s.pool for s in samples})
    for pool in pools:
        mine = [s for s in samples if s.pool == pool]
        times: list[datetime] = [s.at for s in mine]
        lag_ax.plot(times, [_nan(s.lag_seconds) for s in mine], label=pool, gid=f"lag:{pool}")
        age_ax.plot(
            times, [_nan(s.metadata_age_seconds) for s in mine], label=pool, gid=f"age:{pool}"
        )
    lag_ax.axhline(rpo_target_seconds, color=TARGET_COLOUR, linestyle="--", label="RPO target")
    lag_ax.set_title(m.CHART_RPO_TITLE.format(days=days))
    lag_ax.set_ylabel("replication lag (s)")
    age_ax.set_ylabel("metadata age (s)")
    if pools:
        lag_ax.legend(loc="upper left", fontsize=8)
    age_ax.tick_params(axis="x", labelrotation=30, labelsize=8)
    return fig


def _nan(value: float | None) -> float:
    return float("nan") if value is None else value


def png(fig: Figure) -> bytes:
    """The figure as PNG bytes."""
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png")
    return buffer.getvalue()
