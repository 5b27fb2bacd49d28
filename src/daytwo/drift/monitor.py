"""Drift evaluation: every ``drift.interval_s``, on the one replica that holds the lease, read
the window's scores and the trailing baseline's (:mod:`daytwo.drift.scores`), compare them
(:mod:`daytwo.drift.detect`), name what else changed around the start
(:mod:`daytwo.drift.context`), and move each group's alert through the alerting room's state
machine (fires once, resolves when the window is back in line, cooldown).

:func:`find_drift` is the whole evaluation as one blocking function over a ledger store, so
tests (and ``--json`` tooling) run it without a gateway.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from daytwo.alerts.notify import iso
from daytwo.config.drift import DriftConfig
from daytwo.drift.context import Change, changes_between
from daytwo.drift.detect import (
    DistributionShift,
    RateShift,
    bad_outcomes,
    distribution_shift,
    rate_shift,
)
from daytwo.drift.scores import (
    Group,
    matches,
    read_baseline_counts,
    read_baseline_values,
    read_window,
)
from daytwo.ledger.store import LedgerStore
from daytwo.stats import Interval


@dataclass(frozen=True, slots=True)
class Finding:
    """One group and evaluator compared: moved or not."""

    group: Group
    shift: RateShift | DistributionShift
    #: When the shift began: the CUSUM run's first call, else the window's first call.
    since: float | None = None
    changes: tuple[Change, ...] = field(default=())

    @property
    def flagged(self) -> bool:
        return self.shift.flagged

    def message(self) -> str:
        """One sentence: what moved, by how much with its interval, since when, what else."""
        g, s = self.group, self.shift
        if isinstance(s, RateShift):
            text = (
                f"{g.evaluator} bad rate {_pct(s.baseline_rate)} → {_pct(s.current_rate)} "
                f"({_pts(s.difference)}; p={s.p_value:.2g}; "
                f"{s.current_bad}/{s.current_n} vs {s.baseline_bad}/{s.baseline_n})"
            )
        else:
            text = (
                f"{g.evaluator} mean {s.baseline_mean:.4g} → {s.current_mean:.4g} "
                f"({_diff(s.difference)}; KS D={s.statistic:.3f}, p={s.p_value:.2g}; "
                f"n={s.current_n} vs {s.baseline_n})"
            )
        text += f" for {g.model} × {g.prompt}"
        if self.since is not None:
            text += f", since {iso(self.since)}"
        if self.changes:
            text += "; meanwhile: " + "; ".join(f"{c.what} at {iso(c.at)}" for c in self.changes)
        return text

    def detail(self) -> dict[str, Any]:
        s = self.shift
        out: dict[str, Any] = {
            "since": iso(self.since),
            "p_value": s.p_value,
            "changes": [c.to_json() for c in self.changes],
        }
        if isinstance(s, RateShift):
            out.update(
                baseline={"bad": s.baseline_bad, "n": s.baseline_n, "rate": s.baseline_rate},
                current={"bad": s.current_bad, "n": s.current_n, "rate": s.current_rate},
                difference=_interval(s.difference),
                cusum_alarm=s.cusum_alarm is not None,
            )
        else:
            out.update(
                baseline={"mean": s.baseline_mean, "n": s.baseline_n},
                current={"mean": s.current_mean, "n": s.current_n},
                ks_statistic=s.statistic,
                difference=None if s.difference is None else _interval(s.difference),
            )
        return out

    @property
    def value(self) -> float:
        s = self.shift
        return s.current_rate if isinstance(s, RateShift) else s.current_mean


def find_drift(store: LedgerStore, cfg: DriftConfig, now: float) -> list[Finding]:
    """Compare every group's window ``[now - window_s, now)`` with the baseline
    ``[now - window_s - baseline_s, now - window_s)``; the groups with enough events on both
    sides, flagged or not (blocking)."""
    start = now - cfg.window_s
    base_start = start - cfg.baseline_s
    window = read_window(store, cfg, start, now)
    counts = read_baseline_counts(store, cfg, base_start, start)
    values = (
        read_baseline_values(store, cfg, base_start, start)
        if any(matches(g.evaluator, cfg.distributions) for g in window)
        else {}
    )
    out = []
    for group in sorted(window):
        current, times = window[group].arrays()
        shift: RateShift | DistributionShift | None
        since: float | None = None
        if matches(group.evaluator, cfg.rates):
            bad, n = counts.get(group, (0, 0))
            shift = rate_shift(bad, n, bad_outcomes(current), cfg)
            if shift is not None and shift.flagged:
                at = shift.cusum_start if shift.cusum_start is not None else 0
                since = float(times[at])
        else:
            baseline = values.get(group, np.empty(0))
            shift = distribution_shift(baseline, current, cfg)
            if shift is not None and shift.flagged:
                since = float(times[0])
        if shift is None:
            continue
        changes: tuple[Change, ...] = ()
        if since is not None:
            changes = tuple(
                changes_between(store, group.model, since - cfg.context_s, since + cfg.context_s)
            )
        out.append(Finding(group, shift, since, changes))
    return out


def _pct(rate: float) -> str:
    return f"{rate * 100:.1f}%"


def _pts(d: Interval) -> str:
    return f"{d.estimate * 100:+.1f} pts, 95% CI {d.low * 100:+.1f} to {d.high * 100:+.1f}"


def _diff(d: Interval | None) -> str:
    if d is None:
        return "difference n/a"
    return f"{d.estimate:+.4g}, 95% CI {d.low:+.4g} to {d.high:+.4g}"


def _interval(d: Interval) -> dict[str, float]:
    return {"estimate": d.estimate, "low": d.low, "high": d.high}
