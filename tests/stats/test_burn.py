"""Error budgets and burn rates: the SRE workbook's tables reproduced, the multiwindow policy
evaluated, and the sampling-aware evaluator (minimum events, Wilson lower bound) checked against
the plain one and against a sampled judge's noise."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

import numpy as np
import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from daytwo.stats import (
    BurnAlert,
    BurnPolicy,
    budget_consumed,
    budget_remaining,
    burn_rate,
    error_budget,
    evaluate_burn,
    time_to_exhaustion,
    wilson_lower,
    workbook_policy,
)

HOUR, DAY, MINUTE = timedelta(hours=1), timedelta(days=1), timedelta(minutes=1)
THIRTY_DAYS = 30 * DAY


# Google SRE workbook, "Alerting on SLOs", the recommended multiwindow, multi-burn-rate
# parameters: severity, long window, short window, burn rate, error budget consumed.
WORKBOOK_RECOMMENDED = [
    ("page", HOUR, 5 * MINUTE, 14.4, 0.02),
    ("page", 6 * HOUR, 30 * MINUTE, 6.0, 0.05),
    ("ticket", 3 * DAY, 6 * HOUR, 1.0, 0.10),
]


@pytest.mark.parametrize(("severity", "long", "short", "rate", "consumed"), WORKBOOK_RECOMMENDED)
def test_budget_consumed_reproduces_the_workbook_s_table(
    severity: str, long: timedelta, short: timedelta, rate: float, consumed: float
) -> None:
    assert budget_consumed(rate, long, THIRTY_DAYS) == pytest.approx(consumed, rel=1e-12)


def test_the_workbook_policy_is_the_workbook_s_table() -> None:
    policy = workbook_policy()
    assert len(policy.alerts) == len(WORKBOOK_RECOMMENDED)
    for alert, (severity, long, short, rate, consumed) in zip(
        policy.alerts, WORKBOOK_RECOMMENDED, strict=True
    ):
        assert (alert.severity, alert.long_window, alert.short_window) == (severity, long, short)
        assert alert.burn_rate == pytest.approx(rate, rel=1e-12)
        assert alert.budget_consumed(THIRTY_DAYS) == pytest.approx(consumed, rel=1e-12)
    assert policy.windows == (5 * MINUTE, 30 * MINUTE, HOUR, 6 * HOUR, 3 * DAY)


def test_the_budget_shares_carry_over_to_a_28_day_period() -> None:
    rates = [a.burn_rate for a in workbook_policy(28 * DAY).alerts]
    assert rates == pytest.approx([13.44, 5.6, 28 / 30])


@pytest.mark.parametrize(
    ("rate", "error_rate", "lasts"),
    [
        # the workbook's table of burn rates and time to exhaustion for a 99.9 % SLO, 30 days
        (1.0, 0.001, THIRTY_DAYS),
        (2.0, 0.002, 15 * DAY),
        (10.0, 0.01, 3 * DAY),
        (1000.0, 1.0, timedelta(minutes=43, seconds=12)),
    ],
)
def test_time_to_exhaustion_reproduces_the_workbook_s_table(
    rate: float, error_rate: float, lasts: timedelta
) -> None:
    # the error rate that burns at this rate: rate x budget
    assert burn_rate(round(error_rate * 1_000_000), 1_000_000, 0.999) == pytest.approx(rate)
    assert time_to_exhaustion(1.0, rate, THIRTY_DAYS) == lasts


def test_the_budget_arithmetic() -> None:
    assert error_budget(0.999) == pytest.approx(0.001)
    assert burn_rate(0, 0, 0.99) == 0.0
    assert burn_rate(5, 1000, 0.99) == pytest.approx(0.5)
    assert budget_remaining(5, 1000, 0.99) == pytest.approx(0.5)
    assert budget_remaining(30, 1000, 0.99) == pytest.approx(-2.0)
    # half the budget left at a burn of 2 lasts a quarter of the period
    assert time_to_exhaustion(0.5, 2.0, THIRTY_DAYS) == timedelta(days=7, hours=12)
    assert time_to_exhaustion(0.5, 0.0, THIRTY_DAYS) is None
    assert time_to_exhaustion(-0.1, 3.0, THIRTY_DAYS) == timedelta(0)


def counts(
    rates: dict[timedelta, float], events: int | dict[timedelta, int]
) -> dict[timedelta, tuple[int, int]]:
    """(bad, total) per window from a bad fraction and an event count."""
    totals = events if isinstance(events, dict) else dict.fromkeys(rates, events)
    return {w: (round(rates[w] * totals[w]), totals[w]) for w in rates}


def all_windows(rate: float) -> dict[timedelta, float]:
    return dict.fromkeys(workbook_policy().windows, rate)


def test_a_fast_burn_pages_only_while_the_short_window_still_burns() -> None:
    policy = workbook_policy()
    # 99.9 %: a 2 % error rate is a burn of 20 in every window of the last hour
    burning = all_windows(0.0) | {HOUR: 0.02, 5 * MINUTE: 0.02}
    result = evaluate_burn(counts(burning, 100_000), 0.999, policy, min_events=100)
    assert result.firing == (policy.alerts[0],)
    assert result.severity == "page"
    # the incident is over: the hour still shows it, the last 5 minutes do not
    over = burning | {5 * MINUTE: 0.0}
    result = evaluate_burn(counts(over, 100_000), 0.999, policy, min_events=100)
    assert result.firing == ()
    assert result.severity is None


def test_a_slow_burn_opens_a_ticket_not_a_page() -> None:
    policy = workbook_policy()
    result = evaluate_burn(counts(all_windows(0.002), 100_000), 0.999, policy, min_events=100)
    assert [a.severity for a in result.firing] == ["ticket"]
    assert result.severity == "ticket"
    check = result.checks[2]
    assert check.long.point_burn_rate == pytest.approx(2.0)
    assert 1.0 < check.long.burn_rate < 2.0  # the Wilson lower bound, a little below the point


def test_the_threshold_itself_does_not_fire() -> None:
    # exactly a burn of 6 on 6 h and 30 m, point estimate: the workbook's ">" is strict
    windows = counts(all_windows(0.006), 1_000_000)
    policy = BurnPolicy(alerts=(workbook_policy().alerts[1],))
    plain = evaluate_burn(windows, 0.999, policy, min_events=0, sampling_aware=False)
    assert plain.checks[0].long.burn_rate == pytest.approx(6.0)
    assert not plain.checks[0].firing


def test_a_sampled_judge_with_too_few_events_does_not_page() -> None:
    # Judge pass rate SLO 98 %; the judge saw 4 answers in the last 5 minutes and failed 2:
    # a point burn of 25 on the short window, and on the long one (20 bad of 40 answers).
    policy = workbook_policy()
    windows = counts(all_windows(0.0), 2000) | {HOUR: (20, 40), 5 * MINUTE: (2, 4)}
    plain = evaluate_burn(windows, 0.98, policy, min_events=0, sampling_aware=False)
    assert plain.severity == "page"
    guarded = evaluate_burn(windows, 0.98, policy, min_events=10)
    assert guarded.severity is None
    short = guarded.checks[0].short
    assert (short.enough_events, short.point_burn_rate) == (False, pytest.approx(25.0))
    # with enough judged events the same rates do page, Wilson bound and all
    windows |= {5 * MINUTE: (10, 20)}
    assert evaluate_burn(windows, 0.98, policy, min_events=10).severity == "page"


def test_the_wilson_bound_keeps_a_small_sample_from_paging() -> None:
    # 99 %, fast page at 14.4: 3 bad of 20 judged is a point burn of 15, but a true rate as
    # low as 5 % (a burn of 5) is consistent with it.
    policy = BurnPolicy(alerts=(workbook_policy().alerts[0],))
    windows = {HOUR: (3, 20), 5 * MINUTE: (3, 20)}
    plain = evaluate_burn(windows, 0.99, policy, min_events=20, sampling_aware=False)
    aware = evaluate_burn(windows, 0.99, policy, min_events=20)
    assert plain.severity == "page"
    assert aware.severity is None
    assert aware.checks[0].long.burn_rate == pytest.approx(wilson_lower(3, 20) / 0.01)


def page_rate(bad_rate: float, sampling_aware: bool, runs: int = 2000) -> float:
    """How often a judge SLO of 95 % pages (threshold 2, on 1 h and 5 m) when the judge sees 60
    answers an hour, the last 10 of them in the 5-minute window, and the true bad rate is
    ``bad_rate``."""
    rng = np.random.default_rng(41)
    policy = BurnPolicy(alerts=(BurnAlert("page", 2.0, HOUR, 5 * MINUTE),))
    pages = 0
    for _ in range(runs):
        short = int(rng.binomial(10, bad_rate))
        windows = {HOUR: (short + int(rng.binomial(50, bad_rate)), 60), 5 * MINUTE: (short, 10)}
        result = evaluate_burn(windows, 0.95, policy, min_events=10, sampling_aware=sampling_aware)
        pages += result.severity == "page"
    return pages / runs


def test_sampling_aware_pages_far_less_on_noise_and_still_on_a_real_burn() -> None:
    # A true burn of 1.5 (7.5 % bad) is below the threshold: nothing to page about.
    plain, aware = page_rate(0.075, False), page_rate(0.075, True)
    assert plain > 0.04  # 10 judged answers with 2 bad look like a burn of 4
    assert aware < plain / 10
    # A true burn of 6 (30 % bad) is worth a page: the bound still finds most of them.
    assert page_rate(0.3, True) > 0.55


@given(
    st.floats(0.0, 0.05),
    st.floats(0.0, 0.05),
    st.sampled_from([0.99, 0.995, 0.999]),
)
def test_with_large_counts_the_sampling_aware_evaluator_agrees_with_the_plain_one(
    long_rate: float, short_rate: float, objective: float
) -> None:
    policy = workbook_policy()
    events = 10**9
    rates = dict.fromkeys(policy.windows, long_rate) | {
        a.short_window: short_rate for a in policy.alerts
    }
    windows = counts(rates, events)
    budget = 1.0 - objective
    # away from the thresholds by more than the interval's width (about 2e-5 at 1e9 events)
    thresholds = [a.burn_rate * budget for a in policy.alerts]
    assume(all(abs(r - t) >= 1e-4 for r in (long_rate, short_rate) for t in thresholds))
    plain = evaluate_burn(windows, objective, policy, min_events=1000, sampling_aware=False)
    aware = evaluate_burn(windows, objective, policy, min_events=1000)
    assert aware.firing == plain.firing
    for a, p in zip(aware.checks, plain.checks, strict=True):
        assert a.long.burn_rate == pytest.approx(p.long.burn_rate, rel=1e-2, abs=1e-2)


@pytest.mark.parametrize(
    ("call", "match"),
    [
        (lambda: error_budget(1.0), "objective"),
        (lambda: burn_rate(5, 4, 0.99), "bad events"),
        (lambda: burn_rate(-1, 4, 0.99), "bad events"),
        (lambda: budget_consumed(-1.0, HOUR, THIRTY_DAYS), "burn rate"),
        (lambda: budget_consumed(1.0, timedelta(0), THIRTY_DAYS), "window must be positive"),
        (lambda: time_to_exhaustion(1.0, 1.0, -HOUR), "period must be positive"),
        (lambda: BurnAlert("sms", 2.0, HOUR, MINUTE), "severity"),  # type: ignore[arg-type]
        (lambda: BurnAlert("page", 0.0, HOUR, MINUTE), "burn rate"),
        (lambda: BurnAlert("page", 2.0, HOUR, HOUR), "shorter"),
        (lambda: BurnAlert.from_budget("page", 0.0, HOUR, MINUTE), "consumed"),
        (
            lambda: evaluate_burn({HOUR: (1, 10)}, 0.99, workbook_policy(), min_events=1),
            "no counts for the 5m window",
        ),
        (
            lambda: evaluate_burn({}, 0.99, workbook_policy(), min_events=-1),
            "min_events",
        ),
    ],
)
def test_bad_input_is_refused(call: Callable[[], object], match: str) -> None:
    with pytest.raises(ValueError, match=match):
        call()
