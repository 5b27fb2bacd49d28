"""Parsing what an operator types for a key: budgets (``50/day``), durations (``90d``), models.

Pure functions that raise :class:`ValueError` with a one-line message naming what was
expected; the CLI and (later) the admin API show that message as is.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation

BUDGET_WINDOWS = ("request", "hour", "day", "week", "month")
_DURATION_UNITS = {"s": 1, "m": 60, "h": 3_600, "d": 86_400, "w": 604_800}
_BUDGET = re.compile(r"\$?(?P<usd>[0-9]+(?:\.[0-9]+)?)/(?P<window>[a-z]+)")
#: A cap above this is a typo, not a budget.
MAX_BUDGET_USD = Decimal(10) ** 9


@dataclass(frozen=True, slots=True)
class BudgetSpec:
    """A USD cap per window. Stored as :meth:`text` (``50/day``); enforced by control/."""

    usd: Decimal
    window: str

    @property
    def text(self) -> str:
        return f"{self.usd.normalize():f}/{self.window}"


def parse_budget(text: str) -> BudgetSpec:
    m = _BUDGET.fullmatch(text.strip().lower())
    expected = f"expected <usd>/<{'|'.join(BUDGET_WINDOWS)}> such as 50/day, got {text!r}"
    if not m or m.group("window") not in BUDGET_WINDOWS:
        raise ValueError(expected)
    try:
        usd = Decimal(m.group("usd"))
    except InvalidOperation:  # pragma: no cover - the regex admits only decimals
        raise ValueError(expected) from None
    if usd <= 0 or usd > MAX_BUDGET_USD:
        raise ValueError(f"a budget must be more than $0 and at most ${MAX_BUDGET_USD:,}")
    if usd.as_tuple().exponent < -6:  # type: ignore[operator]  # int for finite decimals
        raise ValueError("a budget has at most 6 decimal places")
    return BudgetSpec(usd=usd, window=m.group("window"))


def parse_duration(text: str, *, allow_zero: bool = False) -> float:
    """``30s``, ``15m``, ``24h``, ``90d``, ``2w`` → seconds."""
    m = re.fullmatch(r"\s*(\d{1,9})\s*([smhdw])\s*", text)
    if not m or (int(m.group(1)) == 0 and not allow_zero):
        raise ValueError(f"expected a duration such as 30m, 24h, 90d or 2w, got {text!r}")
    return float(int(m.group(1)) * _DURATION_UNITS[m.group(2)])


def parse_models(text: str) -> tuple[str, ...]:
    """``a, b`` → ``("a", "b")`` (order kept, duplicates dropped)."""
    models = tuple(dict.fromkeys(m.strip() for m in text.split(",") if m.strip()))
    if not models:
        raise ValueError("expected a comma-separated list of model aliases, such as gpt-4o,fast")
    return models
