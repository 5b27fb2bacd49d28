"""A stage's criteria judged from what each arm did over the same window: pure functions over
counts and samples (the controller reads them from the ledger).

Each metric compares the candidate with the control and gets one of three verdicts:

* ``worse``: the 95 % confidence interval shows the candidate worse than the control by more
  than the criterion's margin (its whole interval lies beyond it);
* ``not worse``: the interval rules that out (non-inferiority, :func:`daytwo.stats.noninferior`:
  the burden of proof is on the candidate, so a small sample is never ``not worse``);
* ``unsure``: neither yet.

Metrics: the error rate (errors of answered-or-failed calls; Newcombe's interval of the
difference, margin ``max_error_increase``), the refusal rate and every other failing online
check (``refusal`` ... ``language`` with value 0, ``judge:*`` labelled ``fail``; margin
``max_refusal_increase``), the p95 latency and the mean cost per call as ratios to the
control's (bootstrap intervals of the difference over the control's point value; limits
``max_latency_ratio`` and ``max_cost_ratio``), the burn of each quality SLO in scope
(``worse`` only when the candidate burns faster than the control with 95 % confidence *and*
even its Wilson lower bound spends the budget faster than the period allows), and, in a
shadow stage, the pairwise judge's verdicts on the shadow pairs (the candidate's loss share
minus its win share; Tango's interval for two rates of the same pairs, margin
``max_pairwise_loss``). A metric with nothing to compare on either side is left out.

Metrics measured on every call *gate* a stage: errors, refusals, truncations, latency, cost.
The others *guard* it: checks only some calls get (format, tool calls, language), sampled
judges, the pairwise judge and SLO burn. A stage *fails* when any metric is ``worse``,
*passes* when every gate is ``not worse``, and is undecided otherwise. Every verdict comes
with its evidence line, for people (docs/rollouts.md shows them).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from decimal import Decimal
from typing import Literal

from daytwo.rollout.model import Criteria, Rollout
from daytwo.stats.proportions import (
    paired_difference_interval,
    two_proportion_test,
    wilson_lower,
)

Verdict = Literal["worse", "not worse", "unsure"]
Outcome = Literal["pass", "fail", "undecided"]

#: Bootstrap resamples per interval: the controller judges often, and 2,000 resamples give a
#: 95 % interval's ends to within about a percent of 10,000's at a fifth of the cost.
RESAMPLES = 2_000
#: The checks whose value 0 is a failed answer (docs/quality.md), with the words for them.
CHECKS: Mapping[str, str] = {
    "refusal": "refusals",
    "format": "invalid formats",
    "truncation": "truncations",
    "tool_call": "invalid tool calls",
    "language": "language mismatches",
}
#: The checks written for every answered call: they gate a stage. The others (only some
#: calls have a format, tool calls or a language to tell; judges are sampled) guard it.
EVERY_CALL = frozenset({"refusal", "truncation"})
JUDGE_PREFIX = "judge:"
#: The pairwise judge's evaluator (``quality.pairwise.EVALUATOR``, spelled out: this room does
#: not import the quality room; a test checks they agree): 1 the candidate's answer is better,
#: 0.5 a tie, 0 the control's.
PAIRWISE = "pairwise"


@dataclass(frozen=True, slots=True)
class ArmSample:
    """What one arm did in the window."""

    #: Calls answered or failed upstream (``ok`` and ``error``; refused by policy and
    #: cancelled by the client are neither arm's doing) and the failed ones.
    calls: int = 0
    errors: int = 0
    #: Answered calls' latencies (ms) and priced answered calls' costs (USD).
    latencies_ms: tuple[float, ...] = ()
    costs_usd: tuple[float, ...] = ()
    #: Evaluator → (failed, scored): the online checks and judges.
    checks: Mapping[str, tuple[int, int]] = field(default_factory=dict)
    #: The candidate's shadow pairs as the pairwise judge saw them: (better, tie, worse).
    pairwise: tuple[int, int, int] = (0, 0, 0)


@dataclass(frozen=True, slots=True)
class SloSample:
    """A quality SLO's bad and total events per arm in the window."""

    name: str
    objective: float
    candidate: tuple[int, int]
    control: tuple[int, int]


