"""What triage measures and how it compares two groups of calls: the metrics (rates, means per
call, volumes per minute), a shift between two groups with its effect size and p-value, and the
onset of a shift in time. Pure functions over :class:`~daytwo.incidents.triage_read.CallRow`.

Effect sizes are put on one scale so that suspects of different kinds can be ranked together:

* a rate (errors, refusals, failover, cache hits): Cohen's h,
  ``|2 asin(sqrt p1) - 2 asin(sqrt p2)|`` (0.2 small, 0.5 medium, 0.8 large; π from 0 % to
  100 %), tested with the pooled two-proportion z-test and reported with Newcombe's interval of
  the difference (daytwo.stats);
* a mean per call (cost, tokens, latency) or a volume per minute (calls, spend): the absolute
  log of the ratio (x2 is 0.69, x3 is 1.10), tested with Welch's z on the means (volumes: on the
  call counts, as Poisson counts) and reported with the ratio's interval (delta method).

A shift counts (``size`` > 0) only when it is significant at :data:`ALPHA` on at least
:data:`MIN_EVENTS` observations per side and larger than the metric's noise floor.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Literal

from daytwo.incidents.triage_read import CallRow
from daytwo.stats.proportions import two_proportion_test

#: Significance level of every shift triage reports as one.
ALPHA = 0.01
#: Fewest observations on each side of a comparison.
MIN_EVENTS = 10
#: Ratios closer to 1 than this are not a shift, however significant (a big sample's noise).
MIN_RATIO = 1.15
#: The largest log-ratio reported (a metric that was 0 in the baseline).
MAX_LOG_RATIO = math.log(100.0)
_Z95 = 1.959963984540054

Kind = Literal["rate", "mean", "volume"]


@dataclass(frozen=True, slots=True)
class Metric:
    """One thing measured per call: ``value`` is 0/1 for a rate, a number for a mean or a
    volume (1 per call for the call volume), None where the call does not count."""

    name: str
    label: str
    kind: Kind
    value: Callable[[CallRow], float | None]
    #: The suspect kind a shift of this metric is listed under.
    suspect: str
    #: Whether a rise is bad (None: either way is worth a look).
    up_is_bad: bool | None = True


def _reached(r: CallRow) -> bool:
    return r.status != "rejected"


def _score_metric(evaluator: str) -> Metric:
    def failed(r: CallRow) -> float | None:
        value = r.scores.get(evaluator)
        return None if value is None else float(value < 0.5)

    kind = evaluator.partition(":")[0]
    suspect = "quality" if kind in ("refusal", "format", "judge") else "score"
    return Metric(f"score:{evaluator}", f"{evaluator} failures", "rate", failed, suspect)


BASE_METRICS: tuple[Metric, ...] = (
    Metric("errors", "error rate", "rate", lambda r: float(r.status == "error"), "errors"),
    Metric(
        "rejected", "refused calls", "rate", lambda r: float(r.status == "rejected"), "refusals"
    ),
    Metric(
        "failover",
        "calls retried or failed over",
        "rate",
        lambda r: float(r.attempts > 1) if _reached(r) else None,
        "failover",
    ),
    Metric(
        "cache_hit",
        "cache hit rate",
        "rate",
        lambda r: float(r.cache_hit) if _reached(r) else None,
        "cache",
        up_is_bad=False,
    ),
    Metric(
        "input_tokens",
        "input tokens per call (context size)",
        "mean",
        lambda r: float(r.input_tokens) if r.status == "ok" else None,
        "tokens",
    ),
    Metric(
        "output_tokens",
        "output tokens per call",
        "mean",
        lambda r: float(r.output_tokens) if r.status == "ok" else None,
        "tokens",
        up_is_bad=None,
    ),
    Metric(
        "cost_per_call",
        "cost per call ($)",
        "mean",
        lambda r: r.cost_usd if r.status == "ok" else None,
        "cost",
    ),
    Metric(
        "latency_ms",
        "latency (ms)",
        "mean",
        lambda r: r.latency_ms if r.status == "ok" else None,
        "latency",
    ),
    Metric("calls_per_min", "calls per minute", "volume", lambda r: 1.0, "traffic"),
    Metric("spend_per_min", "spend per minute ($)", "volume", lambda r: r.cost_usd or 0.0, "cost"),
)

PER_CALL = frozenset(m.name for m in BASE_METRICS if m.kind != "volume")
VOLUME = frozenset(m.name for m in BASE_METRICS if m.kind == "volume")


def metrics_for(rows: Sequence[CallRow]) -> list[Metric]:
    """The base metrics and one failure rate per evaluator that scored any of ``rows``."""
    evaluators = sorted({e for r in rows for e in r.scores})
    return [*BASE_METRICS, *(_score_metric(e) for e in evaluators)]


@dataclass(frozen=True, slots=True)
class Shift:
    """``after`` (a group, or the incident window) against ``before`` (its reference)."""

    metric: Metric
    before: float | None
    after: float | None
    n_before: int
    n_after: int
    #: Effect size on the common scale (0: no shift that counts).
    size: float
    p_value: float | None
    #: Rates: the difference's 95 % interval; means and volumes: the ratio's.
    ci: tuple[float, float] | None
    ratio: float | None = None

    @property
    def delta(self) -> float:
        if self.before is None or self.after is None:
            return 0.0
        return self.after - self.before

    @property
    def counts(self) -> bool:
        return self.size > 0.0

    def describe(self) -> str:
        """``error rate 0.4% → 31.0% (+30.6 pt, 95% CI +25.1 to +36.0, p=2e-40)``."""
        m = self.metric
        text = f"{m.label} {fmt(m, self.before)} → {fmt(m, self.after)}"
        if m.kind == "rate":
            if self.ci is not None:
                low, high = self.ci
                text += f" ({self.delta * 100:+.1f} pt, 95% CI {low * 100:+.1f}–{high * 100:+.1f}"
                text += f", p={self.p_value:.2g})" if self.p_value is not None else ")"
        elif self.ratio is not None:
            text += f" (×{self.ratio:.2f}"
            if self.ci is not None:
                text += f", 95% CI ×{self.ci[0]:.2f}–×{self.ci[1]:.2f}"
            text += f", p={self.p_value:.2g})" if self.p_value is not None else ")"
        return text

    def to_json(self) -> dict[str, object]:
        return {
            "metric": self.metric.name,
            "label": self.metric.label,
            "before": self.before,
            "after": self.after,
            "n_before": self.n_before,
            "n_after": self.n_after,
            "effect_size": round(self.size, 4),
            "ratio": self.ratio,
            "p_value": self.p_value,
            "ci": None if self.ci is None else list(self.ci),
        }


def fmt(metric: Metric, value: float | None) -> str:
    if value is None:
        return "–"
    if metric.kind == "rate":
        return f"{value * 100:.1f}%"
    if "$" in metric.label:
        return f"${value:.6f}" if value < 0.01 else f"${value:.4f}"
    return f"{value:.1f}" if value < 100 else f"{value:.0f}"


def values(metric: Metric, rows: Sequence[CallRow]) -> list[float]:
    out = []
    for r in rows:
        v = metric.value(r)
        if v is not None:
            out.append(v)
    return out


def compare(
    metric: Metric,
    after: Sequence[CallRow],
    before: Sequence[CallRow],
    *,
    after_s: float,
    before_s: float,
) -> Shift:
    """``after`` against ``before``; ``*_s``: the seconds each group covers (volumes)."""
    if metric.kind == "volume":
        return _volume(metric, after, before, after_s, before_s)
    a, b = values(metric, after), values(metric, before)
    if metric.kind == "rate":
        return _rate(metric, a, b)
    return _mean(metric, a, b)


def _rate(metric: Metric, a: list[float], b: list[float]) -> Shift:
    na, nb = len(a), len(b)
    pa = sum(a) / na if na else None
    pb = sum(b) / nb if nb else None
    if na < MIN_EVENTS or nb < MIN_EVENTS or pa is None or pb is None:
        return Shift(metric, pb, pa, nb, na, 0.0, None, None)
    test = two_proportion_test(round(sum(a)), na, round(sum(b)), nb)
    h = abs(2 * math.asin(math.sqrt(pa)) - 2 * math.asin(math.sqrt(pb)))
    size = h if test.p_value < ALPHA and h >= 0.1 else 0.0
    ci = (test.difference.low, test.difference.high)
    return Shift(metric, pb, pa, nb, na, size, test.p_value, ci)


def _mean(metric: Metric, a: list[float], b: list[float]) -> Shift:
    na, nb = len(a), len(b)
    ma = sum(a) / na if na else None
    mb = sum(b) / nb if nb else None
    if na < MIN_EVENTS or nb < MIN_EVENTS or ma is None or mb is None:
        return Shift(metric, mb, ma, nb, na, 0.0, None, None)
    va, vb = _variance(a, ma), _variance(b, mb)
    se = math.sqrt(va / na + vb / nb)
    p = (1.0 if ma == mb else 0.0) if se == 0.0 else 2.0 * _sf(abs(ma - mb) / se)
    ratio, ci = _ratio(ma, mb, math.sqrt(va / na), math.sqrt(vb / nb))
    size = _log_size(ratio) if p < ALPHA else 0.0
    return Shift(metric, mb, ma, nb, na, size, p, ci, ratio)


def _volume(
    metric: Metric,
    after: Sequence[CallRow],
    before: Sequence[CallRow],
    after_s: float,
    before_s: float,
) -> Shift:
    na, nb = len(after), len(before)
    ta, tb = sum(values(metric, after)), sum(values(metric, before))
    ra, rb = ta / after_s * 60.0, tb / before_s * 60.0
    if na + nb < MIN_EVENTS or nb == 0:
        return Shift(metric, rb, ra, nb, na, 0.0, None, None)
    # Poisson call counts: the log rate ratio's standard error is sqrt(1/na + 1/nb); spend is
    # tested on the calls that carry it (its per-call spread is the cost metric's business).
    se_log = math.sqrt(1.0 / max(na, 1) + 1.0 / nb)
    if rb <= 0.0:
        ratio = math.inf if ra > 0 else 1.0
        return Shift(metric, rb, ra, nb, na, MAX_LOG_RATIO if ra > 0 else 0.0, None, None, ratio)
    ratio = ra / rb
    if ratio <= 0.0:
        return Shift(metric, rb, ra, nb, na, MAX_LOG_RATIO, None, None, ratio)
    p = 2.0 * _sf(abs(math.log(ratio)) / se_log)
    ci = (ratio * math.exp(-_Z95 * se_log), ratio * math.exp(_Z95 * se_log))
    size = _log_size(ratio) if p < ALPHA else 0.0
    return Shift(metric, rb, ra, nb, na, size, p, ci, ratio)


def _variance(xs: list[float], mean: float) -> float:
    if len(xs) < 2:
        return 0.0
    return sum((x - mean) ** 2 for x in xs) / (len(xs) - 1)


def _ratio(
    ma: float, mb: float, sea: float, seb: float
) -> tuple[float | None, tuple[float, float] | None]:
    if mb <= 0.0:
        return (math.inf if ma > 0 else None), None
    ratio = ma / mb
    if ma <= 0.0:
        return ratio, None
    se_log = math.sqrt((sea / ma) ** 2 + (seb / mb) ** 2)
    return ratio, (ratio * math.exp(-_Z95 * se_log), ratio * math.exp(_Z95 * se_log))


def _log_size(ratio: float | None) -> float:
    if ratio is None:
        return 0.0
    if ratio == math.inf or ratio <= 0.0:
        return MAX_LOG_RATIO
    size = abs(math.log(ratio))
    return min(size, MAX_LOG_RATIO) if size >= math.log(MIN_RATIO) else 0.0


def _sf(z: float) -> float:
    return 0.5 * math.erfc(z / math.sqrt(2.0))


def onset(points: Sequence[tuple[float, float]]) -> float | None:
    """When a series ``(time, value)`` (oldest first) changed level: the CUSUM change-point
    estimate, the first point after ``argmax_k |S_k - k mean|`` (Page 1954; the
    maximum-likelihood split of a mean shift)."""
    n = len(points)
    if n < 2:
        return None
    total = sum(v for _, v in points)
    mean = total / n
    best, at, running = -1.0, 0, 0.0
    for k, (_, v) in enumerate(points[:-1], start=1):
        running += v - mean
        if abs(running) > best:
            best, at = abs(running), k
    return points[at][0]


def volume_onset(
    metric: Metric, rows: Sequence[CallRow], spans: Sequence[tuple[float, float]], bins: int = 40
) -> float | None:
    """:func:`onset` of a volume, on ``bins`` equal slices of each span."""
    points: list[tuple[float, float]] = []
    for start, end in spans:
        width = (end - start) / bins
        sums = [0.0] * bins
        for r in rows:
            if start <= r.at < end:
                v = metric.value(r)
                sums[min(int((r.at - start) / width), bins - 1)] += v or 0.0
        points += [(start + i * width, s / width) for i, s in enumerate(sums)]
    return onset(points)
