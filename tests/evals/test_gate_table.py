"""The comparison table (evals/report/table.py): every metric a row with its numbers and a
coloured verdict, the unpaired note."""

from __future__ import annotations

from rich.console import Console

from daytwo.evals.model import Comparison, MetricComparison
from daytwo.evals.report.table import print_comparison


def _metric(name: str, verdict: str, **kw: object) -> MetricComparison:
    values: dict[str, object] = {
        "metric": name,
        "kind": "score",
        "n": 40,
        "baseline": 0.735,
        "candidate": 0.712,
        "delta": -0.023,
        "ci_low": -0.061,
        "ci_high": 0.014,
        "p_value": 0.2,
        "test": "paired-bootstrap",
        "verdict": verdict,
        "mde": 0.05,
    }
    values.update(kw)
    return MetricComparison(**values)  # type: ignore[arg-type]


def render(comparison: Comparison, *, color: bool = False) -> str:
    console = Console(width=160, record=True, force_terminal=color, color_system="standard")
    print_comparison(comparison, console)
    return console.export_text(styles=color)


def test_each_metric_is_a_row_with_its_numbers() -> None:
    comparison = Comparison(
        "v1",
        "v2",
        40,
        (
            _metric("helpfulness", "no detectable difference"),
            _metric(
                "pass",
                "worse",
                kind="rate",
                baseline=0.9,
                candidate=0.8,
                delta=-0.1,
                ci_low=-0.15,
                ci_high=-0.05,
                p_value=0.0004,
                mde=0.07,
            ),
        ),
    )
    text = render(comparison)
    assert "v2 (candidate) vs v1 (baseline), 40 paired items" in text
    rows = [line for line in text.splitlines() if "helpfulness" in line or "│ pass" in line]
    assert len(rows) == 2
    for cell in ("0.735", "0.712", "-0.023", "[-0.061, +0.014]", "0.200", "no detectable"):
        assert cell in rows[0]
    for cell in ("90.0%", "80.0%", "-10.0 pp", "[-15.0 pp, -5.0 pp]", "<0.001", "worse", "7.0 pp"):
        assert cell in rows[1]
    assert "not compared" not in text


def test_verdicts_are_coloured_and_unpaired_items_noted() -> None:
    comparison = Comparison(
        "v1", "v2", 3, (_metric("a", "better"), _metric("b", "worse")), unpaired=2
    )
    text = render(comparison, color=True)
    assert "\x1b[1;32mbetter" in text and "\x1b[1;31mworse" in text
    assert "2 items not compared" in text