@dataclass(frozen=True, slots=True)
class Check:
    metric: str
    verdict: Verdict
    line: str
    #: A gate must be ``not worse`` for the stage to pass; a guard only fails it when
    #: ``worse`` (a metric seen on a few calls would otherwise hold every stage up).
    gates: bool = True


@dataclass(frozen=True, slots=True)
class Judgement:
    outcome: Outcome
    checks: tuple[Check, ...]

    @property
    def lines(self) -> tuple[str, ...]:
        return tuple(c.line for c in self.checks)

    @property
    def failed(self) -> tuple[Check, ...]:
        return tuple(c for c in self.checks if c.verdict == "worse")


def waiting_for(rollout: Rollout, candidate_calls: int, now: float) -> str | None:
    """What the stage still needs before it is judged (its duration, its calls), or None."""
    c = rollout.criteria
    left = rollout.stage_started_at + c.min_duration_s - now
    if left > 0:
        return f"{left:.0f} s more of {rollout.current}"
    if candidate_calls < c.min_calls:
        return f"{c.min_calls - candidate_calls} more candidate calls (has {candidate_calls})"
    return None


def judge(
    candidate: ArmSample,
    control: ArmSample,
    criteria: Criteria,
    slos: Sequence[SloSample] = (),
) -> Judgement:
    """Every metric's verdict, and the stage's outcome."""
    checks: list[Check] = []
    if candidate.calls or control.calls:
        checks.append(
            rate_check(
                "errors",
                (candidate.errors, candidate.calls),
                (control.errors, control.calls),
                criteria.max_error_increase,
            )
        )
    for evaluator in sorted({*candidate.checks, *control.checks}):
        check = rate_check(
            CHECKS.get(evaluator, f"{evaluator} fails"),
            candidate.checks.get(evaluator, (0, 0)),
            control.checks.get(evaluator, (0, 0)),
            criteria.max_refusal_increase,
        )
        checks.append(replace(check, gates=evaluator in EVERY_CALL))
    latency = ratio_check(
        "latency p95",
        control.latencies_ms,
        candidate.latencies_ms,
        criteria.max_latency_ratio,
        quantile=0.95,
    )
    cost = ratio_check(
        "cost per call", control.costs_usd, candidate.costs_usd, criteria.max_cost_ratio
    )
    checks += [c for c in (latency, cost) if c is not None]
    pairs = pairwise_check(*candidate.pairwise, criteria.max_pairwise_loss)
    if pairs is not None:
        checks.append(pairs)
    checks += [c for c in (slo_check(s) for s in slos) if c is not None]
    return Judgement(_outcome(checks), tuple(checks))


def _outcome(checks: Sequence[Check]) -> Outcome:
    if any(c.verdict == "worse" for c in checks):
        return "fail"
    gates = [c for c in checks if c.gates]
    if gates and all(c.verdict == "not worse" for c in gates):
        return "pass"
    return "undecided"


def rate_check(
    name: str, candidate: tuple[int, int], control: tuple[int, int], margin: float
) -> Check:
    """A bad rate (errors, refusals) the candidate may raise by at most ``margin`` (absolute),
    by Newcombe's 95 % interval of ``candidate - control``."""
    (x1, n1), (x2, n2) = candidate, control
    if n1 == 0 or n2 == 0:
        side = "candidate" if n1 == 0 else "control"
        return Check(name, "unsure", f"{name}: none measured on the {side} yet: unsure")
    d = two_proportion_test(x1, n1, x2, n2).difference
    verdict = _verdict(d.low, d.high, margin)
    line = (
        f"{name} {_pct(x2 / n2)} → {_pct(x1 / n1)} ({_pt(d.estimate)} pt, 95% CI "
        f"{_pt(d.low)}–{_pt(d.high)}, margin {margin * 100:.1f} pt): {verdict}"
    )
    return Check(name, verdict, line)


