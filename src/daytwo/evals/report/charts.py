"""Geometry of the HTML report's inline SVG charts, computed here and drawn by the template (so
every label goes through Jinja's escaping).

- :func:`delta_rows`: one row per compared metric, the candidate - baseline difference as a dot
  with its 95% CI as a bar, on the metric's own scale symmetric around zero (metrics differ in
  unit: points of pass rate, dollars, milliseconds).
- :func:`histograms`: per target, how many items scored in each tenth of 0..1.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from daytwo.evals.model import Comparison, ItemResult, MetricComparison
from daytwo.evals.report.fmt import fmt_ci, fmt_delta

#: Plot area of one delta row and of one histogram, in SVG user units.
WIDTH = 360.0
ROW_HEIGHT = 22.0
HIST_HEIGHT = 120.0
BINS = 10


@dataclass(frozen=True, slots=True)
class DeltaRow:
    metric: str
    verdict: str
    label: str  # the formatted delta and CI
    y: float
    zero_x: float
    dot_x: float
    #: The CI bar (None when the metric has no interval).
    bar_x: float | None
    bar_width: float | None


@dataclass(frozen=True, slots=True)
class Bar:
    x: float
    y: float
    width: float
    height: float
    count: int
    low: float  # the bin's score range
    high: float


@dataclass(frozen=True, slots=True)
class Histogram:
    target: str
    bars: tuple[Bar, ...]
    items: int


def delta_rows(comparison: Comparison) -> list[DeltaRow]:
    return [_delta_row(m, n * ROW_HEIGHT) for n, m in enumerate(comparison.metrics)]


def _delta_row(m: MetricComparison, y: float) -> DeltaRow:
    ends = [abs(v) for v in (m.delta, m.ci_low, m.ci_high) if v is not None]
    half = max(ends, default=0.0) * 1.1 or 1.0

    def x(v: float) -> float:
        return WIDTH / 2 + v / half * (WIDTH / 2)

    bar_x: float | None = None
    bar_width: float | None = None
    if m.ci_low is not None and m.ci_high is not None:
        bar_x, bar_width = x(m.ci_low), max(x(m.ci_high) - x(m.ci_low), 1.0)
    return DeltaRow(
        metric=m.metric,
        verdict=m.verdict,
        label=f"{fmt_delta(m)} {fmt_ci(m)}",
        y=y,
        zero_x=WIDTH / 2,
        dot_x=x(m.delta),
        bar_x=bar_x,
        bar_width=bar_width,
    )


def histograms(by_target: Sequence[tuple[str, Sequence[ItemResult]]]) -> list[Histogram]:
    return [_histogram(label, items) for label, items in by_target]


def _histogram(label: str, items: Sequence[ItemResult]) -> Histogram:
    counts = [0] * BINS
    for item in items:
        counts[min(int(item.score * BINS), BINS - 1)] += 1
    tallest = max(counts, default=0) or 1
    width = WIDTH / BINS
    bars = tuple(
        Bar(
            x=k * width + 1,
            y=HIST_HEIGHT - count / tallest * HIST_HEIGHT,
            width=width - 2,
            height=count / tallest * HIST_HEIGHT,
            count=count,
            low=k / BINS,
            high=(k + 1) / BINS,
        )
        for k, count in enumerate(counts)
    )
    return Histogram(target=label, bars=bars, items=len(items))
