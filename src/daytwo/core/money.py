"""Money is exact: integer nano-dollars (1e-9 USD) everywhere, Decimal only while computing.

A nano-dollar is fine enough that the cheapest token of any catalogued model is a whole number
of them (e.g. $0.075 per million tokens = 75 nano-dollars per token), and an int64 holds
$9.2 billion of spend.
"""

from __future__ import annotations

from decimal import ROUND_HALF_EVEN, Decimal

NANOS_PER_USD = 1_000_000_000
_NANO = Decimal(NANOS_PER_USD)


def usd_to_nanos(usd: Decimal | str | int) -> int:
    """Exact conversion, rounding half-to-even at the nano-dollar."""
    return int((Decimal(usd) * _NANO).to_integral_value(rounding=ROUND_HALF_EVEN))


def nanos_to_usd(nanos: int) -> Decimal:
    return Decimal(nanos) / _NANO


def format_usd(nanos: int | None, places: int = 4) -> str:
    """``$12.3456``; small non-zero amounts keep enough digits to stay visible."""
    if nanos is None:
        return "unpriced"
    usd = nanos_to_usd(nanos)
    if nanos and abs(usd) < Decimal(1) / Decimal(10**places):
        return f"${usd:.9f}".rstrip("0")
    return f"${usd:,.{places}f}"


def format_usd_exact(nanos: int) -> str:
    """``$0.000012345``: every digit the amount has and no more (refusal messages, where a
    rounded ``$0.0000`` would hide why a small budget refused)."""
    return "$" + format(nanos_to_usd(nanos).normalize(), "f")
