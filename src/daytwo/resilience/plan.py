"""The resilience of one runtime: every alias's retry policy, router and tier rules, over the
per-deployment health and the retry budget that outlive it.

A config reload builds a new :class:`Resilience` from the old one: breakers, latency averages
and the retry budget's window carry over (a reload must not close an open breaker or refill a
spent budget), only their settings change.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

from daytwo.resilience.breaker import BreakerSettings, Health
from daytwo.resilience.budget import RetryBudget
from daytwo.resilience.policy import (
    DEFAULT_BUDGET_MIN_RETRIES,
    DEFAULT_BUDGET_RATIO,
    DEFAULT_BUDGET_WINDOW_S,
    RetryPolicy,
)
from daytwo.resilience.routing import Router

if TYPE_CHECKING:
    from daytwo.config.resilience import ResilienceConfig, TierRule


@dataclass(frozen=True, slots=True)
class AliasPlan:
    """How one alias routes and retries."""

    policy: RetryPolicy
    router: Router
    tiers: tuple[TierRule, ...] = ()


def pick_tier(
    rules: tuple[TierRule, ...],
    *,
    hint: str | None,
    tags: Mapping[str, str],
    input_tokens: int,
) -> str | None:
    """The alias of the first rule whose every condition holds (None: stay)."""
    for rule in rules:
        if rule.hint is not None and rule.hint != hint:
            continue
        if rule.tag and any(tags.get(k) != v for k, v in rule.tag.items()):
            continue
        if rule.max_input_tokens is not None and input_tokens > rule.max_input_tokens:
            continue
        if rule.min_input_tokens is not None and input_tokens < rule.min_input_tokens:
            continue
        return rule.to
    return None


class Resilience:
    def __init__(
        self,
        config: ResilienceConfig,
        aliases: Mapping[str, object],
        *,
        price: Callable[[str], float | None] | None = None,
        previous: Resilience | None = None,
        rng: random.Random | None = None,
    ) -> None:
        """``aliases``: the configured model aliases (each gets a plan); ``price``: a
        deployment id's price (USD per million output tokens) for ``lowest_cost``."""
        self.config = config
        settings = BreakerSettings.from_config(config.breaker)
        self.health: Health = previous.health if previous is not None else Health(settings)
        self.health.settings = settings
        b = config.retry_budget
        shape: tuple[float, int, float] = (
            b.ratio if b.ratio is not None else DEFAULT_BUDGET_RATIO,
            b.min_retries if b.min_retries is not None else DEFAULT_BUDGET_MIN_RETRIES,
            b.window_s or DEFAULT_BUDGET_WINDOW_S,
        )
        self.budget: RetryBudget = (
            previous.budget
            if previous is not None and previous._budget_shape == shape
            else RetryBudget(*shape)
        )
        self._budget_shape: tuple[float, int, float] = shape
        self.plans: dict[str, AliasPlan] = {}
        for alias in aliases:
            own = config.for_alias(alias)
            self.plans[alias] = AliasPlan(
                policy=RetryPolicy.from_config(own, config, budget=self.budget, rng=rng),
                router=Router.from_config(own, config.defaults, self.health, price=price, rng=rng),
                tiers=own.tiers if own is not None else (),
            )
