"""The ledger's view of quality: scores per evaluator and group over a window (``daytwo
quality``, ``GET /admin/quality``).

One query per window: ``scores`` (over its (``evaluator``, ``at``) / ``at`` index) LEFT JOINed
to ``calls`` on ``call_id`` for the group's columns, grouped by evaluator and the asked
dimensions. A score whose call row is not written yet (the writer's flush delay, or feedback
on a call this ledger never saw) still counts, in a group whose values are None. Scores
without a value (``feedback:label``) are left out: a rate is the mean of values.

The window is on the score's time (``at``): when the judgement was made, which is what an
online evaluator's or the application's rate over "the last 24 h" means. The statistics
(intervals, tests) are not here: the ledger room imports no ``stats``
(``daytwo.quality.report`` does).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

from daytwo.ledger.dims import QUALITY_DIMS
from daytwo.ledger.schema import calls, scores
from daytwo.ledger.store import LedgerStore


@dataclass(frozen=True, slots=True)
class ScoreCounts:
    """One evaluator's scores with values in one group over one window.

    ``n``: scores; ``total``: the sum of their values; ``low``/``high``: the smallest and
    largest value; ``fractional``: values other than 0 and 1 (0 means a pass/fail rate).
    """

    evaluator: str
    group: tuple[str | None, ...]
    n: int
    total: float
    low: float
    high: float
    fractional: int

    @property
    def mean(self) -> float:
        return self.total / self.n


def _dimension(name: str) -> sa.ColumnElement[Any]:
    c = calls.c
    if name == "model":
        return sa.func.coalesce(c.served_model, c.alias)
    if name == "prompt":
        return c.prompt_name
    if name == "prompt_version":
        return sa.case(
            (
                c.prompt_name.is_not(None),
                c.prompt_name + "@v" + sa.cast(c.prompt_version, sa.Text()),
            ),
            else_=None,
        )
    if name == "key":
        return c.key_id
    if name in QUALITY_DIMS:
        column: sa.ColumnElement[Any] = c[name]
        return column
    raise ValueError(f"unknown dimension {name!r} (choose from {', '.join(QUALITY_DIMS)})")


def score_counts(
    store: LedgerStore,
    start: float,
    end: float,
    by: tuple[str, ...] = (),
    *,
    evaluator: str | None = None,
    project: str | None = None,
) -> list[ScoreCounts]:
    """Per evaluator and group (``by``: names from :data:`QUALITY_DIMS`), the scores made in
    [start, end); sorted by evaluator then group (None first). ``project``: only scores of that
    project's calls (scores whose call row is not written yet are then left out). Raises
    ValueError for an unknown dimension."""
    dims = [_dimension(name).label(f"g{i}") for i, name in enumerate(by)]
    s = scores.c
    value = s.value
    fractional = sa.func.sum(sa.case((value.in_([0.0, 1.0]), 0), else_=1))
    query = (
        sa.select(
            s.evaluator,
            *dims,
            sa.func.count(value).label("n"),
            sa.func.sum(value).label("total"),
            sa.func.min(value).label("low"),
            sa.func.max(value).label("high"),
            fractional.label("fractional"),
        )
        .select_from(scores.outerjoin(calls, calls.c.id == s.call_id))
        .where(s.at >= start, s.at < end, value.is_not(None))
        .group_by(s.evaluator, *(sa.literal_column(f"g{i}") for i in range(len(by))))
    )
    if evaluator is not None:
        query = query.where(s.evaluator == evaluator)
    if project is not None:
        query = query.where(calls.c.project == project)
    out = []
    with store.connect() as conn:
        for row in conn.execute(query):
            group = tuple(None if v is None else str(v) for v in row[1 : 1 + len(by)])
            out.append(
                ScoreCounts(
                    evaluator=str(row.evaluator),
                    group=group,
                    n=int(row.n),
                    total=float(row.total),
                    low=float(row.low),
                    high=float(row.high),
                    fractional=int(row.fractional),
                )
            )
    out.sort(key=lambda r: (r.evaluator, tuple((v is not None, v or "") for v in r.group)))
    return out


@dataclass(frozen=True, slots=True)
class CallOwner:
    """What feedback on a call needs to know of it: its id, trace and project."""

    call_id: str
    trace_id: str
    project: str


#: How far back a trace id is looked for (``calls`` has no index on ``trace_id``; its
#: ``started_at`` index bounds the read).
TRACE_LOOKBACK_S = 7 * 86_400


def find_call(
    store: LedgerStore,
    *,
    call_id: str | None = None,
    trace_id: str | None = None,
    now: float | None = None,
) -> CallOwner | None:
    """The call ``call_id`` names, or the latest call of ``trace_id`` that started in the last
    :data:`TRACE_LOOKBACK_S` seconds before ``now``; None when the ledger holds none."""
    c = calls.c
    query = sa.select(c.id, c.trace_id, c.project)
    if call_id is not None:
        query = query.where(c.id == call_id)
    elif trace_id is not None:
        end = time.time() if now is None else now
        query = (
            query.where(c.trace_id == trace_id, c.started_at >= end - TRACE_LOOKBACK_S)
            .order_by(c.started_at.desc())
            .limit(1)
        )
    else:
        raise ValueError("find_call needs call_id or trace_id")
    with store.connect() as conn:
        row = conn.execute(query).first()
    if row is None:
        return None
    return CallOwner(str(row.id), str(row.trace_id), str(row.project))
