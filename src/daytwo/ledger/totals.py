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
