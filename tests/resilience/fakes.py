"""A clock the tests move by hand: the resilience pieces read time only through it."""

from __future__ import annotations

#: An arbitrary epoch second (2026-05-28), so wall-clock timestamps in headers are realistic.
WALL0 = 1_780_000_000.0


class FakeClock:
    def __init__(self, start: float = 1000.0) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds

    def wall(self) -> float:
        """The same clock as epoch seconds (for RFC 3339 and HTTP-date headers)."""
        return WALL0 + self.now
