"""The quality report: per evaluator and group, the rate over a window compared with the
window of the same length before it (``daytwo quality``, ``GET /admin/quality``).

A rate is the mean of the scores' values (1 = good). For pass/fail evaluators (every value 0
or 1) it is a proportion: a Wilson interval (:func:`daytwo.stats.wilson_interval`) and the
two-proportion test against the previous window (:func:`daytwo.stats.two_proportion_test`),
once both windows hold :data:`MIN_EVENTS` scores (:func:`daytwo.stats.enough_events`). A
score in between (a judge's 0.7, ``feedback:score``) counts as that share of a success: the
successes are the sum of the values, rounded (``approximate`` marks such rows). Values
outside 0..1 (``length`` in tokens) are measurements: the mean is shown, no interval or test.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from daytwo.ledger.dims import QUALITY_DIMS
from daytwo.ledger.quality import ScoreCounts, score_counts
from daytwo.ledger.store import LedgerStore
from daytwo.stats import enough_events, two_proportion_test, wilson_interval

#: Scores each window needs before a change is tested.
MIN_EVENTS = 30
#: The p-value under which a change is reported as better or worse.
ALPHA = 0.05
CONFIDENCE = 0.95

Verdict = Literal["better", "worse", "no change", "not enough events", "measurement"]
ARROWS: dict[str, str] = {"better": "↑", "worse": "↓", "no change": "=", "not enough events": "?"}


@dataclass(frozen=True, slots=True)
class Window:
    """One window's scores in a group (``n`` 0: none)."""

    n: int
    mean: float | None
    successes: int | None  #: None for a measurement
    ci_low: float | None
    ci_high: float | None

    def to_json(self) -> dict[str, Any]:
        return {
            "n": self.n,
            "rate": self.mean,
            "successes": self.successes,
            "ci_low": self.ci_low,
            "ci_high": self.ci_high,
        }


@dataclass(frozen=True, slots=True)
class QualityRow:
    """One evaluator in one group: this window, the previous one, and the verdict."""

    evaluator: str
    group: dict[str, str | None]
    now: Window
    before: Window
    delta: float | None
    p_value: float | None
    verdict: Verdict
    approximate: bool

    def to_json(self) -> dict[str, Any]:
        return {
            "evaluator": self.evaluator,
            "group": self.group,
            "window": self.now.to_json(),
            "previous": self.before.to_json(),
            "delta": self.delta,
            "p_value": self.p_value,
            "verdict": self.verdict,
            "approximate": self.approximate,
        }


@dataclass(frozen=True, slots=True)
class QualityReport:
    start: float
    end: float
    previous_start: float
    by: tuple[str, ...]
    rows: list[QualityRow]

    def to_json(self) -> dict[str, Any]:
        return {
            "window": {"start": self.start, "end": self.end},
            "previous": {"start": self.previous_start, "end": self.start},
            "by": list(self.by),
            "min_events": MIN_EVENTS,
            "alpha": ALPHA,
            "rows": [r.to_json() for r in self.rows],
        }


def quality_report(
    store: LedgerStore,
    start: float,
    end: float,
    by: tuple[str, ...] = (),
    *,
    evaluator: str | None = None,
    project: str | None = None,
) -> QualityReport:
    """Scores made in [start, end) against [start - (end - start), start) (``evaluator``: only
    that one; ``project``: only that project's calls). Raises ValueError for a dimension not
    in :data:`QUALITY_DIMS` or an empty window."""
    if end <= start:
        raise ValueError("the window must end after it starts")
    unknown = [d for d in by if d not in QUALITY_DIMS]
    if unknown:
        raise ValueError(
            f"unknown dimension {unknown[0]!r} (choose from {', '.join(QUALITY_DIMS)})"
        )
    previous_start = start - (end - start)

    def counts(lo: float, hi: float) -> dict[tuple[str, tuple[str | None, ...]], ScoreCounts]:
        found = score_counts(store, lo, hi, by, evaluator=evaluator, project=project)
        return {(c.evaluator, c.group): c for c in found}

    now, before = counts(start, end), counts(previous_start, start)
    keys = sorted(
        set(now) | set(before), key=lambda k: (k[0], [(v is not None, v or "") for v in k[1]])
    )
    rows = [_row(k[0], dict(zip(by, k[1], strict=True)), now.get(k), before.get(k)) for k in keys]
    return QualityReport(start, end, previous_start, by, rows)


def _is_measurement(*counts: ScoreCounts | None) -> bool:
    return any(c is not None and (c.low < 0.0 or c.high > 1.0) for c in counts)


def _window(counts: ScoreCounts | None, measurement: bool) -> Window:
    if counts is None:
        return Window(0, None, None, None, None)
    if measurement:
        return Window(counts.n, counts.mean, None, None, None)
    successes = round(counts.total)
    ci = wilson_interval(successes, counts.n, CONFIDENCE)
    return Window(counts.n, counts.mean, successes, ci.low, ci.high)


def _row(
    evaluator: str,
    group: dict[str, str | None],
    now: ScoreCounts | None,
    before: ScoreCounts | None,
) -> QualityRow:
    measurement = _is_measurement(now, before)
    a, b = _window(now, measurement), _window(before, measurement)
    approximate = not measurement and any(c is not None and c.fractional for c in (now, before))
    delta = None if a.mean is None or b.mean is None else a.mean - b.mean
    p_value: float | None = None
    verdict: Verdict
    if measurement:
        verdict = "measurement"
    elif (
        a.successes is None
        or b.successes is None
        or not enough_events(a.successes, a.n, b.successes, b.n, MIN_EVENTS)
    ):
        verdict = "not enough events"
    else:
        test = two_proportion_test(a.successes, a.n, b.successes, b.n, confidence=CONFIDENCE)
        p_value = test.p_value
        if p_value >= ALPHA:
            verdict = "no change"
        else:
            verdict = "better" if test.difference.estimate > 0 else "worse"
    return QualityRow(evaluator, group, a, b, delta, p_value, verdict, approximate)
