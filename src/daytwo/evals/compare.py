"""Baseline vs candidate on the same items, metric by metric (docs/statistics.md).

Repeats are folded per item first, so an item counts once however often it ran: its pass rate
and mean score over its repeats, and "passed" when it passed on more than half of them (the
input of McNemar's test; with one repeat the three agree). Repeats that errored
(``ItemResult.is_error``: the call or a grade failed) are left out; an item left with no
repeat on either side is not compared, and is counted in ``Comparison.unpaired`` with the items
present under one side only.

Metrics, each decided at ``alpha``:

- ``pass``: McNemar's exact test on the discordant items decides; the CI is the paired
  bootstrap of the pass-rate difference; the MDE is the paired-proportion one.
- ``score`` and every assertion metric present on both sides: the paired bootstrap CI of the
  mean difference decides, the Wilcoxon signed-rank p-value is reported beside it. An
  assertion metric whose grades are all 0 or 1 is a rate and is decided like ``pass``.
- ``cost_per_call`` (the answer's cost, not the eval's own judging) and ``latency_p50_ms`` /
  ``latency_p95_ms`` (answers from the eval cache have no latency and are left out): lower is
  better, decided by the paired bootstrap CI of the difference.

A metric with fewer than two paired items is not reported: one item says nothing about spread.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from daytwo.evals.model import Comparison, ItemResult, MetricComparison, MetricKind, Verdict
from daytwo.stats import (
    Interval,
    detectable_effect,
    mcnemar_exact,
    mde_paired_mean,
    mde_paired_proportion,
    paired_bootstrap,
    paired_quantile_differences,
    quantile,
    wilcoxon_signed_rank,
)

#: The comparison's own metric names; an assertion metric of the same name is reported as
#: ``assert:NAME`` so that ``Comparison.metric(name)`` stays unambiguous.
BUILTIN_METRICS = ("pass", "score", "cost_per_call", "latency_p50_ms", "latency_p95_ms")
NO_DIFFERENCE: Verdict = "no detectable difference"


@dataclass(frozen=True, slots=True)
class _Folded:
    """One metric of one item under one side, over its repeats."""

    score: float  # mean score
    pass_rate: float  # share of repeats that passed
    majority: bool  # passed on more than half the repeats
    binary: bool  # every score seen was 0 or 1


@dataclass(frozen=True, slots=True)
class _Item:
    """One case under one side, its non-error repeats folded."""

    index: int
    overall: _Folded
    #: Per assertion metric (Grade.metric).
    metrics: Mapping[str, _Folded]
    cost: float | None  # mean answer cost
    latency: float | None  # mean latency of the repeats that made a call


def compare(
    baseline: Sequence[ItemResult],
    candidate: Sequence[ItemResult],
    *,
    baseline_label: str,
    candidate_label: str,
    alpha: float = 0.05,
    seed: int = 0,
) -> Comparison:
    """Pair ``baseline`` and ``candidate`` results by ``case_id`` and compare every metric
    (see the module docstring). Deterministic by ``seed`` (the bootstrap's resampling)."""
    if not 0.0 < alpha < 1.0:
        raise ValueError(f"alpha must be in (0, 1), got {alpha}")
    base, cand = _fold_side(baseline), _fold_side(candidate)
    seen = {item.case_id for item in baseline} | {item.case_id for item in candidate}
    ids = sorted(base.keys() & cand.keys(), key=lambda case: (base[case].index, case))
    pairs = [(base[case], cand[case]) for case in ids]
    judge = _Judge(alpha, seed)

    metrics: list[MetricComparison | None] = [
        judge.rate("pass", [(b.overall, c.overall) for b, c in pairs]),
        judge.score("score", [(b.overall, c.overall) for b, c in pairs]),
    ]
    for name in sorted({m for b, c in pairs for m in b.metrics.keys() & c.metrics.keys()}):
        folded = [(b.metrics[name], c.metrics[name]) for b, c in pairs if _both(b, c, name)]
        shown = f"assert:{name}" if name in BUILTIN_METRICS else name
        if all(b.binary and c.binary for b, c in folded):
            metrics.append(judge.rate(shown, folded))
        else:
            metrics.append(judge.score(shown, folded))
    costs = [(b.cost, c.cost) for b, c in pairs if b.cost is not None and c.cost is not None]
    metrics.append(judge.cost(costs))
    latencies = [
        (b.latency, c.latency) for b, c in pairs if b.latency is not None and c.latency is not None
    ]
    metrics.extend(judge.latency(latencies))
    return Comparison(
        baseline=baseline_label,
        candidate=candidate_label,
        n_items=len(pairs),
        metrics=tuple(m for m in metrics if m is not None),
        unpaired=len(seen) - len(pairs),
    )


def cost_ratio(comparison: Comparison) -> float | None:
    """Candidate cost per call / baseline cost per call (2.1 = the candidate costs 2.1 times
    as much); None when cost was not compared or the baseline cost nothing."""
    cost = comparison.metric("cost_per_call")
    if cost is None or cost.baseline <= 0:
        return None
    return cost.candidate / cost.baseline


# -- folding ---------------------------------------------------------------------------------


def _fold_side(results: Sequence[ItemResult]) -> dict[str, _Item]:
    repeats: dict[str, list[ItemResult]] = defaultdict(list)
    for result in results:
        if not result.is_error:
            repeats[result.case_id].append(result)
    return {case: _fold_item(rows) for case, rows in repeats.items()}


def _fold_item(repeats: list[ItemResult]) -> _Item:
    by_metric: dict[str, list[tuple[float, bool, bool]]] = defaultdict(list)
    for result in repeats:
        grades: dict[str, list[tuple[float, bool]]] = defaultdict(list)
        for grade in result.grades:
            grades[grade.metric].append((grade.score, grade.passed))
        for name, seen in grades.items():
            scores = [score for score, _ in seen]
            by_metric[name].append(
                (
                    float(np.mean(scores)),
                    all(passed for _, passed in seen),
                    all(score in (0.0, 1.0) for score in scores),
                )
            )
    costs = [r.output.cost_usd for r in repeats if r.output is not None]
    # An answer from the eval cache was not called on this run: its latency means nothing.
    called = [r.output for r in repeats if r.output is not None and not r.output.cached]
    latencies = [output.latency_ms for output in called]
    overall = [(r.score, r.passed, r.score in (0.0, 1.0)) for r in repeats]
    return _Item(
        index=repeats[0].case_index,
        overall=_fold(overall),
        metrics={name: _fold(rows) for name, rows in by_metric.items()},
        cost=float(np.mean(costs)) if costs else None,
        latency=float(np.mean(latencies)) if latencies else None,
    )


def _fold(repeats: list[tuple[float, bool, bool]]) -> _Folded:
    passes = sum(passed for _, passed, _ in repeats)
    return _Folded(
        score=float(np.mean([score for score, _, _ in repeats])),
        pass_rate=passes / len(repeats),
        majority=2 * passes > len(repeats),
        binary=all(binary for _, _, binary in repeats),
    )


def _both(base: _Item, cand: _Item, name: str) -> bool:
    return name in base.metrics and name in cand.metrics


# -- deciding --------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Judge:
    alpha: float
    seed: int

    def rate(self, name: str, pairs: list[tuple[_Folded, _Folded]]) -> MetricComparison | None:
        if len(pairs) < 2:
            return None
        n = len(pairs)
        b = sum(base.majority and not cand.majority for base, cand in pairs)
        c = sum(cand.majority and not base.majority for base, cand in pairs)
        p = mcnemar_exact(b, c)
        base_rates = np.array([base.pass_rate for base, _ in pairs])
        cand_rates = np.array([cand.pass_rate for _, cand in pairs])
        ci = self._bootstrap(cand_rates - base_rates)
        return MetricComparison(
            metric=name,
            kind="rate",
            n=n,
            baseline=float(base_rates.mean()),
            candidate=float(cand_rates.mean()),
            delta=ci.estimate,
            ci_low=ci.low,
            ci_high=ci.high,
            p_value=p,
            test="mcnemar-exact",
            verdict=_direction(c - b, higher_is_better=True) if p < self.alpha else NO_DIFFERENCE,
            mde=mde_paired_proportion(n, (b + c) / n, alpha=self.alpha),
            discordant=(b, c),
        )

    def score(self, name: str, pairs: list[tuple[_Folded, _Folded]]) -> MetricComparison | None:
        if len(pairs) < 2:
            return None
        base = np.array([b.score for b, _ in pairs])
        cand = np.array([c.score for _, c in pairs])
        wilcoxon_p = wilcoxon_signed_rank(cand - base)
        return self._mean_difference(name, "score", base, cand, True, wilcoxon_p)

    def cost(self, pairs: list[tuple[float, float]]) -> MetricComparison | None:
        if len(pairs) < 2:
            return None
        base, cand = np.array(pairs).T
        return self._mean_difference("cost_per_call", "cost", base, cand, False, None)

    def latency(self, pairs: list[tuple[float, float]]) -> list[MetricComparison]:
        if len(pairs) < 2:
            return []
        base, cand = np.array(pairs).T
        levels = {"latency_p50_ms": 0.50, "latency_p95_ms": 0.95}
        intervals = paired_quantile_differences(
            base, cand, tuple(levels.values()), confidence=1.0 - self.alpha, seed=self.seed
        )
        return [
            MetricComparison(
                metric=name,
                kind="latency",
                n=len(pairs),
                baseline=quantile(base, q),
                candidate=quantile(cand, q),
                delta=ci.estimate,
                ci_low=ci.low,
                ci_high=ci.high,
                p_value=None,
                test="paired-bootstrap",
                verdict=_from_interval(ci, higher_is_better=False),
                mde=detectable_effect(ci.standard_error or 0.0, alpha=self.alpha),
                higher_is_better=False,
            )
            for (name, q), ci in zip(levels.items(), intervals, strict=True)
        ]

    def _mean_difference(
        self,
        name: str,
        kind: MetricKind,
        base: np.ndarray,
        cand: np.ndarray,
        higher_is_better: bool,
        wilcoxon_p: float | None,
    ) -> MetricComparison:
        diffs = cand - base
        ci = self._bootstrap(diffs)
        return MetricComparison(
            metric=name,
            kind=kind,
            n=len(diffs),
            baseline=float(base.mean()),
            candidate=float(cand.mean()),
            delta=ci.estimate,
            ci_low=ci.low,
            ci_high=ci.high,
            p_value=wilcoxon_p,
            test="paired-bootstrap",
            verdict=_from_interval(ci, higher_is_better=higher_is_better),
            mde=mde_paired_mean(len(diffs), float(np.std(diffs, ddof=1)), alpha=self.alpha),
            higher_is_better=higher_is_better,
            wilcoxon_p=wilcoxon_p,
        )

    def _bootstrap(self, diffs: np.ndarray) -> Interval:
        return paired_bootstrap(diffs, confidence=1.0 - self.alpha, seed=self.seed)


def _from_interval(ci: Interval, *, higher_is_better: bool) -> Verdict:
    if ci.low > 0.0:
        return _direction(1, higher_is_better=higher_is_better)
    if ci.high < 0.0:
        return _direction(-1, higher_is_better=higher_is_better)
    return NO_DIFFERENCE


def _direction(sign: int, *, higher_is_better: bool) -> Verdict:
    if sign == 0:
        return NO_DIFFERENCE
    return "better" if (sign > 0) == higher_is_better else "worse"
