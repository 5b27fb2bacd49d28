"""The summary ``daytwo eval run`` prints: one row per target -- items, pass rate, mean score,
errors (apart from failures), what the answers and the judges cost, latency p50/p95 and cache
hits -- then the run's id, calls and spend."""

from __future__ import annotations

import math
from collections.abc import Sequence

from rich.console import Console
from rich.table import Table

from daytwo.evals.model import ItemResult, RunResult

COLUMNS = (
    "target",
    "items",
    "pass rate",
    "mean score",
    "errors",
    "cost",
    "judge cost",
    "latency p50",
    "latency p95",
    "cache hits",
)


def percentile(values: Sequence[float], q: float) -> float | None:
    """The ``q`` quantile (0..1) by linear interpolation between closest ranks (numpy's
    default); None for no values."""
    if not values:
        return None
    ordered = sorted(values)
    pos = (len(ordered) - 1) * q
    low, high = math.floor(pos), math.ceil(pos)
    return ordered[low] + (ordered[high] - ordered[low]) * (pos - low)


def target_row(label: str, items: Sequence[ItemResult]) -> tuple[str, ...]:
    n = len(items)
    graded = [i for i in items if not i.is_error]
    passed = sum(1 for i in items if i.passed)
    errors = n - len(graded)
    answers = sum(i.output.cost_usd for i in items if i.output is not None)
    judges = sum(g.cost_usd for i in items for g in i.grades)
    latencies = [i.output.latency_ms for i in items if i.output is not None]
    hits = sum(1 for i in items if i.output is not None and i.output.cached)
    mean = sum(i.score for i in graded) / len(graded) if graded else None
    return (
        label,
        str(n),
        f"{passed / n:.1%}" if n else "–",
        f"{mean:.3f}" if mean is not None else "–",
        str(errors),
        f"${answers:.6f}",
        f"${judges:.6f}",
        _ms(percentile(latencies, 0.5)),
        _ms(percentile(latencies, 0.95)),
        str(hits),
    )


def _ms(value: float | None) -> str:
    return "–" if value is None else f"{value:.0f} ms"


def render_summary(result: RunResult, console: Console) -> None:
    table = Table(title=result.description or result.suite, title_justify="left")
    # Labels are what --target and compare take: shown whole, the numbers make room.
    widest = max((len(t.label) for t in result.targets), default=6)
    table.add_column(COLUMNS[0], no_wrap=True, min_width=widest)
    for col in COLUMNS[1:]:
        table.add_column(col, justify="right")
    for target in result.targets:
        table.add_row(*target_row(target.label, result.for_target(target.label)))
    console.print(table)
    console.print(
        f"run {result.run_id}: {result.calls} calls, ${result.spent_usd:.6f} spent, "
        f"{result.cache_hits} answers from the cache"
    )
    for item in result.items:
        if item.error is not None:
            console.print(f"error: {item.target} {item.case_id} #{item.repeat}: {item.error}")
