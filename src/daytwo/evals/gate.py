"""The deploy gate: does a candidate meet the suite's criteria? One :class:`GateCheck` per
criterion configured, each with one line of numbers; the verdict is ``pass`` when every check
held, ``fail`` when one did not, ``cannot run`` when the gate could not decide (docs/gate.md).

Which number decides each criterion:

- ``min_pass_rate``, ``max_refusal_rate``, ``min_format_compliance``: the candidate's observed
  rate (the point estimate) against the limit; the Wilson interval is shown beside it. A limit
  is a level of quality a team chose for the rate itself; judging it by the Wilson bound would
  make a 0.9 pass-rate floor unreachable for suites below 35 items even when every item passes.
  Whether a drop is beyond noise is what ``no_regression`` answers, with the paired test.
- ``min_score``: the mean item score; ``max_cost_per_call_usd``: the mean answer cost;
  ``max_latency_p95_ms``: the 95th percentile of the latencies of the calls made (answers from
  the eval cache made no call and are left out).
- ``no_regression``: non-inferiority on the paired comparison -- the lower bound of the
  ``1 - alpha`` confidence interval of candidate - baseline stays at or above ``-margin``
  (:func:`daytwo.stats.noninferior`); for lower-is-better metrics (cost, latency) the upper
  bound stays at or below ``+margin``. ``margin`` is in the metric's own unit.
- ``max_cost_ratio``: candidate cost per call / baseline cost per call on the paired items
  (:func:`daytwo.evals.compare.cost_ratio`).
- ``error_budget`` (``--require-error-budget``): a quality SLO's error budget left in
  production, from the gateway's ledger (:func:`error_budget_check`; computed by
  ``daytwo.slo``): an exhausted budget (0 % or less left) fails, whatever the suite shows.

Errored items (the call or the grading failed): they count as failed in the pass rate and score
0 in the mean score, so the gate never passes on what it could not measure. When more than
:data:`MAX_ERROR_SHARE` of a side's items errored the gate does not decide at all (``cannot
run``): the run then says more about the provider than about the candidate.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import fields
from typing import Any

from daytwo.evals.compare import cost_ratio
from daytwo.evals.model import (
    Comparison,
    GateCheck,
    GateCriteria,
    GateStatus,
    GateVerdict,
    ItemResult,
    MetricComparison,
    RunResult,
)
from daytwo.evals.report.fmt import fmt_ci, fmt_kind_delta, fmt_ms, fmt_pct, fmt_usd, fmt_value
from daytwo.quality.checks import format_ok, is_refusal
from daytwo.stats import noninferior, quantile, wilson_interval

#: More errored items than this share of a side's items: the gate cannot decide.
MAX_ERROR_SHARE = 0.1
#: Criteria that compare against a baseline.
NEEDS_BASELINE = ("no_regression", "max_cost_ratio")

#: The candidate's requested response format per case id (``None``: the request asked for no
#: format), as the suite's target builds it; what ``min_format_compliance`` checks against.
Formats = Mapping[str, Mapping[str, Any] | None]


class _CannotRun(Exception):
    """A criterion that cannot be measured on this run; the message says why."""


def configured(criteria: GateCriteria) -> list[str]:
    """The names of the criteria that are set (``margin`` is a setting, not a criterion)."""
    return [
        f.name
        for f in fields(criteria)
        if f.name != "margin" and getattr(criteria, f.name) not in (None, ())
    ]


def evaluate_gate(
    criteria: GateCriteria,
    run: RunResult | None,
    baseline: str | None,
    candidate: str,
    comparison: Comparison | None,
    *,
    alpha: float = 0.05,
    formats: Formats | None = None,
    extra: Sequence[GateCheck] = (),
) -> GateVerdict:
    """Hold ``candidate`` (a target label of ``run``) to ``criteria``; ``baseline`` and
    ``comparison`` (baseline vs candidate, at the same ``alpha``) for the criteria that
    compare. ``formats``: what each case's request asked for (``min_format_compliance``);
    None when not known for this run. ``extra``: checks made outside the run (the
    ``error_budget`` checks), held with the others."""
    verdict = _Verdict(candidate, baseline)
    reason = precondition(criteria, baseline, others=bool(extra))
    if reason is not None:
        return verdict.cannot(reason)
    try:
        gate = _Gate(criteria, alpha, _items(run, candidate), comparison, formats)
        _check_baseline(configured(criteria), run, baseline, comparison)
        checks = [check for name in configured(criteria) for check in gate.check(name)]
        checks += extra
    except _CannotRun as exc:
        return verdict.cannot(str(exc))
    status: GateStatus = "pass" if all(check.passed for check in checks) else "fail"
    return GateVerdict(status, candidate, baseline, tuple(checks))


def precondition(
    criteria: GateCriteria, baseline: str | None, *, others: bool = False
) -> str | None:
    """Why the gate cannot run whatever a run would show (checked before any call): no
    criterion at all (``others``: checks made outside the run count), or a criterion that
    compares with no baseline to compare with."""
    names = configured(criteria)
    if not names and not others:
        return "the gate has no criteria (set them in the suite's `gate:` block or with flags)"
    needed = [name for name in names if name in NEEDS_BASELINE]
    if needed and baseline is None:
        return f"{' and '.join(needed)} need a baseline (--baseline)"
    return None


class _Verdict:
    def __init__(self, candidate: str, baseline: str | None) -> None:
        self.candidate, self.baseline = candidate, baseline

    def cannot(self, reason: str) -> GateVerdict:
        return GateVerdict("cannot run", self.candidate, self.baseline, reason=reason)


def _items(run: RunResult | None, label: str) -> tuple[ItemResult, ...]:
    """The side's items, refused when there are none or too many errored."""
    if run is None:
        raise _CannotRun(f"no run of `{label}` to measure")
    items = run.for_target(label)
    if not items:
        known = ", ".join(t.label for t in run.targets)
        raise _CannotRun(f"run {run.run_id} has no items of `{label}` (its targets: {known})")
    errored = [item for item in items if item.is_error]
    if len(errored) == len(items):
        raise _CannotRun(
            f"provider down: every one of the {len(items)} items of `{label}` errored "
            f"(first: {_error(errored[0])})"
        )
    if len(errored) > MAX_ERROR_SHARE * len(items):
        raise _CannotRun(
            f"{len(errored)} of the {len(items)} items of `{label}` errored, more than "
            f"{MAX_ERROR_SHARE:.0%} (first: {_error(errored[0])}); too many to decide on"
        )
    return items


