"""A key's caps (pure): each window's bound per calendar day and month, DST days counted, the
per-call bound behind RPM, token budgets and unpriced models."""

from __future__ import annotations

from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
from tests.keys.conftest import T0

from daytwo.config.spend import SpendControlConfig
from daytwo.keys.caps import Caps, PricedModel, key_caps, longest_day_and_month
from daytwo.keys.model import KeyRecord, KeySpec
from daytwo.pricing.entry import PriceEntry

USD = 1_000_000_000
HOUR = 3600
DAY = 86_400
#: $3 in, $15 out per Mtok: the dearest token costs $15/Mtok = 15,000 nano-dollars.
SONNET = PricedModel(
    "smart", "anthropic/sonnet", PriceEntry("anthropic", "sonnet", Decimal(3), Decimal(15))
)
CHEAP = PricedModel(
    "fast", "openai/mini", PriceEntry("openai", "mini", Decimal("0.15"), Decimal("0.6"))
)
LOCAL = PricedModel("local", "vllm/llama", None)


def record(**spec: object) -> KeyRecord:
    return KeyRecord(
        id="key_test000001",
        prefix="dt2_sk_ab12",
        spec=KeySpec(project="search", **spec),  # type: ignore[arg-type]
        created_at=T0,
        created_by="t",
    )


def caps(
    rec: KeyRecord, tz: str = "UTC", models: tuple[PricedModel, ...] = (SONNET,), **spend: object
) -> Caps:
    cfg = SpendControlConfig.model_validate({"timezone": tz, **spend})
    return key_caps(rec, spend=cfg, reachable=models, basis="test models", now=T0)


def test_the_longest_day_and_month_are_measured_in_the_budget_timezone() -> None:
    assert longest_day_and_month(ZoneInfo("UTC"), T0) == (DAY, 31 * DAY)
    # the autumn change: a 25-hour Sunday, and October with 745 hours
    assert longest_day_and_month(ZoneInfo("Europe/Berlin"), T0) == (25 * HOUR, 31 * DAY + HOUR)
    assert longest_day_and_month(ZoneInfo("Asia/Tokyo"), T0) == (DAY, 31 * DAY)


@pytest.mark.parametrize(
    ("budget", "tz", "per_day", "per_month"),
    [
        ("2/hour", "UTC", 48, 2 * 744),
        ("2/hour", "Europe/Berlin", 50, 2 * 745),  # a DST day has 25 hourly windows
        ("50/day", "UTC", 50, 50 * 31),
        ("100/week", "UTC", 100, 600),  # a 31-day month touches up to 6 ISO weeks
        ("900/month", "UTC", 900, 900),
    ],
)
def test_each_window_bounds_a_day_and_a_month(
    budget: str, tz: str, per_day: int, per_month: int
) -> None:
    c = caps(record(budget=budget), tz)
    assert c.per_day is not None and c.per_month is not None
    assert (c.per_day.per_day_nanos, c.per_month.per_month_nanos) == (
        per_day * USD,
        per_month * USD,
    )
    assert c.per_day.source == "key budget" and c.per_day.detail == budget


def test_a_per_request_budget_bounds_spend_only_with_an_rpm() -> None:
    alone = caps(record(budget="0.5/request"))
    assert alone.bounds == () and alone.per_day is None
    assert "nothing that refuses calls bounds this key's spend" in alone.assumptions
    # 10 calls a minute x 1,440 minutes x $0.50
    c = caps(record(budget="0.5/request", rpm=10))
    assert c.per_day is not None and c.per_day.per_day_nanos == 7_200 * USD
    assert c.per_day.source == "rpm (key)"


def test_a_request_cap_in_tokens_prices_the_worst_call_at_the_dearest_model() -> None:
    c = caps(
        record(rpm=1),
        models=(SONNET, CHEAP),
        request_caps=[{"scope": {"project": "search"}, "max_input_tokens": 1000,
                       "max_output_tokens": 100}],
    )  # fmt: skip
    # sonnet: 1,000 in x $3 + 100 out x $15 per Mtok = $0.0045 a call; x 1,440 calls a day
    assert c.per_day is not None and c.per_day.per_day_nanos == 1_440 * 4_500_000


def test_tpm_and_token_budgets_price_every_token_at_the_dearest_price() -> None:
    c = caps(
        record(tpm=1000),
        models=(CHEAP, SONNET, LOCAL),
        budgets=[{"name": "tok", "scope": {"key": "*"}, "window": "day", "tokens": 2_000_000}],
    )
    by = {b.source: b for b in c.bounds}
    # 1,000 tokens/min x 1,440 x $15/Mtok = $21.60 a day
    assert by["tpm (key)"].per_day_nanos == 21_600_000_000
    # 2M tokens x $15/Mtok = $30 a day, not shared (the scope is the key's own)
    assert by["budget tok"].per_day_nanos == 30 * USD and not by["budget tok"].shared
    assert c.per_day is by["tpm (key)"]
    assert c.priciest is SONNET
    assert c.unpriced == ("vllm/llama",)
    assert any("vllm/llama" in a and "not counted" in a for a in c.assumptions)


def test_budgets_that_do_not_hold_every_call_of_the_key_in_one_counter_are_ignored() -> None:
    rec = record(workflow="rag", models=("smart",))
    c = caps(
        rec,
        budgets=[
            {"name": "org", "window": "day", "usd": 500},
            {"name": "wf", "scope": {"workflow": "rag"}, "window": "day", "usd": 400},
            {"name": "model", "scope": {"model": "smart"}, "window": "day", "usd": 300},
            {"name": "each-model", "scope": {"model": "*"}, "window": "day", "usd": 200},
            {"name": "user", "scope": {"user": "*"}, "window": "day", "usd": 1},
            {"name": "agent", "scope": {"agent": "bot"}, "window": "day", "usd": 1},
            {"name": "feature", "scope": {"feature": "x"}, "window": "day", "usd": 1},
            {"name": "other-key", "scope": {"key": "key_else"}, "window": "day", "usd": 1},
            {"name": "alert", "window": "day", "usd": 1, "actions": ["alert"]},
            {"name": "down", "window": "day", "usd": 1, "actions": ["downgrade"],
             "downgrade_to": "fast"},
            {"name": "trip", "scope": {"key": "key_test000001"}, "window": "month", "usd": 900,
             "actions": ["trip"]},
        ],
    )  # fmt: skip
    by = {b.source: b for b in c.bounds}
    assert set(by) == {
        "budget org", "budget wf", "budget model", "budget each-model", "budget trip",
    }  # fmt: skip
    assert [by[n].shared for n in ("budget org", "budget wf", "budget trip")] == [
        True, True, False,
    ]  # fmt: skip
    assert c.per_day is not None and c.per_day.source == "budget each-model"
    assert c.per_month is not None and c.per_month.source == "budget trip"


def test_a_key_with_no_limits_is_unbounded() -> None:
    c = caps(record())
    assert (c.per_day, c.per_month, c.rpm, c.tpm) == (None, None, None, None)
    assert c.to_json()["max_per_day"] is None
