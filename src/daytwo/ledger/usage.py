"""Which models were served recently, and through which provider: what ``daytwo models check``
compares with the lifecycle catalog.

Read from the raw calls (the ``model`` rollup does not keep the provider, and a model's lifecycle
depends on who serves it); one grouped range scan on the ``started_at`` index.
"""

from __future__ import annotations

from dataclasses import dataclass

import sqlalchemy as sa

from daytwo.ledger.schema import calls
from daytwo.ledger.store import LedgerStore


@dataclass(frozen=True, slots=True)
class ServedModel:
    #: The configured provider name (None: the call never reached one).
    provider: str | None
    #: What was served when known, else what was asked for.
    model: str
    calls: int
    last_started_at: float


def models_served_since(store: LedgerStore, since: float) -> list[ServedModel]:
    """Distinct (provider, model) of calls started at or after ``since`` (epoch seconds), most
    calls first."""
    model = sa.func.coalesce(calls.c.served_model, calls.c.alias)
    query = (
        sa.select(calls.c.provider, model, sa.func.count(), sa.func.max(calls.c.started_at))
        .where(calls.c.started_at >= since)
        .group_by(calls.c.provider, model)
    )
    with store.connect() as conn:
        rows = [
            ServedModel(provider, name, int(n), float(last))
            for provider, name, n, last in conn.execute(query)
        ]
    rows.sort(key=lambda r: (-r.calls, r.model, r.provider or ""))
    return rows
