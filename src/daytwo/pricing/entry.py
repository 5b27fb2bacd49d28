"""One price: what a model costs per million tokens, and where that number came from.

Prices are exact :class:`~decimal.Decimal` USD per million tokens. Each entry also carries its
prices as integers over one common power of ten (:class:`Rates`), so that computing a cost on the
hot path is integer arithmetic on the exact decimal values (see :mod:`daytwo.pricing.cost`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from typing import Literal, NamedTuple

from daytwo.core.errors import ConfigError

Mode = Literal["chat", "embedding"]
MODES: tuple[Mode, ...] = ("chat", "embedding")


class CatalogError(ConfigError):
    """A price catalog (bundled, extra file or LiteLLM import) is invalid.

    The message names the file and, where there is one, the entry.
    """

    def __init__(self, message: str) -> None:
        super().__init__([message])


class Rates(NamedTuple):
    """Per-token prices as exact integers: nano-dollars per token = ``n * mul / den``.

    ``input``, ``output``, ``cached_input`` and ``cache_write`` are the per-million prices scaled
    by ``10**k`` (``k`` = the most decimal places among them); a missing cached or cache-write
    price is the input price. A price in USD per million tokens is ``1000 *`` that many
    nano-dollars per token, so ``mul / den = 1000 / 10**k`` reduced to whole numbers.
    """

    input: int
    output: int
    cached_input: int
    cache_write: int
    mul: int
    den: int


def _places(value: Decimal) -> int:
    exponent = value.as_tuple().exponent
    assert isinstance(exponent, int)  # finite values only; checked before
    return max(0, -exponent)


def rates_of(
    input: Decimal, output: Decimal, cached_input: Decimal | None, cache_write: Decimal | None
) -> Rates:
    cached = input if cached_input is None else cached_input
    write = input if cache_write is None else cache_write
    k = max(_places(input), _places(output), _places(cached), _places(write))

    def scaled(d: Decimal) -> int:
        return int(d.scaleb(k))  # exact: d * 10**k is integral by the choice of k

    return Rates(
        input=scaled(input),
        output=scaled(output),
        cached_input=scaled(cached),
        cache_write=scaled(write),
        mul=10 ** max(0, 3 - k),
        den=10 ** max(0, k - 3),
    )


def check_price(value: Decimal, what: str) -> None:
    if not value.is_finite() or value < 0:
        raise ValueError(f"{what} must be a finite, non-negative number (got {value})")


@dataclass(frozen=True, slots=True)
class PriceEntry:
    """The price of one model at one provider, in USD per million tokens.

    ``cached_input`` (cache reads) and ``cache_write`` fall back to ``input`` when None.
    ``ref`` is what the ledger records as the call's ``price_ref``:
    ``catalog:<version>:<provider>/<model>``, ``override:<model>`` or ``default``.
    """

    provider: str
    model: str
    input: Decimal
    output: Decimal
    cached_input: Decimal | None = None
    cache_write: Decimal | None = None
    ref: str = ""
    mode: Mode = "chat"
    aliases: tuple[str, ...] = ()
    effective: str | None = None
    note: str | None = None
    rates: Rates = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        check_price(self.input, "input")
        check_price(self.output, "output")
        if self.cached_input is not None:
            check_price(self.cached_input, "cached_input")
        if self.cache_write is not None:
            check_price(self.cache_write, "cache_write")
        rates = rates_of(self.input, self.output, self.cached_input, self.cache_write)
        object.__setattr__(self, "rates", rates)

    @property
    def key(self) -> str:
        """``provider/model``, unique within a catalog."""
        return f"{self.provider}/{self.model}"
