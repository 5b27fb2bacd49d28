"""A clock the tests move by hand: the resilience pieces read time only through it."""

from __future__ import annotations

from tests import fakeclock

#: An arbitrary epoch second (2026-05-28), so wall-clock timestamps in headers are realistic.
WALL0 = 1_780_000_000.0


class FakeClock(fakeclock.FakeClock):
    def wall(self) -> float:
        """The same clock as epoch seconds (for RFC 3339 and HTTP-date headers)."""
        return WALL0 + self.now
