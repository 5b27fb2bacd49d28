"""The ledger's view of prompts: one prompt's traffic, and a per-version comparison (``daytwo
prompts stats``, the cost estimate of ``daytwo prompts check``).

Read from raw ``calls`` rows over the (``prompt_name``, ``started_at``) index: latency
percentiles need the rows, and one prompt's week is a bounded read.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

from daytwo.ledger.schema import calls
from daytwo.ledger.store import LedgerStore


@dataclass(frozen=True, slots=True)
class VersionStats:
    """One prompt version's calls in a window. ``refusal_rate``: calls daytwo refused
    (``rejected``: bad variables, budgets, limits); ``error_rate``: upstream or internal
    failures."""

    version: int
    calls: int
    input_tokens: int
    output_tokens: int
    cost_nanousd: int
    priced_calls: int
    latency_p50_ms: float | None
    latency_p95_ms: float | None
    errors: int
    rejected: int
    first_at: float
    last_at: float

    @property
    def input_per_call(self) -> float:
        return self.input_tokens / self.calls

    @property
    def output_per_call(self) -> float:
        return self.output_tokens / self.calls

    @property
    def cost_per_call_nanousd(self) -> float | None:
        return self.cost_nanousd / self.priced_calls if self.priced_calls else None

    def cost_per_call_usd(self, places: int = 9) -> str | None:
        """The cost per priced call in USD to ``places`` decimals (None: no call was priced);
        what ``--json``, ``daytwo prompts stats`` and the demo show."""
        per_call = self.cost_per_call_nanousd
        return None if per_call is None else f"{per_call / 1e9:.{places}f}"

    @property
    def error_rate(self) -> float:
        return self.errors / self.calls

    @property
    def refusal_rate(self) -> float:
        return self.rejected / self.calls

    def to_json(self) -> dict[str, Any]:
        return {
            "version": self.version,
            "calls": self.calls,
            "input_tokens_per_call": round(self.input_per_call, 3),
            "output_tokens_per_call": round(self.output_per_call, 3),
            "cost_per_call_usd": self.cost_per_call_usd(),
            "cost_usd": f"{self.cost_nanousd / 1e9:.9f}",
            "latency_p50_ms": self.latency_p50_ms,
            "latency_p95_ms": self.latency_p95_ms,
            "error_rate": round(self.error_rate, 6),
            "refusal_rate": round(self.refusal_rate, 6),
            "first_at": self.first_at,
            "last_at": self.last_at,
        }


def prompt_calls(
    store: LedgerStore, name: str, start: float, end: float, *, label: str | None = None
) -> int:
    """Calls that named the prompt ``name`` (any version; reached by ``label`` when given) in
    [start, end)."""
    c = calls.c
    query = sa.select(sa.func.count()).where(
        c.prompt_name == name, c.started_at >= start, c.started_at < end
    )
    if label is not None:
        query = query.where(c.prompt_label == label)
    with store.connect() as conn:
        return int(conn.execute(query).scalar_one())


def prompt_stats(store: LedgerStore, name: str, start: float, end: float) -> list[VersionStats]:
    """Per version of ``name``, oldest version first."""
    c = calls.c
    query = (
        sa.select(
            c.prompt_version,
            c.status,
            c.latency_ms,
            c.input_tokens,
            c.output_tokens,
            c.cost_nanousd,
            c.started_at,
        )
        .where(c.prompt_name == name, c.started_at >= start, c.started_at < end)
        .order_by(c.prompt_version, c.started_at)
    )
    rows: dict[int, list[Any]] = {}
    with store.connect() as conn:
        for row in conn.execute(query):
            rows.setdefault(int(row.prompt_version), []).append(row)
    out = []
    for version, got in sorted(rows.items()):
        latencies = sorted(float(r.latency_ms) for r in got if r.status == "ok")
        priced = [int(r.cost_nanousd) for r in got if r.cost_nanousd is not None]
        out.append(
            VersionStats(
                version=version,
                calls=len(got),
                input_tokens=sum(int(r.input_tokens) for r in got),
                output_tokens=sum(int(r.output_tokens) for r in got),
                cost_nanousd=sum(priced),
                priced_calls=len(priced),
                latency_p50_ms=_percentile(latencies, 50),
                latency_p95_ms=_percentile(latencies, 95),
                errors=sum(r.status == "error" for r in got),
                rejected=sum(r.status == "rejected" for r in got),
                first_at=float(got[0].started_at),
                last_at=float(got[-1].started_at),
            )
        )
    return out


def _percentile(sorted_values: list[float], pct: int) -> float | None:
    """Nearest-rank percentile (None without values)."""
    if not sorted_values:
        return None
    rank = max(1, math.ceil(pct / 100 * len(sorted_values)))
    return round(sorted_values[rank - 1], 3)
