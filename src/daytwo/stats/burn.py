"""SLO error budgets and burn-rate alerts, after the Google SRE workbook, chapter 5 "Alerting on
SLOs" (Beyer et al. 2018): pure arithmetic over counts of good and bad events.

An SLO with objective 0.999 over a 30-day period allows 0.1 % of its events to be bad: that is
its error budget. The burn rate is how fast a window spends it — the window's bad fraction over
the budget: 1 spends exactly the budget in the period, 14.4 spends 2 % of a 30-day budget in an
hour. The workbook's recommended alerting ("multiwindow, multi-burn-rate", its sixth and last
iteration) pages when both an hour and its last 5 minutes burn faster than 14.4, or 6 hours and
their last 30 minutes faster than 6, and opens a ticket when 3 days and their last 6 hours burn
faster than 1: the long window gives significance, the short one makes the alert stop soon after
the burning does.

Sampling-aware evaluation (daytwo's addition, for SLIs measured on a sample — an LLM judge that
sees one answer in twenty): a window with fewer than ``min_events`` events cannot fire, and the
burn rate is computed from the lower Wilson bound of the bad fraction instead of the fraction
itself, so a handful of failed judgements does not page anyone (Pyrra #1925, Sloth #341).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta
from typing import Literal

from daytwo.stats.proportions import wilson_lower

Severity = Literal["page", "ticket"]
#: The workbook's period for its thresholds (a 30-day rolling window).
WORKBOOK_PERIOD = timedelta(days=30)


def error_budget(objective: float) -> float:
    """The share of events allowed to be bad: ``1 - objective`` (0.001 for 99.9 %)."""
    if not 0.0 < objective < 1.0:
        raise ValueError(f"objective must be in (0, 1), got {objective}")
    return 1.0 - objective


def burn_rate(bad: int, total: int, objective: float) -> float:
    """How fast ``bad`` of ``total`` events spend the error budget: ``(bad / total) /
    (1 - objective)``. 1 spends exactly the budget over the SLO's period; a window without
    events spends nothing (0)."""
    _check_counts(bad, total)
    budget = error_budget(objective)
    return 0.0 if total == 0 else (bad / total) / budget


def budget_remaining(bad: int, total: int, objective: float) -> float:
    """The share of the period's error budget left when ``bad`` of ``total`` events over the
    period were bad (budgeting by occurrences: the budget is ``(1 - objective)·total`` bad
    events). 1 is untouched, 0 is spent, negative is overspent."""
    return 1.0 - burn_rate(bad, total, objective)


def budget_consumed(burn_rate: float, window: timedelta, period: timedelta) -> float:
    """The share of the period's budget that burning at ``burn_rate`` for ``window`` spends:
    ``burn_rate · window / period``. 14.4 for 1 h of 30 days spends 2 %; 6 for 6 h, 5 %; 1 for 3
    days, 10 % (the workbook's table)."""
    _check_span(window, "window")
    _check_span(period, "period")
    _check_rate(burn_rate)
    return burn_rate * (window / period)


def time_to_exhaustion(
    remaining_fraction: float, burn_rate: float, period: timedelta
) -> timedelta | None:
    """How long the remaining share of the budget lasts at ``burn_rate``: ``remaining · period
    / burn_rate``. A whole 30-day budget lasts 30 days at 1, 3 days at 10, 43 minutes at 1000. None
    when nothing burns (never exhausted); zero when nothing is left."""
    _check_span(period, "period")
    _check_rate(burn_rate)
    if remaining_fraction <= 0.0:
        return timedelta(0)
    if burn_rate == 0.0:
        return None
    return period * (remaining_fraction / burn_rate)


@dataclass(frozen=True, slots=True)
class BurnAlert:
    """One multiwindow alert: fires when both the long and the short window burn the budget
    faster than ``burn_rate``."""

    severity: Severity
    burn_rate: float
    long_window: timedelta
    short_window: timedelta

    def __post_init__(self) -> None:
        if self.severity not in ("page", "ticket"):
            raise ValueError(f"severity must be page or ticket, got {self.severity!r}")
        if self.burn_rate <= 0:
            raise ValueError(f"burn rate must be positive, got {self.burn_rate}")
        _check_span(self.long_window, "long window")
        _check_span(self.short_window, "short window")
        if self.short_window >= self.long_window:
            raise ValueError("the short window must be shorter than the long one")

    @classmethod
    def from_budget(
        cls,
        severity: Severity,
        consumed: float,
        long_window: timedelta,
        short_window: timedelta,
        period: timedelta = WORKBOOK_PERIOD,
    ) -> BurnAlert:
        """The alert that fires once ``consumed`` of the period's budget has been spent within
        the long window: ``burn_rate = consumed · period / long_window`` (the workbook states
        its thresholds this way; 2 % in 1 h of 30 days is 14.4)."""
        if not 0.0 < consumed <= 1.0:
            raise ValueError(f"consumed must be in (0, 1], got {consumed}")
        _check_span(period, "period")
        return cls(severity, consumed * (period / long_window), long_window, short_window)

    def budget_consumed(self, period: timedelta) -> float:
        """The share of the budget spent by the time this alert can fire: its threshold held
        over its long window."""
        return budget_consumed(self.burn_rate, self.long_window, period)


@dataclass(frozen=True, slots=True)
class BurnPolicy:
    """The alerts evaluated together on one SLO, most urgent first."""

    alerts: tuple[BurnAlert, ...]

    @property
    def windows(self) -> tuple[timedelta, ...]:
        """Every window the policy needs counts for, shortest first."""
        return tuple(sorted({w for a in self.alerts for w in (a.long_window, a.short_window)}))


def workbook_policy(period: timedelta = WORKBOOK_PERIOD) -> BurnPolicy:
    """The workbook's recommended parameters, its budget shares kept for ``period``:
    page at 2 % of the budget in 1 h (and 5 m), page at 5 % in 6 h (and 30 m), ticket at 10 % in
    3 days (and 6 h). For 30 days the thresholds are 14.4, 6 and 1; for 28 days 13.44, 5.6 and
    0.933. Other windows: build :class:`BurnAlert` values (:meth:`BurnAlert.from_budget`)."""
    hour = timedelta(hours=1)
    return BurnPolicy(
        alerts=(
            BurnAlert.from_budget("page", 0.02, hour, timedelta(minutes=5), period),
            BurnAlert.from_budget("page", 0.05, 6 * hour, timedelta(minutes=30), period),
            BurnAlert.from_budget("ticket", 0.10, timedelta(days=3), 6 * hour, period),
        )
    )


@dataclass(frozen=True, slots=True)
class WindowBurn:
    """One window's counts and what was made of them: ``burn_rate`` is what the alert
    compares (the Wilson lower bound's when sampling-aware, else the point estimate's),
    ``point_burn_rate`` the point estimate's, ``enough_events`` whether the window holds at
    least ``min_events`` events."""

    window: timedelta
    bad: int
    total: int
    burn_rate: float
    point_burn_rate: float
    enough_events: bool


@dataclass(frozen=True, slots=True)
class AlertCheck:
    """One alert of the policy against the windows' counts."""

    alert: BurnAlert
    long: WindowBurn
    short: WindowBurn

    @property
    def firing(self) -> bool:
        """Both windows have enough events and burn faster than the alert's threshold."""
        return all(
            w.enough_events and w.burn_rate > self.alert.burn_rate for w in (self.long, self.short)
        )


@dataclass(frozen=True, slots=True)
class BurnEvaluation:
    """Every alert of a policy checked; ``severity`` is the most urgent one firing."""

    checks: tuple[AlertCheck, ...]

    @property
    def firing(self) -> tuple[BurnAlert, ...]:
        """The alerts that fire, in the policy's order."""
        return tuple(c.alert for c in self.checks if c.firing)

    @property
    def severity(self) -> Severity | None:
        """``page`` if any page fires, else ``ticket`` if a ticket does, else None."""
        severities = {a.severity for a in self.firing}
        if "page" in severities:
            return "page"
        return "ticket" if severities else None


def evaluate_burn(
    windows: Mapping[timedelta, tuple[int, int]],
    objective: float,
    policy: BurnPolicy,
    *,
    min_events: int,
    sampling_aware: bool = True,
    confidence: float = 0.95,
) -> BurnEvaluation:
    """Which of ``policy``'s alerts fire, from ``(bad, total)`` event counts per window.

    An alert fires when its long and its short window each hold at least ``min_events``
    events and each burn faster than its threshold (strictly, as the workbook's ``>``). With
    ``sampling_aware`` a window's burn rate is that of the lower bound of the two-sided Wilson
    interval of its bad fraction at ``confidence`` (a one-sided bound at ``(1 + confidence) /
    2``); without, of the fraction itself — the workbook's rule, which ``min_events=0`` and
    ``sampling_aware=False`` reproduce exactly. ``min_events`` applies either way.
    """
    if min_events < 0:
        raise ValueError(f"min_events must be >= 0, got {min_events}")
    budget = error_budget(objective)
    burns: dict[timedelta, WindowBurn] = {}
    for window in policy.windows:
        if window not in windows:
            raise ValueError(f"no counts for the {_label(window)} window")
        bad, total = windows[window]
        point = burn_rate(bad, total, objective)
        rate = point
        if sampling_aware and total > 0:
            rate = wilson_lower(bad, total, confidence) / budget
        burns[window] = WindowBurn(window, bad, total, rate, point, total >= min_events)
    return BurnEvaluation(
        checks=tuple(
            AlertCheck(alert, burns[alert.long_window], burns[alert.short_window])
            for alert in policy.alerts
        )
    )


def _check_counts(bad: int, total: int) -> None:
    if total < 0 or not 0 <= bad <= total:
        raise ValueError(f"bad events must be in [0, total], got bad={bad}, total={total}")


def _check_rate(burn_rate: float) -> None:
    # parameters named burn_rate shadow burn_rate() in functions that never call it
    if burn_rate < 0:
        raise ValueError(f"burn rate must be >= 0, got {burn_rate}")


def _check_span(span: timedelta, name: str) -> None:
    if span <= timedelta(0):
        raise ValueError(f"the {name} must be positive, got {span}")


def _label(window: timedelta) -> str:
    """5m, 1h, 3d: the way alerting rules name windows."""
    seconds = int(window.total_seconds())
    for unit, size in (("d", 86_400), ("h", 3_600), ("m", 60)):
        if seconds % size == 0:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"
