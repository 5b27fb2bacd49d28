"""Numbers of a :class:`MetricComparison` as the Markdown and HTML reports print them: rates in
percent (deltas in percentage points), scores to three places, cost in dollars, latency in
milliseconds; a missing value is an en dash."""

from __future__ import annotations

from daytwo.evals.model import MetricComparison, MetricKind

NONE = "–"


def value(kind: MetricKind, x: float | None) -> str:
    if x is None:
        return NONE
    if kind == "rate":
        return f"{x:.1%}"
    if kind == "cost":
        return f"${x:.6f}"
    if kind == "latency":
        return f"{x:.0f} ms"
    return f"{x:.3f}"


def delta(kind: MetricKind, x: float | None) -> str:
    if x is None:
        return NONE
    if kind == "rate":
        return f"{x * 100:+.1f} pp"
    if kind == "cost":
        return f"{'+' if x >= 0 else '-'}${abs(x):.6f}"
    if kind == "latency":
        return f"{x:+.0f} ms"
    return f"{x:+.3f}"


def ci(m: MetricComparison) -> str:
    if m.ci_low is None or m.ci_high is None:
        return NONE
    return f"[{delta(m.kind, m.ci_low)}, {delta(m.kind, m.ci_high)}]"


def p_value(p: float | None) -> str:
    if p is None:
        return NONE
    return "<0.001" if p < 0.001 else f"{p:.3f}"


def row(m: MetricComparison) -> tuple[str, str, str, str, str, str, str]:
    """metric, baseline, candidate, delta, 95% CI, p, verdict."""
    return (
        m.metric,
        value(m.kind, m.baseline),
        value(m.kind, m.candidate),
        delta(m.kind, m.delta),
        ci(m),
        p_value(m.p_value),
        m.verdict,
    )


def usd(x: float) -> str:
    return f"${x:.6f}"
