"""Seasonal synthetic traffic with a known shape, for the forecast's tests, backtests and bench.

Each workflow spends a known amount per day, times a weekday factor (the same for every week),
times a linear trend, spread over the day by a business-hours profile, with multiplicative
log-normal noise. Each hour of each workflow is ``calls`` calls on one model, whose tokens are
split evenly between input and output dollars at the model's list price, so re-pricing their
tokens (what-if) is exact arithmetic. Deterministic for a seed.
"""

from __future__ import annotations

import math
import random
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

from daytwo.core.record import CallRecord

#: Monday first: busy weekdays, quiet weekends.
WEEKDAYS = (1.15, 1.2, 1.2, 1.1, 1.0, 0.65, 0.7)
#: Share of a day's spend in each UTC hour: office hours, a quiet night.
HOURS = tuple(
    w / sum(1.0 + 3.0 * math.exp(-(((h - 14) / 4) ** 2)) for h in range(24))
    for w in (1.0 + 3.0 * math.exp(-(((h - 14) / 4) ** 2)) for h in range(24))
)
#: gpt-4o's list price: nano-dollars per input and output token.
PRICE = (2_500, 10_000)


@dataclass(frozen=True, slots=True)
class Flow:
    """One workflow's known shape: ``usd_per_day`` on an average weekday at the start, growing
    by ``growth`` of that per day; from ``spike_at`` on it costs ``spike`` times as much."""

    workflow: str
    project: str
    usd_per_day: float
    growth: float = 0.0
    noise: float = 0.1
    model: str = "gpt-4o"
    spike_at: float | None = None
    spike: float = 1.0
    weekdays: Sequence[float] = WEEKDAYS
    hours: Sequence[float] = HOURS


def expected_hour(flow: Flow, start: float, t: float) -> float:
    """The planted mean spend (dollars) of the hour starting at ``t``, without noise."""
    day = (t - start) // 86_400
    weekday = int(t // 86_400 + 3) % 7  # 1970-01-01 was a Thursday
    hour = int(t % 86_400) // 3600
    usd = flow.usd_per_day * (1 + flow.growth * day) * flow.weekdays[weekday] * flow.hours[hour]
    if flow.spike_at is not None and t >= flow.spike_at:
        usd *= flow.spike
    return usd


def seasonal_records(
    flows: Sequence[Flow], *, start: float, end: float, calls: int = 1, seed: int = 0
) -> Iterator[CallRecord]:
    """Calls of every flow, each hour in [start, end) (whole hours), chronological."""
    rng = random.Random(seed)
    n = 0
    for t in range(int(start) // 3600 * 3600, int(end), 3600):
        for flow in flows:
            mean = expected_hour(flow, start, t)
            usd = mean * math.exp(flow.noise * rng.gauss(0, 1) - flow.noise**2 / 2)
            for k in range(calls):
                n += 1
                yield _call(n, t + (k + 0.5) * 3600 / calls, flow, usd / calls)


def _call(n: int, t: float, flow: Flow, usd: float) -> CallRecord:
    half = usd * 1e9 / 2
    in_tok, out_tok = round(half / PRICE[0]), round(half / PRICE[1])
    return CallRecord(
        id=f"fc-{n:09d}",
        started_at=t,
        ended_at=t + 0.5,
        latency_ms=500.0,
        status="ok",
        http_status=200,
        operation="chat",
        alias=flow.model,
        trace_id=f"{n:032x}",
        project=flow.project,
        workflow=flow.workflow,
        attributed=True,
        provider="openai",
        served_model=flow.model,
        attempts=1,
        input_tokens=in_tok,
        output_tokens=out_tok,
        cost_nanousd=in_tok * PRICE[0] + out_tok * PRICE[1],
    )
