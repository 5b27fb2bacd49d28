"""A run as ONE self-contained HTML file: targets, the baseline/candidate comparison, inline SVG
charts (per-metric delta with its CI, per-target score histograms) and every case side by side
(variables, expected answer, each side's answers and each assertion's verdict), with "failed
only" / "regressions only" filters.

Nothing is loaded from anywhere: CSS and SVG are inline, the one script (templates/filter.js)
is inline and allowed by its hash in a Content-Security-Policy that forbids every other source.
The template is rendered by Jinja2 with autoescaping, so case ids, answers and reasons show as
text whatever they contain.
"""

from __future__ import annotations

import base64
import hashlib
import json
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from daytwo.evals.model import Case, Comparison, GateVerdict, ItemResult, RunResult
from daytwo.evals.report import charts
from daytwo.evals.report.fmt import fmt_usd
from daytwo.evals.report.items import CaseRow, case_rows, is_regression, sides
from daytwo.evals.report.text import clean, metric_row

TEMPLATES = Path(__file__).parent / "templates"
TEMPLATE = "report.html.j2"
SCRIPT = "filter.js"


def csp(script: str) -> str:
    """No source at all but this page's own styles and its one script (by hash)."""
    digest = base64.b64encode(hashlib.sha256(script.encode()).digest()).decode()
    return (
        "default-src 'none'; "
        "style-src 'unsafe-inline'; "
        f"script-src 'sha256-{digest}'; "
        "img-src 'none'; connect-src 'none'; font-src 'none'; "
        "base-uri 'none'; form-action 'none'"
    )


def render(
    run: RunResult,
    comparison: Comparison | None,
    verdict: GateVerdict | None = None,
    cases: Sequence[Case] = (),
) -> str:
    """The report's HTML. ``cases`` (the suite's) adds each case's variables and expected
    answer to the side-by-side view."""
    import jinja2
    from markupsafe import Markup

    from daytwo.evals.report.run_summary import COLUMNS, target_row

    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        finalize=_printable,
    )
    script = (TEMPLATES / SCRIPT).read_text(encoding="utf-8")
    labels = sides(run, comparison)
    rows = case_rows(run, labels)
    by_index = {case.index: case for case in cases}
    case_views = [_case(row, labels, by_index.get(row.case_index)) for row in rows]
    return env.get_template(TEMPLATE).render(
        csp=csp(script),
        script=Markup(script),  # noqa: S704 -- our own file, shipped with the package
        title=run.description or run.suite,
        run=run,
        started=time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(run.started_at)),
        spent=fmt_usd(run.spent_usd),
        verdict=verdict,
        # the failed criteria first, as the gate prints them
        gate_checks=[*verdict.failed, *(c for c in verdict.checks if c.passed)] if verdict else [],
        target_columns=COLUMNS,
        target_rows=[target_row(t.label, run.for_target(t.label)) for t in run.targets],
        comparison=comparison,
        metric_rows=[metric_row(m) for m in comparison.metrics] if comparison else [],
        delta_rows=charts.delta_rows(comparison) if comparison else [],
        histograms=charts.histograms([(label, run.for_target(label)) for label in labels]),
        chart={
            "width": charts.WIDTH,
            "row_height": charts.ROW_HEIGHT,
            "hist_height": charts.HIST_HEIGHT,
        },
        sides=labels,
        cases=case_views,
        regression_count=sum(1 for view in case_views if view["regression"]),
    )


def _printable(value: Any) -> Any:
    """Every printed string without control characters (they have no business in a page);
    escaping is autoescape's job, after this."""
    from markupsafe import Markup

    if isinstance(value, str) and not isinstance(value, Markup):
        return clean(value)
    return value


def _case(row: CaseRow, labels: Sequence[str], case: Case | None) -> dict[str, Any]:
    return {
        "case_id": row.case_id,
        "description": case.description if case else "",
        "vars": _pretty(case.vars) if case and case.vars else "",
        "expected": case.expected if case else None,
        "failed": row.failed,
        "regression": is_regression(row),
        "sides": [
            {"label": label, "repeats": [_repeat(item) for item in cell]}
            for label, cell in zip(labels, row.cells, strict=True)
        ],
    }


def _repeat(item: ItemResult) -> dict[str, Any]:
    out = item.output
    meta = []
    if out is not None:
        if out.served_model:
            meta.append(out.served_model)
        meta.append(fmt_usd(item.cost_usd))
        meta.append("cached" if out.cached else f"{out.latency_ms:.0f} ms")
    return {
        "repeat": item.repeat,
        "status": "error" if item.is_error else "pass" if item.passed else "fail",
        "score": f"{item.score:.3f}",
        "meta": " · ".join(meta),
        "error": item.error,
        "answer": out.text if out is not None else None,
        "tool_calls": out.tool_calls if out is not None else (),
        "grades": [
            {
                "assertion": g.assertion,
                "metric": g.metric,
                "status": "error" if g.error else "pass" if g.passed else "fail",
                "score": g.score,
                "reason": g.error or g.reason,
            }
            for g in item.grades
        ],
    }


def _pretty(values: Mapping[str, Any]) -> str:
    return json.dumps(dict(values), indent=2, ensure_ascii=False, default=str)