def ratio_check(
    name: str,
    control: Sequence[float],
    candidate: Sequence[float],
    limit: float,
    *,
    quantile: float | None = None,
) -> Check | None:
    """The candidate's mean (or ``quantile``) as a ratio to the control's, which may reach
    ``limit``: the bootstrap interval of the difference, over the control's point value.
    None when neither arm has a value, or the control's is zero (no ratio to speak of)."""
    if not control and not candidate:
        return None
    if len(control) < 2 or len(candidate) < 2:
        side = "candidate" if len(candidate) < 2 else "control"
        return Check(name, "unsure", f"{name}: under 2 values on the {side} yet: unsure")
    from daytwo.stats.bootstrap import (  # scipy: loaded when first needed
        quantile as point,
    )
    from daytwo.stats.bootstrap import (
        unpaired_bootstrap,
        unpaired_quantile_differences,
    )

    if quantile is None:
        base = math.fsum(control) / len(control)
        d = unpaired_bootstrap(control, candidate, n_resamples=RESAMPLES)
        show = _usd
    else:
        base = point(control, quantile)
        (d,) = unpaired_quantile_differences(control, candidate, (quantile,), n_resamples=RESAMPLES)
        show = _ms
    if base <= 0.0:
        return None
    # A ratio of non-negative values is not below 0, whatever a wide interval's end says.
    low, high, estimate = (max(0.0, 1.0 + x / base) for x in (d.low, d.high, d.estimate))
    verdict = _verdict(low, high, limit)
    line = (
        f"{name} {show(base)} → {show(base + d.estimate)} (×{estimate:.2f}, 95% CI "
        f"×{low:.2f}–×{high:.2f}, limit ×{limit:.2f}): {verdict}"
    )
    return Check(name, verdict, line)


def pairwise_check(better: int, tie: int, worse: int, margin: float) -> Check | None:
    """The pairwise judge's verdicts on the shadow pairs: the candidate's loss share minus its
    win share may be at most ``margin`` (absolute), by Tango's 95 % interval for two rates of
    the same pairs (:func:`daytwo.stats.paired_difference_interval`). A guard. None without
    judged pairs (a canary stage has none)."""
    n = better + tie + worse
    if n == 0:
        return None
    d = paired_difference_interval(worse, better, n)
    verdict = _verdict(d.low, d.high, margin)
    line = (
        f"pairwise judge {better} better, {tie} tie, {worse} worse of {n} pairs (candidate "
        f"not worse on {_pct((better + tie) / n)}; losses − wins {_pt(d.estimate)} pt, 95% CI "
        f"{_pt(d.low)}–{_pt(d.high)}, margin {margin * 100:.1f} pt): {verdict}"
    )
    return Check(PAIRWISE, verdict, line, gates=False)


def slo_check(slo: SloSample) -> Check | None:
    """A quality SLO's burn: ``worse`` when the candidate's bad rate is above the control's
    with 95 % confidence and its Wilson lower bound burns faster than 1 (the budget would not
    last the period); else ``not worse``. None without events on both arms."""
    (b1, n1), (b2, n2) = slo.candidate, slo.control
    if n1 == 0 or n2 == 0:
        return None
    budget = 1.0 - slo.objective
    d = two_proportion_test(b1, n1, b2, n2).difference
    faster = d.low > 0.0 and wilson_lower(b1, n1) / budget > 1.0
    verdict: Verdict = "worse" if faster else "not worse"
    line = (
        f"SLO {slo.name} burn ×{b2 / n2 / budget:.2f} → ×{b1 / n1 / budget:.2f} (bad "
        f"{_pct(b2 / n2)} → {_pct(b1 / n1)}, 95% CI {_pt(d.low)}–{_pt(d.high)} pt, budget "
        f"{budget * 100:.1f}%): {verdict}"
    )
    return Check(f"slo:{slo.name}", verdict, line, gates=False)


def _verdict(low: float, high: float, limit: float) -> Verdict:
    """The interval ``[low, high]`` of a lower-is-better quantity against the most it may
    reach: wholly beyond it, wholly within it (non-inferiority, as
    :func:`daytwo.stats.noninferior` with ``-high``), or across it."""
    if low > limit:
        return "worse"
    if high <= limit:
        return "not worse"
    return "unsure"


def _pct(x: float) -> str:
    return f"{x * 100:.1f}%"


def _pt(x: float) -> str:
    return f"{x * 100:+.1f}"


def _ms(x: float) -> str:
    return f"{x:,.0f} ms"


def _usd(x: float) -> str:
    """Three significant digits in plain decimals, at least cents ($0.0000123, $0.0150,
    $2.50, $1,234.57)."""
    if x <= 0.0:
        return "$0"
    if x >= 1.0:
        return f"${x:,.2f}"
    return f"${Decimal(f'{x:.2e}'):f}"
