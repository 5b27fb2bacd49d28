"""The daily series a forecast is fitted on, read from the ledger's ``rollup_hourly`` only.

One query per dimension: the dimension's rows over the history (hours x distinct values, however
many calls there were), folded into whole UTC days per value with numpy. The hour-of-day profile
(each hour's share of a day's spend, over the whole history) comes from the same rows.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import sqlalchemy as sa

from daytwo.ledger.schema import DAY, HOUR, rollup_hourly
from daytwo.ledger.store import LedgerStore

Ints = npt.NDArray[np.int64]

#: Token counters kept per day, for re-pricing (what-if).
TOKENS = ("input_tokens", "output_tokens", "cached_input_tokens", "cache_write_tokens")


@dataclass(frozen=True, slots=True)
class Series:
    """One value of a dimension: per UTC day from the history's start, the last entry being
    today so far. Money in nano-dollars."""

    key: str
    cost: Ints
    tokens: dict[str, Ints]
    #: Spend per hour of the UTC day, summed over the history.
    hours: Ints
    #: Spend per day and hour of the day (days x 24), for the hourly anomaly check.
    hourly: Ints | None = None

    @property
    def full_days(self) -> Ints:
        return self.cost[:-1]

    @property
    def today(self) -> int:
        return int(self.cost[-1])


def load_series(
    store: LedgerStore, dim: str, *, start: int, now: float, value: str | None = None
) -> dict[str, Series]:
    """Every value of ``dim`` (``total``: the whole traffic, key ``''``) with calls since
    ``start`` (a UTC midnight), up to the hour in progress at ``now``."""
    today = int(now) // DAY * DAY
    days = (today - start) // DAY + 1
    t = rollup_hourly
    where = [t.c.dim == dim, t.c.hour_start >= start, t.c.hour_start < today + DAY]
    if value is not None:
        where.append(t.c.value == value)
    query = sa.select(
        t.c.value, t.c.hour_start, t.c.cost_nanousd, *(t.c[name] for name in TOKENS)
    ).where(*where)
    with store.connect() as conn:
        rows = conn.execute(query).all()
    if not rows:
        return {}
    keys = sorted({r[0] for r in rows})
    index = {k: i for i, k in enumerate(keys)}
    data = np.array([r[1:] for r in rows], dtype=np.int64)
    which = np.array([index[r[0]] for r in rows], dtype=np.int64)
    day = (data[:, 0] - start) // DAY
    hour = (data[:, 0] % DAY) // HOUR
    per_day = np.zeros((len(keys), days, 1 + len(TOKENS)), dtype=np.int64)
    np.add.at(per_day, (which, day), data[:, 1:])
    grid = np.zeros((len(keys), days, 24), dtype=np.int64)
    np.add.at(grid, (which, day, hour), data[:, 1])
    return {
        k: Series(
            key=k,
            cost=per_day[i, :, 0],
            tokens={name: per_day[i, :, 1 + j] for j, name in enumerate(TOKENS)},
            hours=grid[i].sum(axis=0),
            hourly=grid[i],
        )
        for k, i in index.items()
    }


def spent_since(store: LedgerStore, dim: str, value: str, *, start: float, now: float) -> int:
    """Nano-dollars spent by ``dim=value`` from the hour containing ``start`` up to ``now``."""
    t = rollup_hourly
    query = sa.select(sa.func.coalesce(sa.func.sum(t.c.cost_nanousd), 0)).where(
        t.c.dim == dim,
        t.c.value == value,
        t.c.hour_start >= int(start) // HOUR * HOUR,
        t.c.hour_start <= now,
    )
    with store.connect() as conn:
        return int(conn.execute(query).scalar_one())
