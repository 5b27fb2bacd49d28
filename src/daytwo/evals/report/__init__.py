"""Reports of a run (and of its comparison and gate verdict) for people and CI: JUnit XML
(:mod:`.junit`), one self-contained HTML file (:mod:`.html`) and a Markdown pull-request comment
(:mod:`.markdown`). Each file is written atomically.

Imported lazily by the CLI, and light itself: Jinja2 and Rich are imported by the functions
that need them.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from daytwo.core.files import write_atomic
from daytwo.evals.model import Case, Comparison, GateVerdict, RunResult


def write_reports(
    run: RunResult,
    comparison: Comparison | None,
    *,
    junit: Path | None = None,
    html: Path | None = None,
    markdown: Path | None = None,
    verdict: GateVerdict | None = None,
    cases: Sequence[Case] = (),
) -> None:
    """Write each report whose path is given. ``comparison``: baseline vs candidate (the
    Markdown and HTML reports show its table and the regressed cases); ``verdict``: the
    gate's (a headline, and a ``deploy gate`` suite in the JUnit XML); ``cases``: the suite's
    cases (their variables and expected answers in the HTML report)."""
    if junit is not None:
        from daytwo.evals.report import junit as junit_report

        write_atomic(junit, junit_report.render(run, verdict))
    if html is not None:
        from daytwo.evals.report import html as html_report

        page = html_report.render(run, comparison, verdict, cases)
        write_atomic(html, page.encode("utf-8"))
    if markdown is not None:
        from daytwo.evals.report import markdown as markdown_report

        write_atomic(markdown, markdown_report.render(run, comparison, verdict).encode("utf-8"))
