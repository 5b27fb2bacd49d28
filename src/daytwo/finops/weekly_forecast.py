"""The weekly review's forecast seam: what it needs from ``daytwo forecast``, and where it
finds it.

The review does not forecast by itself. It asks for one function of the forecast module,
:data:`SEAM_FUNCTION` in :data:`SEAM_MODULE`, with the signature of :class:`Forecaster`:
month-end projections per project (and the total) with an interval, and each budget's
projected exhaustion. A build without it shows "forecast: not available in this build".
"""

from __future__ import annotations

import importlib
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol, cast

from daytwo.config.spend import BudgetConfig
from daytwo.ledger.report import money
from daytwo.ledger.store import LedgerStore

SEAM_MODULE = "daytwo.finops.forecast"
SEAM_FUNCTION = "month_end_projection"
NOT_AVAILABLE = "forecast: not available in this build"


@dataclass(frozen=True, slots=True)
class Projection:
    """One series' spend by the end of the calendar month of ``now`` (UTC), nano-dollars."""

    #: The project (None: all traffic).
    key: str | None
    month_to_date_nanousd: int
    month_end_nanousd: int
    low_nanousd: int
    high_nanousd: int
    #: The interval's nominal coverage (0.8: an 80 % prediction interval).
    coverage: float

    def to_json(self) -> dict[str, Any]:
        return {
            "key": self.key,
            "month_to_date": money(self.month_to_date_nanousd),
            "month_end": money(self.month_end_nanousd),
            "low": money(self.low_nanousd),
            "high": money(self.high_nanousd),
            "coverage": self.coverage,
        }


@dataclass(frozen=True, slots=True)
class Exhaustion:
    """When a budget's spend is projected to reach its cap (None: not before its window ends)."""

    budget: str
    at: datetime | None


@dataclass(frozen=True, slots=True)
class MonthEnd:
    total: Projection
    projects: tuple[Projection, ...]
    exhaustion: tuple[Exhaustion, ...]


class Forecaster(Protocol):
    def __call__(
        self,
        store: LedgerStore,
        *,
        now: datetime,
        budgets: Sequence[BudgetConfig],
        timezone: str,
    ) -> MonthEnd: ...


def find_forecaster() -> Forecaster | None:
    """:data:`SEAM_FUNCTION` of :data:`SEAM_MODULE` when this build has it, else None."""
    try:
        module = importlib.import_module(SEAM_MODULE)
    except ModuleNotFoundError as exc:
        if exc.name != SEAM_MODULE:
            raise
        return None
    found = getattr(module, SEAM_FUNCTION, None)
    return None if found is None else cast(Forecaster, found)
