"""compute_cost: exact nano-dollar costs under daytwo's token convention."""

from __future__ import annotations

from decimal import ROUND_HALF_EVEN, Decimal, localcontext

import pytest
from hypothesis import given
from hypothesis import strategies as st

from daytwo.core.types import Usage
from daytwo.pricing.cost import compute_cost
from daytwo.pricing.entry import PriceEntry


def entry(
    input: str, output: str, cached: str | None = None, write: str | None = None
) -> PriceEntry:
    return PriceEntry(
        provider="test",
        model="m",
        input=Decimal(input),
        output=Decimal(output),
        cached_input=None if cached is None else Decimal(cached),
        cache_write=None if write is None else Decimal(write),
        ref="test",
    )


GPT_4O_MINI = entry("0.15", "0.60", cached="0.075")
SONNET = entry("3.00", "15.00", cached="0.30", write="3.75")


def test_uncached_call() -> None:
    # 1000 x 150 + 500 x 600 nano-dollars per token
    assert compute_cost(Usage(input_tokens=1000, output_tokens=500), GPT_4O_MINI) == 450_000


def test_cached_tokens_are_part_of_input_and_priced_at_the_cached_price() -> None:
    usage = Usage(input_tokens=10_000, cached_input_tokens=8_000, output_tokens=100)
    # uncached 2000 x 150 + cached 8000 x 75 + output 100 x 600
    assert compute_cost(usage, GPT_4O_MINI) == 300_000 + 600_000 + 60_000


def test_cache_writes_at_the_cache_write_price() -> None:
    usage = Usage(
        input_tokens=10_000,
        cached_input_tokens=6_000,
        cache_write_tokens=3_000,
        output_tokens=1_000,
    )
    # uncached 1000 x 3000 + cached 6000 x 300 + written 3000 x 3750 + output 1000 x 15000
    assert compute_cost(usage, SONNET) == 3_000_000 + 1_800_000 + 11_250_000 + 15_000_000


def test_reasoning_tokens_are_already_in_output() -> None:
    o3 = entry("2.00", "8.00", cached="0.50")
    with_reasoning = Usage(input_tokens=500, output_tokens=2_000, reasoning_tokens=1_500)
    assert compute_cost(with_reasoning, o3) == 500 * 2_000 + 2_000 * 8_000
    assert compute_cost(with_reasoning, o3) == compute_cost(
        Usage(input_tokens=500, output_tokens=2_000), o3
    )


def test_missing_cached_and_write_prices_fall_back_to_input() -> None:
    no_cache_prices = entry("0.075", "0.30")
    usage = Usage(input_tokens=1_000, cached_input_tokens=400, cache_write_tokens=100)
    assert compute_cost(usage, no_cache_prices) == 1_000 * 75


def test_embedding_tokens() -> None:
    small = entry("0.02", "0")
    assert compute_cost(Usage(input_tokens=1_000_000), small) == 20_000_000  # $0.02


def test_rounds_once_half_to_even_at_the_end() -> None:
    half_nano = entry("0.0005", "0.0005")  # 0.5 nano-dollars per token
    assert compute_cost(Usage(input_tokens=1), half_nano) == 0  # 0.5 -> 0 (even)
    assert compute_cost(Usage(input_tokens=3), half_nano) == 2  # 1.5 -> 2
    assert compute_cost(Usage(input_tokens=5), half_nano) == 2  # 2.5 -> 2
    # 0.5 + 0.5 = 1: rounding each part first would give 0
    assert compute_cost(Usage(input_tokens=1, output_tokens=1), half_nano) == 1


def test_inconsistent_counts_never_go_negative() -> None:
    usage = Usage(input_tokens=100, cached_input_tokens=150)
    assert compute_cost(usage, GPT_4O_MINI) == 150 * 75


def test_large_counts_stay_exact() -> None:
    opus_output = entry("15", "75")
    assert compute_cost(Usage(output_tokens=10**12), opus_output) == 75 * 10**15


@pytest.mark.parametrize(
    ("price", "nanos_per_token"),
    [("0.15", 150), ("0.075", 75), ("0.01875", Decimal("18.75")), ("1.923", 1923)],
)
def test_price_per_million_is_thousand_nanos_per_token(
    price: str, nanos_per_token: Decimal
) -> None:
    e = entry(price, "0")
    assert compute_cost(Usage(input_tokens=400), e) == int(Decimal(nanos_per_token) * 400)


# ---------------------------------------------------------------- properties

prices = st.decimals(min_value=0, max_value=200, places=6, allow_nan=False, allow_infinity=False)
counts = st.integers(min_value=0, max_value=10**9)


@st.composite
def entries(draw: st.DrawFn) -> PriceEntry:
    return PriceEntry(
        provider="p",
        model="m",
        input=draw(prices),
        output=draw(prices),
        cached_input=draw(st.none() | prices),
        cache_write=draw(st.none() | prices),
    )


def usage_of(uncached: int, cached: int, written: int, output: int) -> Usage:
    return Usage(
        input_tokens=uncached + cached + written,
        cached_input_tokens=cached,
        cache_write_tokens=written,
        output_tokens=output,
    )


def reference(u: Usage, e: PriceEntry) -> int:
    """The same cost in plain Decimal arithmetic with ample precision."""
    with localcontext() as ctx:
        ctx.prec = 100
        cached = e.input if e.cached_input is None else e.cached_input
        write = e.input if e.cache_write is None else e.cache_write
        uncached = u.input_tokens - u.cached_input_tokens - u.cache_write_tokens
        usd_per_m = (
            uncached * e.input
            + u.cached_input_tokens * cached
            + u.cache_write_tokens * write
            + u.output_tokens * e.output
        )
        return int((usd_per_m * 1000).to_integral_value(rounding=ROUND_HALF_EVEN))


@given(e=entries(), parts=st.tuples(counts, counts, counts, counts))
def test_equals_exact_decimal_arithmetic(e: PriceEntry, parts: tuple[int, int, int, int]) -> None:
    u = usage_of(*parts)
    assert compute_cost(u, e) == reference(u, e)


@given(
    e=entries(),
    parts=st.tuples(counts, counts, counts, counts),
    which=st.integers(min_value=0, max_value=3),
    more=st.integers(min_value=1, max_value=10**6),
)
def test_monotonic_in_each_token_count_and_never_negative(
    e: PriceEntry, parts: tuple[int, int, int, int], which: int, more: int
) -> None:
    bigger = list(parts)
    bigger[which] += more
    before = compute_cost(usage_of(*parts), e)
    after = compute_cost(usage_of(*bigger), e)
    assert 0 <= before <= after


@given(
    e=entries(),
    input_tokens=counts,
    cached=counts,
    written=counts,
    output=counts,
    more=st.integers(min_value=1, max_value=10**6),
)
def test_monotonic_in_raw_input_and_output_even_when_counts_disagree(
    e: PriceEntry, input_tokens: int, cached: int, written: int, output: int, more: int
) -> None:
    def cost(i: int, o: int) -> int:
        usage = Usage(
            input_tokens=i, cached_input_tokens=cached, cache_write_tokens=written, output_tokens=o
        )
        return compute_cost(usage, e)

    base = cost(input_tokens, output)
    assert base >= 0
    assert cost(input_tokens + more, output) >= base
    assert cost(input_tokens, output + more) >= base
