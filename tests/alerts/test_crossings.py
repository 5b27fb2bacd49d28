"""Budget threshold crossings read from the admin event log (a real database): current until
their budget's window ends, each event read once, and a start mid-window picks up its window's
earlier crossings."""

from __future__ import annotations

from zoneinfo import ZoneInfo

from daytwo.alerts.crossings import Crossings
from daytwo.config.spend import BudgetConfig
from daytwo.keys.store import KeyStore
from daytwo.ledger.store import open_store

#: 2024-05-01T10:00:00Z
NOW = 1_714_557_600.0
DAY_START = 1_714_521_600.0  # that day's UTC midnight
BUDGET = BudgetConfig(name="acme-day", scope={"project": "acme"}, window="day", usd="10")  # type: ignore[arg-type]


def _threshold(
    store: KeyStore, percent: int, at: float, budget: str = "acme-day", start: float = DAY_START
) -> None:
    store.record_event(
        actor=f"budget:{budget}",
        action="threshold",
        target="project=acme",
        after={"kind": "threshold", "scope": "project=acme", "budget": budget,
               "window_start": start, "percent": percent, "value": 5_000_000_000,
               "limit": 10_000_000_000, "unit": "nanousd"},
        at=at,
    )  # fmt: skip


def test_crossings_last_until_their_window_ends_and_are_read_once(db_url: str) -> None:
    with KeyStore.open(db_url) as store, open_store(db_url) as ledger:
        _threshold(store, 50, NOW - 3600)  # before the gateway started: still this window
        store.record_event(actor="cli:x", action="switch_on", target="project=x", at=NOW)
        crossings = Crossings([BUDGET], ZoneInfo("UTC"))
        crossings.add(*crossings.read_new(ledger, NOW), NOW)
        (first,) = crossings.current(NOW)
        assert (first.budget, first.scope, first.percent) == ("acme-day", "project=acme", 50)
        assert first.ends_at == DAY_START + 86_400
        assert (first.value, first.limit, first.unit) == (5_000_000_000, 10_000_000_000, "nanousd")

        newest, again = crossings.read_new(ledger, NOW)
        assert again == [] and newest == crossings.last_id  # nothing new
        _threshold(store, 80, NOW + 1)
        _threshold(store, 100, NOW + 2, budget="gone", start=NOW)  # not configured: a day
        crossings.add(*crossings.read_new(ledger, NOW + 2), NOW + 2)
        assert sorted(c.percent for c in crossings.current(DAY_START + 86_399)) == [50, 80, 100]
        assert [c.budget for c in crossings.current(DAY_START + 86_400)] == ["gone"]
        assert crossings.current(NOW + 86_400) == []
