"""Budget windows, calendar-aligned in one IANA timezone, from an injectable clock.

``hour``, ``day``, ``week`` (starting Monday, ISO) and ``month`` windows start at the local
wall-clock boundary in the configured timezone and end at the next one, so a day is 23 or 25
hours long on DST change days, and a month is its calendar length. ``request`` is not a window:
a per-request budget bounds each call on its own and keeps no counter.

Times are epoch seconds (floats). A window is identified by its start (an integer epoch second)
which is part of every counter key: rollover is a *new key*, never a reset of an old one, so it
happens exactly once per boundary however many replicas see it.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal
from zoneinfo import ZoneInfo

WindowKind = Literal["request", "hour", "day", "week", "month"]
WINDOW_KINDS: tuple[WindowKind, ...] = ("request", "hour", "day", "week", "month")

Clock = Callable[[], float]
system_clock: Clock = time.time


@dataclass(frozen=True, slots=True)
class Window:
    kind: str
    start: float
    end: float

    @property
    def id(self) -> int:
        return int(self.start)

    @property
    def reset_at(self) -> float:
        return self.end


def _local_midnight(year: int, month: int, day: int, tz: ZoneInfo) -> float:
    return datetime(year, month, day, tzinfo=tz).timestamp()


def window_at(kind: WindowKind, now: float, tz: ZoneInfo) -> Window:
    """The window of ``kind`` containing the instant ``now`` (start inclusive, end exclusive)."""
    local = datetime.fromtimestamp(now, tz)
    if kind == "request":
        return Window(kind, now, now)
    if kind == "hour":
        # keeps ``fold``, so the repeated hour of a DST fall-back is its own window
        start = local.replace(minute=0, second=0, microsecond=0).timestamp()
        return Window(kind, start, start + 3600)
    if kind == "day":
        d = local.date()
        nxt = d + timedelta(days=1)
        return Window(
            kind,
            _local_midnight(d.year, d.month, d.day, tz),
            _local_midnight(nxt.year, nxt.month, nxt.day, tz),
        )
    if kind == "week":
        d = local.date() - timedelta(days=local.weekday())
        nxt = d + timedelta(days=7)
        return Window(
            kind,
            _local_midnight(d.year, d.month, d.day, tz),
            _local_midnight(nxt.year, nxt.month, nxt.day, tz),
        )
    if kind == "month":
        y, m = local.year, local.month
        ny, nm = (y + 1, 1) if m == 12 else (y, m + 1)
        return Window(kind, _local_midnight(y, m, 1, tz), _local_midnight(ny, nm, 1, tz))
    raise ValueError(f"unknown window kind {kind!r}; expected one of {WINDOW_KINDS}")


def minute_window(now: float) -> Window:
    """The fixed UTC minute containing ``now`` (rate limits; minutes are the same everywhere)."""
    start = float(int(now // 60) * 60)
    return Window("minute", start, start + 60)
