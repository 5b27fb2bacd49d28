"""The ledger against a provider's bill: per UTC day and model, what the provider charged, what
daytwo recorded, and why they differ.

Each (day, model) difference ``billed - ledger`` is split into causes, in this order, and what
none of them explains is the *unexplained remainder*:

* ``outside_traffic`` -- usage on API keys daytwo does not use (when the keys are mapped), at
  daytwo's prices;
* ``price`` / ``cache_pricing`` / ``service_tier`` / ``long_context`` -- the bill's charge for its
  own tokens minus daytwo's price of the same tokens, by token kind and tier (input and output,
  cache reads and writes, batch or priority, long-context lines);
* ``extra_requests`` -- more requests billed than the ledger sent upstream (traffic that did not
  pass through daytwo on daytwo's key), at the bill's average cost per request;
* ``failed_calls`` -- calls that failed, timed out or were cancelled (ledger status not ``ok``)
  but were billed for more than the ledger's estimate -- or, negative, not billed at all;
* ``estimated_usage`` -- streams that lost their final usage chunk (``tokens_estimated``): the
  bill counts what the ledger estimated.

The last two share what remains of the token gap in proportion to their calls; a cause never
takes more than the gap, nor a sign it cannot have.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any

import sqlalchemy as sa

from daytwo.core.types import Usage as TokenUsage
from daytwo.finops.provider_bills import ProviderBill, Usage
from daytwo.ledger.schema import DAY, calls
from daytwo.pricing.catalog import PriceBook
from daytwo.pricing.cost import compute_cost

CAUSES = (
    "outside_traffic",
    "price",
    "cache_pricing",
    "service_tier",
    "long_context",
    "extra_requests",
    "failed_calls",
    "estimated_usage",
)
_KIND_CAUSE = {
    "input": "price",
    "output": "price",
    "other": "price",
    "cached_input": "cache_pricing",
    "cache_write": "cache_pricing",
}


@dataclass(slots=True)
class LedgerGroup:
    """The ledger's upstream calls of one (day, model)."""

    requests: int = 0
    cost_nanos: int = 0
    failed_calls: int = 0
    failed_nanos: int = 0
    estimated_calls: int = 0
    estimated_nanos: int = 0
    price_refs: set[str] = field(default_factory=set)


@dataclass(frozen=True, slots=True)
class Row:
    day: date
    model: str
    billed_nanos: int
    ledger_nanos: int
    causes: Mapping[str, int]
    remainder_nanos: int
    billed_requests: int | None
    ledger_requests: int

    @property
    def difference_nanos(self) -> int:
        return self.billed_nanos - self.ledger_nanos


@dataclass(frozen=True, slots=True)
class Reconciliation:
    provider: str
    start: datetime
    end: datetime
    rows: tuple[Row, ...]
    notes: tuple[str, ...]

    @property
    def billed_nanos(self) -> int:
        return sum(r.billed_nanos for r in self.rows)

    @property
    def ledger_nanos(self) -> int:
        return sum(r.ledger_nanos for r in self.rows)

    @property
    def causes(self) -> dict[str, int]:
        out = dict.fromkeys(CAUSES, 0)
        for row in self.rows:
            for cause, nanos in row.causes.items():
                out[cause] += nanos
        return out

    @property
    def remainder_nanos(self) -> int:
        return sum(r.remainder_nanos for r in self.rows)

    @property
    def remainder_pct(self) -> float:
        """The unexplained remainder as a share of the bill (of the ledger when nothing was
        billed); 0 when both are 0."""
        base = self.billed_nanos or self.ledger_nanos
        return 0.0 if base == 0 else 100.0 * abs(self.remainder_nanos) / base


