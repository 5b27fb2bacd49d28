"""The simulator's ``billing`` block: what its admin usage and cost endpoints report, and the
discrepancies between that bill and what daytwo's ledger saw (``daytwo reconcile`` must find
them). :mod:`daytwo.providers.sim.billing` plays it; ``docs/simulator.md`` ("Admin usage and
cost endpoints") is the user's reference.

::

    sim:
      billing:
        admin_key: sk-admin-sim            # x-api-key / Authorization: Bearer for the admin routes
        prices:                            # USD per million tokens the bill charges
          gpt-4o-mini: {input: "0.15", output: "0.60", cached_input: "0.075"}
        price_multiplier: {gpt-4o-mini: "1.1"}   # the provider charges 10 % more than its list
        drop_usage_for_streams: 0.5        # half the streams lose their final usage chunk
        unbilled_cancelled: false          # requests that hung are billed (input + max output)
        extra_calls: [{model: gpt-4o-mini, requests: 3, input_tokens: 300, output_tokens: 90}]
        other_key_traffic: [{model: gpt-4o-mini, api_key_id: key_laptop, requests: 2}]
        rate_limit_every: 3                # every 3rd admin request answers 429 (retry-after)
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from pydantic import BaseModel, ConfigDict, Field


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class SimPrice(_Model):
    """USD per million tokens (``cached_input``/``cache_write``: the input price when absent)."""

    input: Decimal = Field(ge=0)
    output: Decimal = Field(ge=0)
    cached_input: Decimal | None = Field(default=None, ge=0)
    cache_write: Decimal | None = Field(default=None, ge=0)


class SimUsage(_Model):
    """Usage the bill carries that the simulator never served."""

    model: str = Field(min_length=1)
    #: The provider's id of the API key it was made with (None: the key daytwo's traffic is on).
    api_key_id: str | None = None
    requests: int = Field(default=1, ge=0)
    input_tokens: int = Field(default=0, ge=0)
    output_tokens: int = Field(default=0, ge=0)
    #: UTC day it is billed on (None: the day the bill is read).
    day: date | None = None


class SimBilling(_Model):
    #: The admin key the usage and cost routes require (never an inference key).
    admin_key: str = Field(default="sk-admin-sim", min_length=1)
    #: The id the bill gives the key daytwo's traffic came in on, and its project / workspace.
    api_key_id: str = Field(default="key_daytwo", min_length=1)
    project_id: str = Field(default="proj_default", min_length=1)
    #: List prices the cost report charges, per model; usage of a model not listed costs 0.
    prices: dict[str, SimPrice] = {}
    #: Per model: the cost report charges this multiple of the list price.
    price_multiplier: dict[str, Decimal] = {}
    #: Share of streamed OpenAI answers sent without their final usage chunk (the bill keeps it).
    drop_usage_for_streams: float = Field(default=0.0, ge=0, le=1)
    #: True: requests that hung (the ``timeout`` fault) are not billed; False: billed with their
    #: input and ``max_output_tokens`` of output, as a provider that finished them would.
    unbilled_cancelled: bool = False
    #: Billed on daytwo's key but never served (the bill has more requests than the ledger).
    extra_calls: tuple[SimUsage, ...] = ()
    #: Billed on other keys of the organisation (``api_key_id`` defaults to ``key_elsewhere``).
    other_key_traffic: tuple[SimUsage, ...] = ()
    #: Every n-th admin request answers 429 with ``retry-after`` (0: never).
    rate_limit_every: int = Field(default=0, ge=0)
    retry_after_s: int = Field(default=0, ge=0)
