"""Figures as people read them: durations and sizes, short."""

from __future__ import annotations

from bot.reports.messages import UNKNOWN_FIGURE


def duration(seconds: float | None) -> str:
    """42 s, 7 min, 2.5 h, 3 d ("?" when unknown)."""
    if seconds is None:
        return UNKNOWN_FIGURE
    if seconds < 100:
        return f"{seconds:.0f} s"
    if seconds < 100 * 60:
        return f"{seconds / 60:.0f} min"
    if seconds < 48 * 3600:
        return f"{seconds / 3600:.1f} h"
    return f"{seconds / 86400:.0f} d"


def size(nbytes: int | None) -> str:
    """Bytes in GiB (or TiB from 10 TiB up)."""
    if nbytes is None:
        return UNKNOWN_FIGURE
    gib = nbytes / 2**30
    return f"{gib / 1024:.1f} TiB" if gib >= 10 * 1024 else f"{gib:.0f} GiB"
