"""The Markdown PR comment: the gate's headline and failed criteria (or the run's pass rate), the
comparison table, the regressed cases, the eval's cost; user text cannot break the table, inject
HTML or mention anyone; the comment fits GitHub's limit."""

from __future__ import annotations

import re
from dataclasses import replace
from pathlib import Path

from tests.evals import report_data as data

from daytwo.evals.model import Comparison, GateVerdict, MetricComparison
from daytwo.evals.report import markdown, write_reports

#: A table row's cell separators: pipes not escaped by a backslash.
CELL = re.compile(r"(?<!\\)\|")


def table(comment: str, header: str) -> list[list[str]]:
    """The rows (cells stripped) of the table whose header row starts with ``header``."""
    lines = comment.splitlines()
    start = next(n for n, line in enumerate(lines) if line.startswith(header))
    rows = []
    for line in lines[start:]:
        if not line.startswith("|"):
            break
        rows.append([c.strip() for c in CELL.split(line)[1:-1]])
    return rows


def test_a_failed_gate_leads_with_its_failed_criteria(tmp_path: Path) -> None:
    run = data.run()
    path = tmp_path / "gate.md"
    write_reports(run, data.comparison(run), markdown=path, verdict=data.failing_verdict())
    comment = path.read_text(encoding="utf-8")
    lines = comment.splitlines()
    assert lines[0] == "## daytwo gate: ❌ FAIL"
    assert lines[2] == f"Candidate `{data.CAND}` against `{data.BASE}` on support replies."
    failed = [line for line in lines if line.startswith("- ")]
    assert failed == [
        "- pass rate 50.0% &lt; 85.0% &lt;limit&gt;",
        "- cost per call 2.0× baseline &gt; 1.5×",
    ]
    assert "Held: max\\_latency\\_p95\\_ms." in comment
    assert "run `01JRUNID` · eval cost $0.00420 · 13 calls · 3 cache hits" in comment


def test_the_comparison_table_has_a_row_per_metric_with_seven_cells() -> None:
    run = data.run()
    comparison = data.comparison(run)
    rows = table(markdown.render(run, comparison), "| metric |")
    assert rows[0] == ["metric", "baseline", "candidate", "delta", "95% CI", "p", "verdict"]
    body = rows[2:]
    assert [r[0] for r in body] == [markdown.text(m.metric) for m in comparison.metrics]
    assert all(len(r) == 7 for r in body)
    pass_row = body[0]
    assert pass_row[1:4] == ["100.0%", "50.0%", "-50.0 pp"]
    score = comparison.metric("score")
    assert score is not None and score.verdict == "worse"
    assert body[1][6] == "**worse**"


def test_regressions_list_cases_that_passed_before_and_fail_now() -> None:
    run = data.run()
    rows = table(markdown.render(run, data.comparison(run)), "| case |")[2:]
    # The errored call and the failed judge are errors, not regressions.
    assert [r[0] for r in rows] == ["case-1", "case-3", "case-4"]
    assert rows[0][1:3] == ["0.900", "0.400"]
    assert rows[0][3] == 'contains: missing &lt;b&gt;refund&lt;/b&gt; &amp; "policy" \\| link'


def test_hostile_text_cannot_break_the_table_inject_html_or_mention() -> None:
    run = data.run(regressed=frozenset({0}))
    loud = "@octocat <img src=x onerror=alert(1)>\n| x | y |\n```\n`code`"
    items = tuple(
        replace(i, grades=tuple(replace(g, reason=loud) for g in i.grades))
        if i.target == data.CAND and i.case_index == 0
        else i
        for i in run.items
    )
    run = replace(run, items=items, description="# big\n- list")
    comment = markdown.render(run, data.comparison(run), data.failing_verdict())
    rows = table(comment, "| case |")[2:]
    assert len(rows) == 1 and len(rows[0]) == 4
    assert not [line for line in comment.splitlines() if line.startswith(("# big", "- list"))]
    assert "<img" not in comment and "```" not in comment
    assert "@octocat" not in comment and "@\u2060octocat" in comment
    assert "\x07" not in comment and "\x1b" not in comment
    assert rows[0][0].startswith('&lt;img src=x onerror=alert(1)&gt; &amp; "quoted"')


def test_a_long_list_of_regressions_is_cut_to_fit_a_github_comment() -> None:
    n = 3000
    run = data.run(n, regressed=frozenset(range(7, n)))
    long_reason = "why " * 100
    items = tuple(
        replace(i, grades=tuple(replace(g, reason=long_reason) for g in i.grades))
        for i in run.items
    )
    run = replace(run, items=items)
    # The table is not what this test is about: one metric, built directly (no bootstrap).
    only_pass = MetricComparison(
        "pass", "rate", n, 1.0, 7 / n, 7 / n - 1, -1.0, -0.99, 1e-9, "mcnemar-exact", "worse", 0.01
    )
    comment = markdown.render(run, Comparison(data.BASE, data.CAND, n, (only_pass,)))
    assert len(comment) <= markdown.COMMENT_LIMIT
    rows = table(comment, "| case |")[2:]
    note = re.search(r"… and (\d+) more \(see the HTML report\)\.", comment)
    assert note is not None
    assert len(rows) + int(note[1]) == n - 7
    assert len(rows) > 100  # the budget is used, not thrown away
    assert comment.rstrip().endswith("cache hits</sub>")


def test_without_a_gate_the_headline_is_the_pass_rate() -> None:
    run = data.run()
    comment = markdown.render(run, None)
    assert comment.splitlines()[0] == "## daytwo eval: support replies"
    assert "**11 of 16 items passed (68.8%).**" in comment
    rows = table(comment, "| target |")[2:]
    assert [r[0] for r in rows] == [f"`{data.BASE}`", f"`{data.CAND}`"]
    assert [r[2] for r in rows] == ["100.0%", "37.5%"]
    assert "Regressions" not in comment
    compared = markdown.render(run, data.comparison(run))
    assert f"**3 of 8 items passed under `{data.CAND}` (37.5%).**" in compared
    assert "### Regressions (3)" in compared


def test_cannot_run_says_why() -> None:
    verdict = GateVerdict("cannot run", data.CAND, reason="budget `evals` exhausted | stop")
    comment = markdown.render(data.run(), None, verdict)
    assert comment.startswith("## daytwo gate: ⚠️ CANNOT RUN\n")
    assert "The gate could not run: budget \\`evals\\` exhausted \\| stop" in comment
