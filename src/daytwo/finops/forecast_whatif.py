"""What-if scenarios for a forecast: ``workflow=triage model=gpt-4o-mini`` re-prices the selected
series' token usage at another model's catalog price, day by day, before the forecast is fitted.

The selected series is read from its own rollup dimension, so the change applies to it and to the
total exactly; a breakdown by another dimension cannot tell which of its values held those calls
(the rollups keep each dimension on its own) and is shown unchanged, with a note. Re-pricing a
day's summed tokens rounds once per day instead of once per call: at most one nano-dollar per
call apart from re-pricing each call.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np

from daytwo.core.errors import InvalidRequest
from daytwo.core.types import Usage
from daytwo.finops.forecast_data import Series
from daytwo.pricing.catalog import PriceBook
from daytwo.pricing.cost import compute_cost
from daytwo.pricing.entry import PriceEntry

#: Dimensions a scenario can select (each kept in ``rollup_hourly``).
SELECTORS = ("project", "workflow", "feature", "agent", "environment", "key", "provider", "model")
_PAIR = re.compile(r"([a-z_]+)=(\S+)")


@dataclass(frozen=True, slots=True)
class WhatIf:
    """Move the calls of ``dim=value`` to ``model``."""

    dim: str
    value: str
    model: str

    @property
    def label(self) -> str:
        return f"{self.dim}={self.value} model={self.model}"


def parse_what_if(text: str) -> WhatIf:
    """``"workflow=triage model=gpt-4o-mini"``: one selector and the model to move it to. With
    ``model`` as the selector, the change is written ``model=gpt-4o->gpt-4o-mini``."""
    words = text.split()
    pairs = []
    for word in words:
        m = _PAIR.fullmatch(word)
        if m is None:
            raise InvalidRequest(f"--what-if: expected FIELD=VALUE pairs, got {word!r}")
        pairs.append((m.group(1), m.group(2)))
    names = [k for k, _ in pairs]
    if len(set(names)) != len(names):
        raise InvalidRequest("--what-if: a field is named twice")
    given = dict(pairs)
    if set(given) == {"model"} and "->" in given["model"]:
        old, _, new = given["model"].partition("->")
        if old and new:
            return WhatIf("model", old, new)
    if "model" not in given:
        raise InvalidRequest("--what-if: name the model to move to (model=NAME)")
    model = given.pop("model")
    if "->" in model:
        raise InvalidRequest("--what-if: `model=OLD->NEW` stands alone (it selects by model)")
    if len(given) != 1:
        raise InvalidRequest(
            f"--what-if: name exactly one selector besides model ({', '.join(SELECTORS[:-1])})"
        )
    ((dim, value),) = given.items()
    if dim not in SELECTORS:
        choices = ", ".join(SELECTORS)
        raise InvalidRequest(f"--what-if: cannot pick calls by `{dim}` (choose from {choices})")
    return WhatIf(dim, value, model)


def price_of(what_if: WhatIf, prices: PriceBook) -> PriceEntry:
    entry = prices.lookup(what_if.model)
    if entry is None:
        raise InvalidRequest(f"--what-if: model {what_if.model!r} has no price in the catalog")
    return entry


def repriced(s: Series, entry: PriceEntry) -> Series:
    """``s`` with each day's cost replaced by its tokens at ``entry``'s price; the hour profile
    is scaled by the overall ratio."""
    t = s.tokens
    cost = np.array(
        [
            compute_cost(
                Usage(
                    input_tokens=int(t["input_tokens"][i]),
                    output_tokens=int(t["output_tokens"][i]),
                    cached_input_tokens=int(t["cached_input_tokens"][i]),
                    cache_write_tokens=int(t["cache_write_tokens"][i]),
                ),
                entry,
            )
            for i in range(len(s.cost))
        ],
        dtype=np.int64,
    )
    before = int(s.cost.sum())
    ratio = float(cost.sum()) / before if before else 1.0
    hours = np.round(s.hours * ratio).astype(np.int64)
    return Series(key=s.key, cost=cost, tokens=s.tokens, hours=hours)


def shifted(s: Series, before: Series, after: Series) -> Series:
    """``s`` (a series that contains ``before``'s calls) with ``before`` replaced by ``after``;
    the three share their days."""
    return Series(
        key=s.key,
        cost=np.maximum(s.cost + after.cost - before.cost, 0),
        tokens=s.tokens,
        hours=np.maximum(s.hours + after.hours - before.hours, 0),
    )
