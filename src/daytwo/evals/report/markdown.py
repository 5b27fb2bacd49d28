"""A Markdown summary of a run for a pull-request comment: the headline (the gate's verdict with
its failed criteria, or the run's pass rate), the per-metric comparison, the cases that regressed
and what the eval itself cost.

Every piece of user text (case ids, reasons, labels) is escaped so it cannot break the table,
open a code span, inject HTML or mention anyone. The comment stays under GitHub's limit
(:data:`COMMENT_LIMIT`): the list of regressions is cut, with a note saying how many were left out.
"""

from __future__ import annotations

import re

from daytwo.evals.model import Comparison, GateVerdict, RunResult
from daytwo.evals.report.fmt import fmt_usd
from daytwo.evals.report.items import Regression, case_rows, regressions, sides
from daytwo.evals.report.text import clean, metric_row

#: GitHub refuses comments longer than 65,536 characters; a margin for the cut note.
COMMENT_LIMIT = 65_536
_MARGIN = 200
_HEADLINE = {"pass": "✅ PASS", "fail": "❌ FAIL", "cannot run": "⚠️ CANNOT RUN"}
#: Characters with a meaning inside a line of GitHub Markdown (backslash-escaped): code spans,
#: emphasis, links, table cells, strikethrough. User text never starts a line, so the
#: line-start syntax (``#``, ``-``, ``+``, ``>``) needs no escape.
_SPECIAL = re.compile(r"([\\`*_\[\]|~])")


def text(value: str) -> str:
    """``value`` as plain inline text: one line without control characters, HTML and Markdown
    syntax escaped, ``@`` kept from mentioning (a word joiner after it)."""
    one_line = " ".join(clean(value).split())
    html = one_line.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return _SPECIAL.sub(r"\\\1", html).replace("@", "@\u2060")


def render(
    run: RunResult, comparison: Comparison | None, verdict: GateVerdict | None = None
) -> str:
    """The comment, at most :data:`COMMENT_LIMIT` characters."""
    head = [*_headline(run, comparison, verdict), ""]
    if comparison is not None:
        head += [*_comparison_table(comparison), ""]
    else:
        head += [*_targets_table(run), ""]
    foot = ["", *_footer(run)]
    found = regressions(case_rows(run, sides(run, comparison))) if comparison else []
    budget = COMMENT_LIMIT - _MARGIN - _length(head) - _length(foot)
    body = _regressions(found, budget) if comparison is not None else []
    return "\n".join([*head, *body, *foot]) + "\n"


def _length(lines: list[str]) -> int:
    return sum(len(line) + 1 for line in lines)


def _headline(
    run: RunResult, comparison: Comparison | None, verdict: GateVerdict | None
) -> list[str]:
    title = text(run.description or run.suite)
    if verdict is not None:
        lines = [f"## daytwo gate: {_HEADLINE[verdict.status]}", ""]
        against = f" against {_label(verdict.baseline)}" if verdict.baseline else ""
        lines.append(f"Candidate {_label(verdict.candidate)}{against} on {title}.")
        if verdict.status == "cannot run":
            lines += ["", f"The gate could not run: {text(verdict.reason)}"]
        if verdict.failed:
            lines += ["", "Failed criteria:", ""]
            lines += [f"- {text(check.line)}" for check in verdict.failed]
        held = [c for c in verdict.checks if c.passed]
        if held:
            lines += ["", f"Held: {', '.join(text(c.criterion) for c in held)}."]
        return lines
    items = [i for i in run.items if comparison is None or i.target == comparison.candidate]
    passed = sum(i.passed for i in items)
    rate = f" ({passed / len(items):.1%})" if items else ""
    scope = f" under {_label(comparison.candidate)}" if comparison is not None else ""
    return [
        f"## daytwo eval: {title}",
        "",
        f"**{passed} of {len(items)} items passed{scope}{rate}.**",
    ]


def _label(label: str) -> str:
    """A target label as inline code (labels read best verbatim: ``prompt:x@v2``)."""
    flat = " ".join(clean(label).split()).replace("|", "\\|")
    fence = "`" * (max((len(m) for m in re.findall("`+", flat)), default=0) + 1)
    pad = " " if flat.startswith("`") or flat.endswith("`") else ""
    return f"{fence}{pad}{flat}{pad}{fence}"


def _comparison_table(comparison: Comparison) -> list[str]:
    lines = [
        f"Baseline {_label(comparison.baseline)}, candidate {_label(comparison.candidate)}, "
        f"{comparison.n_items} paired items"
        + (f" ({comparison.unpaired} not paired)" if comparison.unpaired else "")
        + ".",
        "",
        "| metric | baseline | candidate | delta | 95% CI | p | verdict |",
        "| --- | ---: | ---: | ---: | ---: | ---: | --- |",
    ]
    for m in comparison.metrics:
        cells = list(metric_row(m))
        cells[0] = text(cells[0])
        cells[-1] = f"**{m.verdict}**" if m.verdict == "worse" else m.verdict
        lines.append("| " + " | ".join(cells) + " |")
    return lines


def _targets_table(run: RunResult) -> list[str]:
    from daytwo.evals.report.run_summary import COLUMNS, target_row

    keep = (0, 1, 2, 3, 4, 5, 6)  # target .. judge cost: what a reviewer weighs
    lines = [
        "| " + " | ".join(COLUMNS[k] for k in keep) + " |",
        "| --- |" + " ---: |" * (len(keep) - 1),
    ]
    for target in run.targets:
        row = target_row(target.label, run.for_target(target.label))
        cells = [_label(row[0]), *(row[k] for k in keep[1:])]
        lines.append("| " + " | ".join(cells) + " |")
    return lines


def _regressions(found: list[Regression], budget: int) -> list[str]:
    if not found:
        return ["No case that passed under the baseline fails under the candidate."]
    lines = [
        f"### Regressions ({len(found)}): passed under the baseline, fail under the candidate",
        "",
        "| case | baseline score | candidate score | reason |",
        "| --- | ---: | ---: | --- |",
    ]
    used = _length(lines)
    for shown, r in enumerate(found):
        line = (
            f"| {text(r.case_id)} | {r.baseline_score:.3f} | {r.candidate_score:.3f} "
            f"| {text(r.reason)} |"
        )
        if used + len(line) + 1 > budget:
            lines += ["", f"… and {len(found) - shown} more (see the HTML report)."]
            break
        lines.append(line)
        used += len(line) + 1
    return lines


def _footer(run: RunResult) -> list[str]:
    return [
        f"<sub>run `{run.run_id}` · eval cost {fmt_usd(run.spent_usd)} · "
        f"{run.calls} calls · {run.cache_hits} cache hits</sub>",
    ]
