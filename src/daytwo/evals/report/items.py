"""The run's items grouped the way the reports show them: one row per case, one column per side
(baseline and candidate when comparing, else every target), and which cases regressed.

A case *regressed* when it passed under the baseline and fails under the candidate, each side's
repeats folded as the comparison folds them (evals/compare.py): errored repeats left out, then
"passed" on more than half of the rest. A case with only errored repeats on a side is an error
there, never a regression.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from daytwo.evals.model import Comparison, ItemResult, RunResult
from daytwo.evals.report.text import shorten


@dataclass(frozen=True, slots=True)
class CaseRow:
    """One case: its repeats under each side (in ``sides`` order)."""

    case_id: str
    case_index: int
    cells: tuple[tuple[ItemResult, ...], ...]

    @property
    def failed(self) -> bool:
        """Some repeat under some side failed or errored."""
        return any(not item.passed for cell in self.cells for item in cell)


@dataclass(frozen=True, slots=True)
class Regression:
    case_id: str
    baseline_score: float
    candidate_score: float
    reason: str


def sides(run: RunResult, comparison: Comparison | None) -> tuple[str, ...]:
    """The columns: baseline then candidate when comparing, else the run's targets."""
    if comparison is not None:
        return (comparison.baseline, comparison.candidate)
    return tuple(t.label for t in run.targets)


def case_rows(run: RunResult, labels: Sequence[str]) -> list[CaseRow]:
    """Every case of the run that ran under any of ``labels``, in dataset order."""
    index: dict[str, int] = {}
    grouped: dict[tuple[str, str], list[ItemResult]] = {}
    for item in run.items:
        if item.target in labels:
            index.setdefault(item.case_id, item.case_index)
            grouped.setdefault((item.case_id, item.target), []).append(item)
    return [
        CaseRow(
            case_id=case_id,
            case_index=at,
            cells=tuple(
                tuple(sorted(grouped.get((case_id, label), []), key=lambda i: i.repeat))
                for label in labels
            ),
        )
        for case_id, at in sorted(index.items(), key=lambda kv: kv[1])
    ]


def majority_pass(repeats: Sequence[ItemResult]) -> bool | None:
    """Passed on more than half of the non-error repeats; None when every repeat errored."""
    graded = [r for r in repeats if not r.is_error]
    if not graded:
        return None
    return sum(r.passed for r in graded) * 2 > len(graded)


def mean_score(repeats: Sequence[ItemResult]) -> float:
    graded = [r for r in repeats if not r.is_error]
    return sum(r.score for r in graded) / len(graded) if graded else 0.0


def is_regression(row: CaseRow) -> bool:
    """Only meaningful for a two-column (baseline, candidate) row."""
    if len(row.cells) != 2:
        return False
    return majority_pass(row.cells[0]) is True and majority_pass(row.cells[1]) is False


def regressions(rows: Sequence[CaseRow]) -> list[Regression]:
    """The regressed cases, the largest score drop first."""
    found = [
        Regression(
            case_id=row.case_id,
            baseline_score=mean_score(row.cells[0]),
            candidate_score=mean_score(row.cells[1]),
            reason=failure_reason(row.cells[1]),
        )
        for row in rows
        if is_regression(row)
    ]
    return sorted(found, key=lambda r: r.candidate_score - r.baseline_score)


def failure_reason(repeats: Sequence[ItemResult]) -> str:
    """The first failed grade's ``metric: reason`` of the first failing repeat, shortened."""
    for item in repeats:
        for grade in item.grades:
            if not grade.passed and grade.error is None:
                return shorten(f"{grade.metric}: {grade.reason}")
    return ""