def _error(item: ItemResult) -> str:
    grade_error = next((g.error for g in item.grades if g.error is not None), None)
    return f"{item.case_id}: {item.error or grade_error}"


def _check_baseline(
    names: Sequence[str], run: RunResult | None, baseline: str | None, comparison: Comparison | None
) -> None:
    needed = [name for name in names if name in NEEDS_BASELINE]
    if not needed or baseline is None:  # precondition() refused a missing baseline
        return
    _items(run, baseline)
    if comparison is None:
        raise _CannotRun(f"{' and '.join(needed)} need a comparison with `{baseline}`")


class _Gate:
    """Measures each criterion on the candidate's items."""

    def __init__(
        self,
        criteria: GateCriteria,
        alpha: float,
        items: Sequence[ItemResult],
        comparison: Comparison | None,
        formats: Formats | None,
    ) -> None:
        self.criteria = criteria
        self.alpha = alpha
        self.items = items
        self.answered = [i for i in items if not i.is_error and i.output is not None]
        self.comparison = comparison
        self.formats = formats
        self.level = f"{1 - alpha:.0%}"
        self._checks: Mapping[str, Callable[[], list[GateCheck]]] = {
            "min_pass_rate": self.pass_rate,
            "min_score": self.score,
            "no_regression": self.no_regression,
            "max_cost_per_call_usd": self.cost_per_call,
            "max_cost_ratio": self.cost_ratio,
            "max_latency_p95_ms": self.latency,
            "max_refusal_rate": self.refusals,
            "min_format_compliance": self.format_compliance,
        }

    def check(self, name: str) -> list[GateCheck]:
        return self._checks[name]()

    def pass_rate(self) -> list[GateCheck]:
        limit = _set(self.criteria.min_pass_rate)
        passed = sum(1 for item in self.items if item.passed)
        return [self._rate("min_pass_rate", "pass rate", passed, len(self.items), limit, True)]

    def score(self) -> list[GateCheck]:
        limit = _set(self.criteria.min_score)
        mean = sum(item.score for item in self.items) / len(self.items)
        held = _at_most(limit, mean)
        line = f"mean score {mean:.3f} {'≥' if held else '<'} {limit:.3f} ({self._n()})"
        return [GateCheck("min_score", held, line, mean, limit)]

    def no_regression(self) -> list[GateCheck]:
        assert self.comparison is not None  # _check_baseline made sure
        comparison = self.comparison
        missing = [m for m in self.criteria.no_regression if comparison.metric(m) is None]
        if missing:
            have = ", ".join(m.metric for m in comparison.metrics) or "none"
            raise _CannotRun(
                f"no_regression: the comparison has no metric {', '.join(map(repr, missing))} "
                f"(it has: {have})"
            )
        return [
            self._noninferior(metric)
            for name in self.criteria.no_regression
            if (metric := comparison.metric(name)) is not None
        ]

    def _noninferior(self, m: MetricComparison) -> GateCheck:
        margin = self.criteria.margin
        if m.ci_low is None or m.ci_high is None:
            raise _CannotRun(f"no_regression: `{m.metric}` has no confidence interval")
        head = (
            f"{m.metric}: candidate {fmt_value(m, m.candidate)} vs baseline "
            f"{fmt_value(m, m.baseline)}, delta {fmt_kind_delta(m.kind, m.delta)}, "
            f"{self.level} CI {fmt_ci(m)} (n={m.n})"
        )
        if m.higher_is_better:
            held = noninferior(m.ci_low, margin)
            bound, limit = m.ci_low, -margin
            side, where = "lower", ("at or above" if held else "below")
        else:
            held = noninferior(-m.ci_high, margin)
            bound, limit = m.ci_high, margin
            side, where = "upper", ("at or below" if held else "above")
        tail = "non-inferior" if held else "a regression beyond the margin is not ruled out"
        line = f"{head}; {side} bound {where} {fmt_kind_delta(m.kind, limit)} ({tail})"
        return GateCheck(f"no_regression:{m.metric}", held, line, bound, limit)

    def cost_per_call(self) -> list[GateCheck]:
        limit = _set(self.criteria.max_cost_per_call_usd)
        costs = [item.output.cost_usd for item in self.answered if item.output is not None]
        mean = sum(costs) / len(costs)
        held = _at_most(mean, limit)
        line = (
            f"cost per call {fmt_usd(mean)} {'≤' if held else '>'} {fmt_usd(limit)} "
            f"(mean of {len(costs)} answers)"
        )
        return [GateCheck("max_cost_per_call_usd", held, line, mean, limit)]

    def cost_ratio(self) -> list[GateCheck]:
        limit = _set(self.criteria.max_cost_ratio)
        assert self.comparison is not None  # _check_baseline made sure
        ratio = cost_ratio(self.comparison)
        cost = self.comparison.metric("cost_per_call")
        if ratio is None or cost is None:
            raise _CannotRun(
                "max_cost_ratio: the baseline's cost per call is $0 or was not compared "
                "(fewer than two paired answers)"
            )
        held = _at_most(ratio, limit)
        line = (
            f"cost per call {fmt_usd(cost.candidate)} = {ratio:.2f}x the baseline's "
            f"{fmt_usd(cost.baseline)} (limit {limit:.2f}x, n={cost.n})"
        )
        return [GateCheck("max_cost_ratio", held, line, ratio, limit)]

    def latency(self) -> list[GateCheck]:
        limit = _set(self.criteria.max_latency_p95_ms)
        called = [
            item.output.latency_ms
            for item in self.answered
            if item.output is not None and not item.output.cached
        ]
        if not called:
            raise _CannotRun(
                "max_latency_p95_ms: every answer of the candidate came from the eval cache "
                "(no call, no latency): run with --no-cache"
            )
        p95 = quantile(called, 0.95)
        held = _at_most(p95, limit)
        line = (
            f"latency p95 {fmt_ms(p95)} {'≤' if held else '>'} {fmt_ms(limit)} "
            f"({len(called)} calls)"
        )
        return [GateCheck("max_latency_p95_ms", held, line, p95, limit)]

    def refusals(self) -> list[GateCheck]:
        limit = _set(self.criteria.max_refusal_rate)
        refused = sum(1 for i in self.answered if i.output is not None and is_refusal(i.output))
        n = len(self.answered)
        return [self._rate("max_refusal_rate", "refusal rate", refused, n, limit, False)]

    def format_compliance(self) -> list[GateCheck]:
        limit = _set(self.criteria.min_format_compliance)
        if self.formats is None:
            raise _CannotRun(
                "min_format_compliance: the requests' formats are not known for this run "
                "(run it from its suite)"
            )
        verdicts = [
            format_ok(item.output, self.formats.get(item.case_id))
            for item in self.answered
            if item.output is not None
        ]
        judged = [ok for ok in verdicts if ok is not None]
        if not judged:
            raise _CannotRun(
                "min_format_compliance: no answer of the candidate was asked for a format "
                "(response_format json_object or json_schema)"
            )
        good = sum(judged)
        name = "format compliance"
        return [self._rate("min_format_compliance", name, good, len(judged), limit, True)]

    def _rate(
        self, criterion: str, name: str, k: int, n: int, limit: float, at_least: bool
    ) -> GateCheck:
        """A rate held to a floor (``at_least``) or a ceiling: the point estimate decides; the
        Wilson interval is shown."""
        rate = k / n
        held = _at_most(limit, rate) if at_least else _at_most(rate, limit)
        sign = ("≥" if held else "<") if at_least else ("≤" if held else ">")
        ci = wilson_interval(k, n, 1 - self.alpha)
        line = (
            f"{name} {fmt_pct(rate)} ({k} of {n}; Wilson {self.level} "
            f"[{fmt_pct(ci.low)}, {fmt_pct(ci.high)}]) {sign} {fmt_pct(limit)}"
        )
        if criterion == "min_pass_rate" and (errors := self._errors()):
            line += f"; {errors} errored counted as failed"
        return GateCheck(criterion, held, line, rate, limit)

    def _errors(self) -> int:
        return sum(1 for item in self.items if item.is_error)

    def _n(self) -> str:
        errors = self._errors()
        text = f"{len(self.items)} items"
        return f"{text}, {errors} errored scored 0" if errors else text


def error_budget_check(
    slo: str, remaining: float, bad: int, total: int, objective: float, window: str
) -> GateCheck:
    """A quality SLO's error budget held against exhaustion: ``remaining`` is the share of the
    window's budget left (1 untouched, 0 or below spent; budgeting by occurrences)."""
    held = remaining > 0.0
    allowed = (1.0 - objective) * total
    line = (
        f"error budget of SLO {slo}: {fmt_pct(max(remaining, -9.99))} left "
        f"({bad} bad of {total} events over {window}, {allowed:.1f} allowed at "
        f"{fmt_pct(objective)}){'' if held else ': exhausted'}"
    )
    return GateCheck(f"error_budget:{slo}", held, line, remaining, 0.0)


def _at_most(value: float, limit: float) -> bool:
    """``value <= limit``, a value equal to the limit but for float rounding included (a mean
    of 0.6, 0.7 and 0.8 meets a floor of 0.7)."""
    return value <= limit or math.isclose(value, limit, rel_tol=1e-9, abs_tol=1e-12)


def _set(value: float | None) -> float:
    assert value is not None  # only configured criteria are checked
    return value
