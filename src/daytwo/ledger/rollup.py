"""Pure aggregation of a batch of records into rollup rows (see ``schema.py`` for the tables).

The store upserts what :func:`aggregate` returns in the same transaction as the raw rows, adding
each metric to what is already there. Rows come back sorted by key, so that concurrent writers
(several gateway replicas on one PostgreSQL) lock rollup rows in the same order and cannot
deadlock each other.
"""

from __future__ import annotations

from collections.abc import Sequence
from operator import add, itemgetter
from typing import Any

from daytwo.core.record import CallRecord
from daytwo.ledger.schema import DAY, HOUR, HOURLY_DIMS

Vector = tuple[int, ...]


def metric_vector(r: CallRecord) -> Vector:
    """One record's contribution to every counter in :data:`~daytwo.ledger.schema.METRICS`."""
    cost = r.cost_nanousd
    c = cost or 0
    status = r.status
    failed = status != "ok"
    attempts = r.attempts
    retried = attempts > 1
    attributed = r.attributed
    failed_attempts = failed_attempt_cost = 0
    for a in r.attempt_log:  # empty unless the call made more than one attempt
        if a.outcome != "ok":
            failed_attempts += 1
            failed_attempt_cost += a.cost_nanousd or 0
    cache = r.cache_status
    return (
        1,
        status == "error",
        status == "rejected",
        status == "cancelled",
        r.input_tokens,
        r.output_tokens,
        r.cached_input_tokens,
        r.cache_write_tokens,
        r.reasoning_tokens,
        c,
        cost is None and r.input_tokens + r.output_tokens > 0,  # nothing used: nothing to price
        r.tokens_estimated,
        failed,
        c if failed else 0,
        retried,
        c if retried else 0,
        attributed,
        not attributed,
        0 if attributed else c,
        attempts - 1 if retried else 0,
        failed_attempts,
        failed_attempt_cost,
        cache == "hit",
        cache == "replay",
        r.saved_nanousd or 0,
    )


def dim_values(r: CallRecord) -> tuple[str, ...]:
    """The record's value for each of :data:`~daytwo.ledger.schema.HOURLY_DIMS`, '' for none."""
    return (
        "",
        r.project,
        r.workflow or "",
        r.feature or "",
        r.agent or "",
        r.environment or "",
        r.key_id or "",
        r.provider or "",
        # What was served when known, else what was asked for (a refused call has no model).
        r.served_model or r.alias,
        r.prompt_name or "",
        f"{r.prompt_name}@v{r.prompt_version}" if r.prompt_name else "",
    )


def aggregate(
    records: Sequence[CallRecord],
) -> tuple[list[tuple[Any, ...]], list[tuple[Any, ...]]]:
    """Rows for ``rollup_hourly`` ``(dim, hour_start, value, *METRICS)`` and
    ``rollup_daily_user`` ``(day_start, user, *METRICS)`` summing ``records``."""
    columns = list(zip(*[metric_vector(r) for r in records], strict=True))
    # Stage 1: records sharing an hour and every dimension value (most of a live batch) are
    # summed once; stage 2 spreads each such combination over the dimensions.
    combos: dict[tuple[int, tuple[str, ...]], list[int]] = {}
    users: dict[tuple[int, str], list[int]] = {}
    for i, r in enumerate(records):
        hour = int(r.started_at // HOUR) * HOUR
        combos.setdefault((hour, dim_values(r)), []).append(i)
        users.setdefault((hour - hour % DAY, r.user or ""), []).append(i)

    def sums(idx: list[int]) -> list[int]:
        if len(idx) == 1:
            return [int(col[idx[0]]) for col in columns]
        pick = itemgetter(*idx)
        return [sum(pick(col)) for col in columns]

    hourly: dict[tuple[str, int, str], list[int]] = {}
    for (hour, values), idx in combos.items():
        total = sums(idx)
        for dim, value in zip(HOURLY_DIMS, values, strict=True):
            key = (dim, hour, value)
            acc = hourly.get(key)
            hourly[key] = total if acc is None else list(map(add, acc, total))
    hourly_rows = [(*key, *total) for key, total in sorted(hourly.items())]
    daily_rows = [(*key, *sums(idx)) for key, idx in sorted(users.items())]
    return hourly_rows, daily_rows
