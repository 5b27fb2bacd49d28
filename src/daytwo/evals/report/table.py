"""The comparison table ``daytwo eval compare`` and ``daytwo gate`` print: one row per metric
-- baseline, candidate, delta, its confidence interval, the p-value, the verdict (green
better, red worse, dim when the sample could not tell), the minimal detectable effect and the
number of paired items. Numbers are written by :mod:`daytwo.evals.report.fmt`."""

from __future__ import annotations

from rich.console import Console, Group, RenderableType
from rich.table import Table
from rich.text import Text

from daytwo.evals.model import Comparison, MetricComparison
from daytwo.evals.report.fmt import fmt_ci, fmt_delta, fmt_mde, fmt_p, fmt_value

COLUMNS = ("metric", "baseline", "candidate", "delta", "95% CI", "p", "verdict", "MDE", "n")
#: What a narrow terminal (under ~120 columns) shows: the numbers and the verdict.
COMPACT = ("metric", "baseline", "candidate", "delta", "verdict")
VERDICT_STYLE = {"better": "bold green", "worse": "bold red", "no detectable difference": "dim"}


def comparison_renderable(
    comparison: Comparison, *, alpha: float = 0.05, compact: bool = False
) -> RenderableType:
    """The table, titled with the two sides, and a note of unpaired items when there are.
    ``compact``: the :data:`COMPACT` columns only."""
    shown = COMPACT if compact else COLUMNS
    table = Table(
        title=f"{comparison.candidate} (candidate) vs {comparison.baseline} (baseline), "
        f"{comparison.n_items} paired items",
        title_justify="left",
    )
    table.add_column(COLUMNS[0], no_wrap=True)
    for col in shown[1:]:
        name = f"{1 - alpha:.0%} CI" if col == "95% CI" else col
        if col == "verdict":  # the words wrap on a narrow terminal; numbers are never cut
            table.add_column(name, justify="left")
        else:
            table.add_column(name, justify="right", no_wrap=True, min_width=len(name))
    keep = [COLUMNS.index(col) for col in shown]
    for metric in comparison.metrics:
        row = _row(metric)
        table.add_row(*(row[i] for i in keep))
    if not comparison.unpaired:
        return table
    note = Text(
        f"{comparison.unpaired} items not compared (under one side only, or every repeat errored)",
        style="yellow",
    )
    return Group(table, note)


def _row(m: MetricComparison) -> tuple[str | Text, ...]:
    return (
        m.metric,
        fmt_value(m, m.baseline),
        fmt_value(m, m.candidate),
        fmt_delta(m),
        fmt_ci(m),
        fmt_p(m.p_value),
        Text(m.verdict, style=VERDICT_STYLE[m.verdict]),
        fmt_mde(m),
        str(m.n),
    )


def print_comparison(comparison: Comparison, console: Console, *, alpha: float = 0.05) -> None:
    """Print the comparison table on ``console``."""
    console.print(comparison_renderable(comparison, alpha=alpha))
