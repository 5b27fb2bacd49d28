"""Good and total events of an SLO's SLI per window, from the ledger: one query per SLO and
evaluation, one pair of ``SUM(CASE ...)`` columns per window, over the rows since the longest
window's start (the ``calls.started_at`` and ``scores(evaluator, at)`` indexes).

What counts as an event (docs/slos.md):

* ``availability`` -- every call but those the client cancelled; bad: HTTP status 5xx;
* ``latency`` -- answered calls (``status = ok``); bad: ``latency_ms`` above ``le_ms``;
* ``ttft`` -- answered streams with a first token; bad: ``ttft_ms`` above ``le_ms``;
* score SLIs -- scores of the evaluator with a value; bad: value below ``threshold``. The
  scope (project, workflow, prompt, alias) is read from the scored call (a join on
  ``call_id``, made only when the SLO has a scope).

Blocking: the alert engine runs it in a worker thread.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import timedelta
from typing import Any

import sqlalchemy as sa

from daytwo.config.slos import LatencySli, ScoreSli, SloConfig, SloScope
from daytwo.ledger.schema import calls, scores
from daytwo.ledger.store import LedgerStore

#: SLO scope field → ``calls`` column.
SCOPE_COLUMNS: Mapping[str, sa.Column[Any]] = {
    "project": calls.c.project,
    "workflow": calls.c.workflow,
    "prompt": calls.c.prompt_name,
    "alias": calls.c.alias,
}

#: window → (bad, total)
Counts = dict[timedelta, tuple[int, int]]


def count_events(
    store: LedgerStore, slo: SloConfig, windows: Sequence[timedelta], now: float
) -> Counts:
    """``(bad, total)`` events of ``slo``'s SLI in each of ``windows`` ending at ``now``."""
    query = events_query(slo, windows, now)
    with store.connect() as conn:
        row = conn.execute(query).one()
    out: Counts = {}
    for i, window in enumerate(windows):
        out[window] = (int(row[2 * i] or 0), int(row[2 * i + 1] or 0))
    return out


def events_query(slo: SloConfig, windows: Sequence[timedelta], now: float) -> sa.Select[Any]:
    """The one ``SELECT``: ``bad_<i>, total_<i>`` for each window, in order."""
    if not windows:
        raise ValueError("no window to count")
    longest = max(windows).total_seconds()
    sli = slo.sli
    if isinstance(sli, ScoreSli):
        at: sa.ColumnElement[float] = scores.c.at
        bad: sa.ColumnElement[bool] = scores.c.value < sli.threshold
        where: list[sa.ColumnElement[bool]] = [
            scores.c.evaluator == sli.evaluator,
            scores.c.value.is_not(None),
        ]
        source: Any = scores
        if slo.scope.fields():
            source = scores.join(calls, calls.c.id == scores.c.call_id)
            where += _scope(slo.scope)
    else:
        at = calls.c.started_at
        source = calls
        where = _scope(slo.scope)
        if isinstance(sli, LatencySli):
            where.append(calls.c.status == "ok")
            col = calls.c.latency_ms if sli.type == "latency" else calls.c.ttft_ms
            if sli.type == "ttft":
                where.append(calls.c.ttft_ms.is_not(None))
            bad = col > sli.le_ms
        else:
            where.append(calls.c.status != "cancelled")
            bad = calls.c.http_status >= 500
    columns: list[sa.ColumnElement[Any]] = []
    for i, window in enumerate(windows):
        inside = at >= now - window.total_seconds()
        columns.append(sa.func.sum(sa.case((sa.and_(inside, bad), 1), else_=0)).label(f"bad_{i}"))
        columns.append(sa.func.sum(sa.case((inside, 1), else_=0)).label(f"total_{i}"))
    return sa.select(*columns).select_from(source).where(at >= now - longest, at <= now, *where)


def _scope(scope: SloScope) -> list[sa.ColumnElement[bool]]:
    return [SCOPE_COLUMNS[f] == v for f, v in scope.fields().items()]
