"""Spend totals since an instant, grouped by call fields: what spend control rebuilds its
counters from after a restart (the ledger is the record of truth; counters are a cache of it)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import sqlalchemy as sa

from daytwo.ledger.schema import calls
from daytwo.ledger.store import LedgerStore

#: Scope field → ledger column.
COLUMNS: Mapping[str, str] = {
    "project": "project",
    "workflow": "workflow",
    "feature": "feature",
    "agent": "agent",
    "session": "session",
    "user": "user",
    "environment": "environment",
    "key": "key_id",
    "model": "alias",
    "provider": "provider",
}


@dataclass(frozen=True, slots=True)
class Total:
    fields: dict[str, str | None]
    nanos: int
    tokens: int


def totals_since(
    store: LedgerStore,
    since: float,
    *,
    group_by: Sequence[str] = (),
    where: Mapping[str, str] | None = None,
) -> list[Total]:
    """Cost and tokens of calls started at or after ``since``, per distinct ``group_by`` values
    (scope field names), among calls whose fields equal ``where``."""
    cols = [calls.c[COLUMNS[f]] for f in group_by]
    query = sa.select(
        *cols,
        sa.func.coalesce(sa.func.sum(calls.c.cost_nanousd), 0),
        sa.func.coalesce(sa.func.sum(calls.c.input_tokens + calls.c.output_tokens), 0),
    ).where(calls.c.started_at >= since)
    for name, value in (where or {}).items():
        query = query.where(calls.c[COLUMNS[name]] == value)
    if cols:
        query = query.group_by(*cols)
    out = []
    with store.connect() as conn:
        for row in conn.execute(query):
            values = dict(zip(group_by, row[: len(cols)], strict=True))
            nanos, tokens = int(row[-2]), int(row[-1])
            if nanos or tokens:
                out.append(Total(values, nanos, tokens))
    return out


@dataclass(frozen=True, slots=True)
class WindowTotal:
    """One group's cost, tokens and admitted calls (every status but ``rejected``) in one
    window."""

    nanos: int = 0
    tokens: int = 0
    calls: int = 0


@dataclass(frozen=True, slots=True)
class Grouped:
    fields: dict[str, str | None]
    windows: dict[str, WindowTotal]


def totals_by_window(
    store: LedgerStore,
    starts: Mapping[str, float],
    *,
    group_by: Sequence[str] = (),
    where: Mapping[str, str] | None = None,
    present: Sequence[str] = (),
) -> list[Grouped]:
    """Per distinct ``group_by`` values, the totals of calls started at or after each of
    ``starts`` (window name -> its start), in ONE query however many groups and windows: what
    a rebuild of every virtual key's counters costs. ``present``: fields that must not be
    NULL. Groups with nothing in any window are left out."""
    if not starts:
        return []
    cols = [calls.c[COLUMNS[f]] for f in group_by]
    at = calls.c.started_at
    cost = sa.func.coalesce(calls.c.cost_nanousd, 0)
    tokens = calls.c.input_tokens + calls.c.output_tokens
    admitted = calls.c.status != "rejected"
    sums = []
    for since in starts.values():
        sums += [
            sa.func.coalesce(sa.func.sum(sa.case((at >= since, cost), else_=0)), 0),
            sa.func.coalesce(sa.func.sum(sa.case((at >= since, tokens), else_=0)), 0),
            sa.func.coalesce(sa.func.sum(sa.case((sa.and_(at >= since, admitted), 1), else_=0)), 0),
        ]
    query = sa.select(*cols, *sums).where(at >= min(starts.values()))
    for name, value in (where or {}).items():
        query = query.where(calls.c[COLUMNS[name]] == value)
    for name in present:
        query = query.where(calls.c[COLUMNS[name]].is_not(None))
    if cols:
        query = query.group_by(*cols)
    out = []
    n = len(cols)
    with store.connect() as conn:
        for row in conn.execute(query):
            windows = {}
            for i, name in enumerate(starts):
                nanos, toks, count = (int(v) for v in row[n + 3 * i : n + 3 * i + 3])
                if nanos or toks or count:
                    windows[name] = WindowTotal(nanos, toks, count)
            if windows:
                out.append(Grouped(dict(zip(group_by, row[:n], strict=True)), windows))
    return out
