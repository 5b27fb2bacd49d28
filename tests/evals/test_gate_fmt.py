"""The shared number formatting (evals/report/fmt.py) the table, the gate and the reports use."""

from __future__ import annotations

import pytest

from daytwo.evals.model import MetricComparison, MetricKind
from daytwo.evals.report.fmt import fmt_ci, fmt_delta, fmt_mde, fmt_p, fmt_usd, fmt_value


def _metric(kind: MetricKind, **kw: float | None) -> MetricComparison:
    values: dict[str, float | None] = {
        "baseline": 0.5,
        "candidate": 0.5,
        "delta": 0.0,
        "ci_low": None,
        "ci_high": None,
        "p_value": None,
        "mde": None,
    }
    values.update(kw)
    return MetricComparison(
        metric="m",
        kind=kind,
        n=10,
        test="paired-bootstrap",
        verdict="no detectable difference",
        **values,  # type: ignore[arg-type]
    )


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (0.00042, "$0.000420"),
        (0.000197, "$0.000197"),
        (12.5, "$12.50"),
        (0.0, "$0"),
        (1.23456, "$1.23"),
    ],
)
def test_usd_keeps_three_significant_digits(value: float, text: str) -> None:
    assert fmt_usd(value) == text


def test_each_kind_in_its_unit() -> None:
    assert fmt_value(_metric("rate"), 0.0172) == "1.7%"
    assert fmt_value(_metric("score"), 0.71234) == "0.712"
    assert fmt_value(_metric("latency"), 812.4) == "812 ms"
    assert fmt_value(_metric("latency"), 3.26) == "3.3 ms"
    assert fmt_value(_metric("cost"), None) == "–"


def test_deltas_and_intervals_are_signed() -> None:
    score = _metric("score", delta=-0.023, ci_low=-0.0612, ci_high=0.0138, mde=0.04)
    assert fmt_delta(score) == "-0.023"
    assert fmt_ci(score) == "[-0.061, +0.014]"
    assert fmt_mde(score) == "0.040"
    rate = _metric("rate", delta=0.023, ci_low=-0.01, ci_high=0.05)
    assert fmt_delta(rate) == "+2.3 pp"
    assert fmt_ci(rate) == "[-1.0 pp, +5.0 pp]"
    cost = _metric("cost", delta=0.000223)
    assert fmt_delta(cost) == "+$0.000223"
    assert fmt_ci(cost) == "–"


@pytest.mark.parametrize(("p", "text"), [(None, "–"), (0.0004, "<0.001"), (0.0412, "0.041")])
def test_p_values(p: float | None, text: str) -> None:
    assert fmt_p(p) == text