def read_ledger(
    conn: sa.Connection,
    providers: Iterable[str],
    start: datetime,
    end: datetime,
    models_by_deployment: Mapping[str, str],
) -> dict[tuple[date, str], LedgerGroup]:
    """The ledger's calls that reached one of ``providers`` in [start, end), per (day, model).
    A call's model is what the upstream said it served, else its deployment's model."""
    day = calls.c.hour_start
    query = (
        sa.select(
            day,
            calls.c.served_model,
            calls.c.deployment,
            calls.c.status,
            calls.c.tokens_estimated,
            calls.c.price_ref,
            sa.func.count(),
            sa.func.sum(calls.c.attempts),
            sa.func.coalesce(sa.func.sum(calls.c.cost_nanousd), 0),
        )
        .where(
            calls.c.provider.in_(list(providers)),
            calls.c.started_at >= start.timestamp(),
            calls.c.started_at < end.timestamp(),
            calls.c.attempts > 0,
            calls.c.cache_status.is_(None),
        )
        .group_by(
            day,
            calls.c.served_model,
            calls.c.deployment,
            calls.c.status,
            calls.c.tokens_estimated,
            calls.c.price_ref,
        )
    )
    groups: dict[tuple[date, str], LedgerGroup] = defaultdict(LedgerGroup)
    for hour, served, deployment, status, estimated, ref, n, attempts, cost in conn.execute(query):
        when = datetime.fromtimestamp(int(hour) // DAY * DAY, UTC).date()
        model = served or models_by_deployment.get(deployment or "", deployment or "")
        g = groups[(when, model)]
        g.requests += int(attempts or 0)
        g.cost_nanos += int(cost)
        if ref:
            g.price_refs.add(ref)
        if status != "ok":
            g.failed_calls += int(n)
            g.failed_nanos += int(cost)
        elif estimated:
            g.estimated_calls += int(n)
            g.estimated_nanos += int(cost)
    return dict(groups)


def reconcile(
    bill: ProviderBill,
    ledger: Mapping[tuple[date, str], LedgerGroup],
    prices: PriceBook,
    *,
    start: datetime,
    end: datetime,
    provider_type: str,
    key_ids: frozenset[str] | None,
) -> Reconciliation:
    """Compare ``bill`` with ``ledger`` and attribute every difference (module docstring).
    ``key_ids``: the provider's ids of the API keys daytwo uses; None when not mapped."""
    notes: list[str] = []
    if key_ids is None:
        notes.append(
            "api keys not mapped (finops.reconcile api_key_ids): usage on every key of the "
            "organisation is compared with the ledger"
        )
    ours: dict[tuple[date, str], Usage] = defaultdict(lambda: Usage(requests=None))
    other: dict[tuple[date, str], Usage] = defaultdict(lambda: Usage(requests=None))
    for (day, model, key_id), u in bill.usage.items():
        mine = key_ids is None or (key_id is not None and key_id in key_ids)
        _add((ours if mine else other)[(day, model)], u)
    billed: dict[tuple[date, str], dict[tuple[str, str], int]] = defaultdict(dict)
    for (day, model, kind, tier), nanos in bill.costs.items():
        lines = billed[(day, model)]
        lines[(kind, tier)] = lines.get((kind, tier), 0) + nanos
    keys = sorted(set(ours) | set(other) | set(billed) | set(ledger))
    rows: list[Row] = []
    for day, model in keys:
        entry = prices.lookup(model, provider_type=provider_type)
        if entry is None and (day, model) in billed:
            notes.append(f"{model}: not in daytwo's price catalog; its bill is compared as is")
        g = ledger.get((day, model), LedgerGroup())
        if len(g.price_refs) > 1:
            refs = ", ".join(sorted(g.price_refs))
            notes.append(f"{day} {model}: daytwo's price changed in the day ({refs})")
        rows.append(
            _row(
                day,
                model,
                ours.get((day, model)),
                other.get((day, model)),
                billed.get((day, model), {}),
                g,
                entry,
            )
        )
    return Reconciliation(bill.kind, start, end, tuple(rows), tuple(notes))


def _add(into: Usage, u: Usage) -> None:
    if u.requests is not None:
        into.requests = (into.requests or 0) + u.requests
    into.input_tokens += u.input_tokens
    into.cached_input_tokens += u.cached_input_tokens
    into.cache_write_tokens += u.cache_write_tokens
    into.output_tokens += u.output_tokens


def _priced(u: Usage | None, entry: Any) -> dict[str, int]:
    """Daytwo's price of ``u`` per token kind (nothing when unpriced or no usage)."""
    if u is None or entry is None:
        return {}
    uncached = max(0, u.input_tokens - u.cached_input_tokens - u.cache_write_tokens)
    parts = {
        "input": TokenUsage(input_tokens=uncached),
        "cached_input": TokenUsage(
            input_tokens=u.cached_input_tokens, cached_input_tokens=u.cached_input_tokens
        ),
        "cache_write": TokenUsage(
            input_tokens=u.cache_write_tokens, cache_write_tokens=u.cache_write_tokens
        ),
        "output": TokenUsage(output_tokens=u.output_tokens),
    }
    return {kind: compute_cost(usage, entry) for kind, usage in parts.items()}


def _row(
    day: date,
    model: str,
    ours: Usage | None,
    other: Usage | None,
    lines: dict[tuple[str, str], int],
    g: LedgerGroup,
    entry: Any,
) -> Row:
    causes = dict.fromkeys(CAUSES, 0)
    billed_total = sum(lines.values())
    expected_ours = _priced(ours, entry)
    expected_other = _priced(other, entry)
    expected = {
        k: expected_ours.get(k, 0) + expected_other.get(k, 0)
        for k in expected_ours.keys() | expected_other.keys()
    }
    if entry is None:  # no price of our own: the bill's lines are the only measure
        causes["outside_traffic"] = 0
        gap = billed_total - g.cost_nanos
    else:
        for (kind, tier), nanos in lines.items():
            cause = _KIND_CAUSE[kind] if tier == "standard" else _tier_cause(tier)
            causes[cause] += nanos - expected.pop(kind, 0)
        for leftover in expected.values():  # usage the cost report did not charge
            causes["price"] -= leftover
        causes["outside_traffic"] = sum(expected_other.values())
        gap = sum(expected_ours.values()) - g.cost_nanos
    requests = None if ours is None else ours.requests
    if requests is not None and requests > g.requests and gap > 0:
        per_request = sum(expected_ours.values()) // requests if expected_ours else 0
        causes["extra_requests"] = min(gap, (requests - g.requests) * per_request)
        gap -= causes["extra_requests"]
    failed, estimated = _split(gap, g)
    causes["failed_calls"], causes["estimated_usage"] = failed, estimated
    remainder = gap - failed - estimated
    return Row(day, model, billed_total, g.cost_nanos, causes, remainder, requests, g.requests)


def _tier_cause(tier: str) -> str:
    return "long_context" if tier == "long_context" else "service_tier"


def _split(gap: int, g: LedgerGroup) -> tuple[int, int]:
    """The token gap's share of failed calls and of estimated streams (module docstring)."""
    if gap < 0:  # billed less: failed calls not billed first, then over-estimated streams
        failed = -min(-gap, g.failed_nanos)
        estimated = -min(-gap + failed, g.estimated_nanos)
        return failed, estimated
    n = g.failed_calls + g.estimated_calls
    if gap == 0 or n == 0:
        return 0, 0
    failed = gap * g.failed_calls // n
    return failed, gap - failed


def to_json(rec: Reconciliation) -> dict[str, Any]:
    from daytwo.core.money import nanos_to_usd

    def money(nanos: int) -> dict[str, Any]:
        return {"usd": format(nanos_to_usd(nanos), "f"), "nanos": nanos}

    return {
        "provider": rec.provider,
        "from": rec.start.isoformat(),
        "to": rec.end.isoformat(),
        "billed": money(rec.billed_nanos),
        "ledger": money(rec.ledger_nanos),
        "difference": money(rec.billed_nanos - rec.ledger_nanos),
        "causes": {cause: money(n) for cause, n in rec.causes.items()},
        "unexplained": money(rec.remainder_nanos),
        "unexplained_pct": round(rec.remainder_pct, 4),
        "rows": [
            {
                "day": r.day.isoformat(),
                "model": r.model,
                "billed": money(r.billed_nanos),
                "ledger": money(r.ledger_nanos),
                "billed_requests": r.billed_requests,
                "ledger_requests": r.ledger_requests,
                "causes": {c: money(n) for c, n in r.causes.items() if n},
                "unexplained": money(r.remainder_nanos),
            }
            for r in rec.rows
        ],
        "notes": list(rec.notes),
    }
