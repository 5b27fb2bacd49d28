"""Budgets, durations and model lists as operators type them."""

from __future__ import annotations

from decimal import Decimal

import pytest

from daytwo.keys.specs import parse_budget, parse_duration, parse_models


@pytest.mark.parametrize(
    ("text", "usd", "window", "normal"),
    [
        ("50/day", "50", "day", "50/day"),
        ("$0.50/request", "0.50", "request", "0.5/request"),
        ("1000/Month", "1000", "month", "1000/month"),
        ("2.5/hour", "2.5", "hour", "2.5/hour"),
    ],
)
def test_budgets_parse_and_normalise(text: str, usd: str, window: str, normal: str) -> None:
    spec = parse_budget(text)
    assert (spec.usd, spec.window, spec.text) == (Decimal(usd), window, normal)


@pytest.mark.parametrize(
    "text", ["50", "50/fortnight", "-5/day", "0/day", "fifty/day", "50/ day/", "1e3/day", ""]
)
def test_bad_budgets_are_refused(text: str) -> None:
    with pytest.raises(ValueError, match=r"budget|expected"):
        parse_budget(text)


def test_durations() -> None:
    assert parse_duration("90d") == 90 * 86_400
    assert parse_duration("24h") == 86_400
    assert parse_duration("0s", allow_zero=True) == 0
    for bad in ("0d", "90", "1y", "-1d", "d"):
        with pytest.raises(ValueError, match="duration"):
            parse_duration(bad)


def test_models() -> None:
    assert parse_models(" a, b,a ,") == ("a", "b")
    with pytest.raises(ValueError, match="comma-separated"):
        parse_models(" , ")
