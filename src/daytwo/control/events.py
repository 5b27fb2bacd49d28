"""Spend-control events: threshold crossings, trips, refusals, switch changes, loop detections.

Plain data, handed to an ``on_event`` callback (and returned where an operation produces them),
ready for the ledger's admin event log and the alerting room to deliver.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

EventKind = Literal[
    "threshold", "trip", "switch_on", "switch_off", "degrade_on", "degrade_off", "loop"
]
Unit = Literal["nanousd", "tokens", "requests", "calls"]


@dataclass(frozen=True, slots=True)
class Event:
    kind: EventKind
    scope: str
    at: float
    budget: str | None = None
    window_start: float | None = None
    percent: int | None = None
    value: int | None = None
    limit: int | None = None
    unit: Unit = "nanousd"
    detail: str = ""


EventSink = Callable[[Event], None]


def drop(_event: Event) -> None:
    """The default sink: events are returned to the caller and otherwise dropped."""
