"""How the comparison's numbers are written, in one place: the compare table, the gate's lines
and the JUnit / HTML / Markdown reports all show a metric the same way.

- rates (``pass``, binary assertion metrics, refusal rate): a percentage with one decimal
  (``71.2%``); their differences in percentage points (``+2.3 pp``);
- costs: US dollars with three significant digits, however small (``$0.000420``);
- latencies: milliseconds (``812 ms``; one decimal below 10 ms);
- scores: three decimals (``0.712``).

Differences always carry their sign; a missing number is an en dash.
"""

from __future__ import annotations

import math

from daytwo.evals.model import MetricComparison, MetricKind

MISSING = "–"
#: Significant digits of a dollar amount.
USD_DIGITS = 3


def fmt_usd(value: float, *, signed: bool = False) -> str:
    """``$0.000420``: three significant digits (at least cents), sign first when ``signed``."""
    sign = _sign(value) if signed else ("-" if value < 0 else "")
    size = abs(value)
    if size == 0:
        return f"{sign}$0"
    decimals = max(2, USD_DIGITS - 1 - math.floor(math.log10(size)))
    return f"{sign}${size:.{decimals}f}"


def fmt_pct(share: float) -> str:
    """A share 0..1 as a percentage: ``0.0172`` -> ``1.7%``."""
    return f"{share:.1%}"


def fmt_ms(value: float, *, signed: bool = False) -> str:
    """Milliseconds: whole above 10 ms, one decimal below."""
    text = f"{abs(value):.1f}" if abs(value) < 10 else f"{abs(value):.0f}"
    sign = _sign(value) if signed else ("-" if value < 0 else "")
    return f"{sign}{text} ms"


def fmt_kind(kind: MetricKind, value: float | None) -> str:
    """A value of a metric of ``kind`` (see the module docstring)."""
    if value is None:
        return MISSING
    if kind == "rate":
        return fmt_pct(value)
    if kind == "cost":
        return fmt_usd(value)
    if kind == "latency":
        return fmt_ms(value)
    return f"{value:.3f}"


def fmt_kind_delta(kind: MetricKind, delta: float | None) -> str:
    """A signed difference of a metric of ``kind``: rates in percentage points."""
    if delta is None:
        return MISSING
    if kind == "rate":
        return f"{_sign(delta)}{abs(delta) * 100:.1f} pp"
    if kind == "cost":
        return fmt_usd(delta, signed=True)
    if kind == "latency":
        return fmt_ms(delta, signed=True)
    return f"{_sign(delta)}{abs(delta):.3f}"


def fmt_value(metric: MetricComparison, value: float | None) -> str:
    """One of ``metric``'s values (baseline, candidate) in its kind's unit."""
    return fmt_kind(metric.kind, value)


def fmt_delta(metric: MetricComparison, delta: float | None = None) -> str:
    """``metric``'s difference candidate - baseline (or ``delta``), signed, in its unit."""
    return fmt_kind_delta(metric.kind, metric.delta if delta is None else delta)


def fmt_ci(metric: MetricComparison) -> str:
    """The confidence interval of ``metric``'s difference: ``[-0.061, +0.014]``."""
    if metric.ci_low is None or metric.ci_high is None:
        return MISSING
    low = fmt_kind_delta(metric.kind, metric.ci_low)
    high = fmt_kind_delta(metric.kind, metric.ci_high)
    return f"[{low}, {high}]"


def fmt_mde(metric: MetricComparison) -> str:
    """The minimal detectable effect, unsigned, in the unit of the difference."""
    if metric.mde is None:
        return MISSING
    return fmt_kind_delta(metric.kind, metric.mde).lstrip("+")


def fmt_p(p: float | None) -> str:
    """A p-value: three decimals, ``<0.001`` below that, en dash when no test gave one."""
    if p is None:
        return MISSING
    if p < 0.001:
        return "<0.001"
    return f"{p:.3f}"


def _sign(value: float) -> str:
    return "-" if value < 0 else "+"
