"""The life of one alert: a rule's condition for one label set, from evaluation to evaluation.

::

    inactive ──true──▶ pending ──true for `for`──▶ firing ──false──▶ resolved
        ▲                 │                                            │
        └─────false───────┘          true, cooldown over ──▶ pending ◀─┘

A notification goes out on ``firing`` and on ``resolved`` only, once per transition: a
condition that stays true while firing sends nothing more (dedup), and one that comes back
within ``cooldown`` seconds of a resolve stays quiet until the cooldown is over. Pure: the
caller passes the time and records what :func:`step` returns.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

Phase = Literal["inactive", "pending", "firing", "resolved"]


@dataclass(slots=True)
class Alert:
    """One (rule, label set) and where it stands."""

    rule: str
    fingerprint: str
    labels: dict[str, str]
    phase: Phase = "inactive"
    #: When the condition became true (pending) -- kept as the alert's start once firing.
    since: float | None = None
    #: The latest value computed for it.
    value: float | None = None
    resolved_at: float | None = None
    #: Details of the latest value (e.g. the calls it was computed over).
    detail: dict[str, object] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Transition:
    alert: Alert
    to: Phase
    at: float
    #: When the alert started firing (for ``firing`` and ``resolved``).
    started_at: float | None

    @property
    def notifies(self) -> bool:
        return self.to in ("firing", "resolved")


def step(
    alert: Alert, holds: bool, now: float, *, for_s: float, cooldown_s: float
) -> Transition | None:
    """Advance ``alert`` with this evaluation's outcome; the transition it made, if any."""
    phase = alert.phase
    if holds:
        if phase in ("inactive", "resolved"):
            if (
                phase == "resolved"
                and alert.resolved_at is not None
                and now - alert.resolved_at < cooldown_s
            ):
                return None
            alert.phase, alert.since = "pending", now
            if for_s <= 0:
                alert.phase = "firing"
                return Transition(alert, "firing", now, now)
            return Transition(alert, "pending", now, None)
        if phase == "pending":
            assert alert.since is not None
            if now - alert.since >= for_s:
                alert.phase = "firing"
                return Transition(alert, "firing", now, alert.since)
        return None
    if phase == "pending":
        alert.phase, alert.since = "inactive", None
        return Transition(alert, "inactive", now, None)
    if phase == "firing":
        started = alert.since
        alert.phase, alert.resolved_at = "resolved", now
        return Transition(alert, "resolved", now, started)
    return None
