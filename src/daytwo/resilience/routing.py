"""Routing strategies: in which order a call tries an alias's deployments.

Each strategy orders the deployments; :class:`Router` then lets :meth:`Health.order` eject open
breakers and move throttled deployments last, and :func:`schedule` spreads the allowed
attempts over what is left (a single deployment is retried; several are failed over in turn).

* ``ordered`` -- the configured order: a fallback chain.
* ``weighted`` -- a weighted random order: the first choice is deployment *i* with
  probability ``w_i / sum(w)`` (exponential race, i.e. Efraimidis-Spirakis sampling without
  replacement), so failover still walks the rest by weight. Weight 0: only as a fallback.
* ``least_latency`` -- lowest moving average (TTFT when known) first; a deployment never
  measured goes first so that it is; and with probability ``explore`` a random other
  deployment leads, so one that recovered gets measured again.
* ``lowest_cost`` -- the cheapest first by a price function; unpriced ones last.

Strategies compute a permutation of indices over deployment ids, so any target type routes.
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, TypeVar

from daytwo.resilience.breaker import Deployed, Health
from daytwo.resilience.policy import EXPLORE_RATE

if TYPE_CHECKING:
    from daytwo.config.resilience import AliasResilience, Strategy

T = TypeVar("T", bound=Deployed)
#: Deployment ids in, a permutation of their indices out.
Order = Callable[[Sequence[str]], list[int]]


def ordered(names: Sequence[str]) -> list[int]:
    return list(range(len(names)))


def weighted(names: Sequence[str], weights: Mapping[str, float], rng: random.Random) -> list[int]:
    def key(i: int) -> float:
        w = weights.get(names[i], 0.0)
        u = 1.0 - rng.random()  # in (0, 1]: log is finite
        # Exponential race: the smallest Exp(w) arrival leads; weight 0 never arrives.
        return -math.log(u) / w if w > 0 else math.inf

    keys = [key(i) for i in range(len(names))]
    return sorted(range(len(names)), key=lambda i: (keys[i], i))


def least_latency(
    names: Sequence[str],
    latency: Callable[[str], float | None],
    rng: random.Random,
    explore: float = EXPLORE_RATE,
) -> list[int]:
    seen = [latency(n) for n in names]
    out = sorted(range(len(names)), key=lambda i: (seen[i] is not None, seen[i] or 0.0, i))
    if len(out) > 1 and rng.random() < explore:
        out.insert(0, out.pop(1 + rng.randrange(len(out) - 1)))
    return out


def lowest_cost(names: Sequence[str], price: Callable[[str], float | None]) -> list[int]:
    prices = [price(n) for n in names]
    return sorted(range(len(names)), key=lambda i: (prices[i] is None, prices[i] or 0.0, i))


class Router:
    """One alias's strategy over its deployments, filtered by their health."""

    def __init__(
        self,
        strategy: Strategy,
        health: Health,
        *,
        weights: Mapping[str, float] | None = None,
        price: Callable[[str], float | None] | None = None,
        rng: random.Random | None = None,
        explore: float = EXPLORE_RATE,
    ) -> None:
        self.strategy = strategy
        self.health = health
        r = rng or random.Random()
        # Equal weights when none are given: a plain random split.
        w: Mapping[str, float] | None = weights
        cost = price or (lambda _name: None)
        strategies: dict[str, Order] = {
            "ordered": ordered,
            "weighted": lambda names: weighted(
                names, w if w is not None else dict.fromkeys(names, 1.0), r
            ),
            "least_latency": lambda names: least_latency(names, health.latency, r, explore),
            "lowest_cost": lambda names: lowest_cost(names, cost),
        }
        self._order = strategies[strategy]

    @classmethod
    def from_config(
        cls,
        alias: AliasResilience | None,
        defaults: AliasResilience,
        health: Health,
        *,
        price: Callable[[str], float | None] | None = None,
        rng: random.Random | None = None,
    ) -> Router:
        """The router of one alias: its own strategy and weights, else the defaults'."""
        strategy = (alias.strategy if alias else None) or defaults.strategy or "ordered"
        weights = (alias.weights if alias else None) or defaults.weights
        return cls(strategy, health, weights=weights, price=price, rng=rng)

    def order(self, targets: Sequence[T]) -> list[T]:
        """The deployments to try, best first; never empty for a non-empty ``targets``."""
        perm = self._order([t.deployment for t in targets])
        return self.health.order([targets[i] for i in perm])


def schedule(order: Sequence[T], max_attempts: int) -> list[T]:
    """The target of each attempt: the order cycled up to ``max_attempts``
    (``[a, b]`` with 3 attempts → ``[a, b, a]``; ``[a]`` → ``[a, a, a]``)."""
    if not order:
        return []
    return [order[i % len(order)] for i in range(max_attempts)]
