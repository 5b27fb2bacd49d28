"""Budget threshold crossings, the source of ``budget_threshold`` rules.

Spend control writes each crossing of a budget's alert threshold (``50%`` of ``acme-daily``
for ``project=acme``) to the admin event log, whichever replica settled the call. The evaluating
replica reads the events it has not seen at each evaluation; a crossing stays current until the
budget's window ends (computed from the budget's config and ``spend_control.timezone``). The
first read looks back far enough for the longest window (a month), so a gateway that starts
mid-window knows the crossings of that window.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any
from zoneinfo import ZoneInfo

import orjson
import sqlalchemy as sa

from daytwo.config.spend import BudgetConfig
from daytwo.control.windows import window_at
from daytwo.keys.schema import admin_events
from daytwo.ledger.store import LedgerStore

#: Threshold events older than this are not read at start (the longest window, a month).
LOOKBACK_S = 32 * 86_400
#: A crossing of a budget that is no longer configured counts for this long.
UNKNOWN_WINDOW_S = 86_400


@dataclass(frozen=True, slots=True)
class Crossing:
    budget: str
    scope: str
    percent: int
    ends_at: float
    #: Spend and cap when it was crossed, in ``unit`` (``nanousd`` or ``tokens``).
    value: int | None
    limit: int | None
    unit: str


class Crossings:
    """The crossings whose budget window is still running. Not thread-safe: :meth:`read_new`
    runs in a worker thread, :meth:`add` and :meth:`current` on the event loop."""

    def __init__(self, budgets: Iterable[BudgetConfig], tz: ZoneInfo) -> None:
        self.configure(budgets, tz)
        self._current: dict[tuple[str, str, int], Crossing] = {}
        #: The newest admin event read (None: nothing read yet).
        self.last_id: int | None = None

    def configure(self, budgets: Iterable[BudgetConfig], tz: ZoneInfo) -> None:
        self._budgets = {b.name: b for b in budgets}
        self._tz = tz

    def read_new(self, store: LedgerStore, now: float) -> tuple[int, list[dict[str, Any]]]:
        """The threshold events not read yet (blocking) and the newest event id."""
        c = admin_events.c
        with store.connect() as conn:
            newest = int(
                conn.execute(sa.select(sa.func.coalesce(sa.func.max(c.id), 0))).scalar_one()
            )
            query = sa.select(c.after).where(c.action == "threshold", c.id <= newest)
            if self.last_id is None:
                query = query.where(c.at >= now - LOOKBACK_S)
            else:
                query = query.where(c.id > self.last_id)
            events = []
            for (after,) in conn.execute(query.order_by(c.id)):
                try:
                    data = orjson.loads(after) if after else None
                except orjson.JSONDecodeError:
                    continue
                if isinstance(data, dict):
                    events.append(data)
        return newest, events

    def add(self, newest: int, events: list[dict[str, Any]], now: float) -> None:
        self.last_id = newest
        for event in events:
            crossing = self._crossing(event)
            if crossing is not None and crossing.ends_at > now:
                self._current[crossing.budget, crossing.scope, crossing.percent] = crossing

    def current(self, now: float) -> list[Crossing]:
        for key in [k for k, x in self._current.items() if x.ends_at <= now]:
            del self._current[key]
        return list(self._current.values())

    def _crossing(self, event: dict[str, Any]) -> Crossing | None:
        try:
            budget, scope = str(event["budget"]), str(event["scope"])
            percent, start = int(event["percent"]), float(event["window_start"])
        except (KeyError, TypeError, ValueError):
            return None
        b = self._budgets.get(budget)
        if b is not None and b.window != "request":
            ends = window_at(b.window, start + 1, self._tz).end
        else:
            ends = start + UNKNOWN_WINDOW_S
        value, limit = event.get("value"), event.get("limit")
        return Crossing(
            budget,
            scope,
            percent,
            ends,
            value if isinstance(value, int) else None,
            limit if isinstance(limit, int) else None,
            str(event.get("unit", "nanousd")),
        )
