"""What one call cost: usage times price, in integer nano-dollars, rounded once.

The token convention is :class:`daytwo.core.types.Usage`'s: ``input_tokens`` includes cached reads
and cache writes, ``output_tokens`` includes reasoning tokens. So

* uncached input = input - cached - cache writes, at the ``input`` price;
* cached input at ``cached_input`` (the ``input`` price when the model has none);
* cache writes at ``cache_write`` (the ``input`` price when the model has none);
* output (reasoning included) at ``output``.

The sum is the exact decimal value (prices are exact decimals, token counts are integers),
computed with integers and rounded half-to-even to the nano-dollar once, at the end.
Inconsistent counts (more cached than total input) never produce a negative part: each part is
clamped at zero.
"""

from __future__ import annotations

from daytwo.core.types import Usage
from daytwo.pricing.entry import PriceEntry


def compute_cost(usage: Usage, entry: PriceEntry) -> int:
    """The cost of ``usage`` at ``entry``'s prices, in nano-dollars (never negative)."""
    price_in, price_out, price_cached, price_write, mul, den = entry.rates
    cached = usage.cached_input_tokens
    cached = cached if cached > 0 else 0
    written = usage.cache_write_tokens
    written = written if written > 0 else 0
    uncached = usage.input_tokens - cached - written
    uncached = uncached if uncached > 0 else 0
    output = usage.output_tokens
    output = output if output > 0 else 0
    scaled = (
        uncached * price_in + cached * price_cached + written * price_write + output * price_out
    ) * mul
    return scaled if den == 1 else _div_half_even(scaled, den)


def _div_half_even(num: int, den: int) -> int:
    """``num / den`` rounded half-to-even, for ``num >= 0`` and ``den >= 1``."""
    if den == 1:
        return num
    quotient, remainder = divmod(num, den)
    twice = 2 * remainder
    if twice > den or (twice == den and quotient & 1):
        quotient += 1
    return quotient
