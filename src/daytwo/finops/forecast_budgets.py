"""Budget projections: each ``spend_control`` budget's spend so far in its current window, and
where the forecast takes it by the window's end (``daytwo forecast``, ``budget_projection``
alerts).

Budget windows are calendar windows in ``spend_control.timezone``, exactly as spend control
counts them (:func:`daytwo.control.windows.window_at`). A budget is answered from one rollup
dimension: its scope is empty (the total) or one field with one value.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np

from daytwo.config.spend import BudgetConfig
from daytwo.control.windows import window_at
from daytwo.finops.forecast_data import Series, load_series, spent_since
from daytwo.finops.forecast_project import Band, Projector, dt, iso, project, usd
from daytwo.ledger.schema import DAY, HOUR
from daytwo.ledger.store import LedgerStore

#: Budget scope fields a forecast can answer from one rollup dimension.
SCOPE_DIMS = {
    "project": "project",
    "workflow": "workflow",
    "feature": "feature",
    "agent": "agent",
    "environment": "environment",
    "key": "key",
    "provider": "provider",
    "model": "model",
}
#: Budget windows long enough to project.
PROJECTED = ("day", "week", "month")
#: What-if: a series of a dimension as the scenario changes it.
Adjust = Callable[[str, Series | None], Series | None]


@dataclass(frozen=True, slots=True)
class BudgetProjection:
    """A ``spend_control`` budget: spent so far in its current window and where it is going."""

    name: str
    scope: dict[str, str]
    window: str
    cap: int
    window_start: datetime
    window_end: datetime
    spent: int | None = None
    #: Spend by the window's end: so far plus the forecast.
    projected: Band | None = None
    #: When the expected spend reaches the cap (None: not before the window ends).
    exhaustion: datetime | None = None
    #: Share of simulated futures in which the cap is exceeded before the window ends.
    probability: float | None = None
    note: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "scope": self.scope,
            "window": self.window,
            "cap": usd(self.cap),
            "window_start": iso(self.window_start),
            "window_end": iso(self.window_end),
            "spent": None if self.spent is None else usd(self.spent),
            "projected": None if self.projected is None else self.projected.to_json(),
            "exhaustion": None if self.exhaustion is None else iso(self.exhaustion),
            "probability": None if self.probability is None else round(self.probability, 4),
            "note": self.note,
        }


def project_budgets(
    store: LedgerStore,
    budgets: Sequence[BudgetConfig],
    *,
    now: float,
    timezone: str = "UTC",
    since_days: int = 56,
) -> tuple[BudgetProjection, ...]:
    """Each budget's spend so far in its current window and its projection to the window's end
    (what the ``budget_projection`` alerts watch)."""
    today = int(now) // DAY * DAY
    tz = ZoneInfo(timezone)
    ends = [window_at(b.window, now, tz).end for b in budgets if b.window in PROJECTED]
    steps = max([1, *(math.ceil((end - today) / DAY) for end in ends)])
    start = today - since_days * DAY
    return tuple(project_budget(store, b, now, today, steps, tz, start, None) for b in budgets)


def project_budget(
    store: LedgerStore,
    b: BudgetConfig,
    now: float,
    today: int,
    steps: int,
    tz: ZoneInfo,
    start: int,
    adjust: Adjust | None,
) -> BudgetProjection:
    win = window_at(b.window, now, tz)
    cap = 0 if b.usd is None else int(b.usd * 1_000_000_000)
    base = BudgetProjection(
        name=b.name,
        scope=dict(b.scope),
        window=b.window,
        cap=cap,
        window_start=dt(win.start),
        window_end=dt(win.end),
    )
    if b.usd is None:
        return _with(base, note="a token budget: forecasts are in dollars")
    if b.window not in PROJECTED:
        return _with(base, note=f"a {b.window} window is too short to project")
    if len(b.scope) > 1 or any(v == "*" for v in b.scope.values()):
        return _with(base, note="the scope spans several dimensions: the rollups cannot answer it")
    dim, value = ("total", "")
    if b.scope:
        ((name, value),) = b.scope.items()
        if name not in SCOPE_DIMS:
            return _with(base, note=f"scope field `{name}` is not kept in the rollups")
        dim = SCOPE_DIMS[name]
    spent = spent_since(store, dim, value, start=win.start, now=now)
    s = load_series(store, dim, start=start, now=now, value=value).get(value)
    if adjust is not None:
        s = adjust(dim, s)
    p = None if s is None else project(s, now=now, steps=steps, since_days=(today - start) // DAY)
    if p is None:
        return _with(base, spent=spent, note="too little history to project")
    mean, paths = p.between(now, win.end)
    cap_usd = cap / 1e9
    return _with(
        base,
        spent=spent,
        projected=Band.of(mean, paths, offset=spent),
        exhaustion=_exhaustion(p, spent / 1e9, cap_usd, now, win.end),
        probability=float(np.mean(spent / 1e9 + paths > cap_usd)),
    )


def _exhaustion(p: Projector, spent: float, cap: float, now: float, end: float) -> datetime | None:
    """The instant the expected cumulative spend reaches ``cap``, by hours (linear within one)."""
    if spent >= cap:
        return dt(now)
    edges = [now, *range(int(now) // HOUR * HOUR + HOUR, int(end), HOUR), end]
    total = spent
    for a, b in itertools.pairwise(edges):
        if b <= a:
            continue
        step = float(p.share(a, b) @ p.fit.mean)
        if total + step >= cap and step > 0:
            return dt(a + (b - a) * (cap - total) / step)
        total += step
    return None


def _with(base: BudgetProjection, **changes: Any) -> BudgetProjection:
    return replace(base, **changes)
