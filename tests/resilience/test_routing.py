"""Routing strategies, filtered by health, and the schedule of attempts."""

from __future__ import annotations

import random
from collections import Counter
from dataclasses import dataclass

from tests.resilience.fakes import FakeClock

from daytwo.config.resilience import AliasResilience
from daytwo.core.errors import UpstreamStatusError
from daytwo.resilience.breaker import BreakerSettings, Health
from daytwo.resilience.routing import Router, least_latency, lowest_cost, schedule, weighted


@dataclass(frozen=True)
class T:
    deployment: str


A, B, C = T("a"), T("b"), T("c")


def _health() -> tuple[Health, FakeClock]:
    clock = FakeClock()
    return Health(BreakerSettings(consecutive_failures=2), clock=clock, wall=clock.wall), clock


def test_ordered_is_the_fallback_chain() -> None:
    h, _ = _health()
    assert Router("ordered", h).order([A, B, C]) == [A, B, C]


def test_weighted_split_converges_to_the_weights() -> None:
    rng = random.Random(20260528)
    names = ["a", "b", "c", "z"]
    weights = {"a": 3.0, "b": 1.0, "c": 1.0, "z": 0.0}
    n = 20_000
    firsts: Counter[str] = Counter()
    seconds_after_a: Counter[str] = Counter()
    for _ in range(n):
        perm = [names[i] for i in weighted(names, weights, rng)]
        assert sorted(perm) == sorted(names)  # everything stays available for failover
        assert perm[-1] == "z"  # weight 0: only ever the last resort
        firsts[perm[0]] += 1
        if perm[0] == "a":
            seconds_after_a[perm[1]] += 1
    assert abs(firsts["a"] / n - 0.6) < 0.015
    assert abs(firsts["b"] / n - 0.2) < 0.015
    assert abs(firsts["c"] / n - 0.2) < 0.015
    # failover after a goes to b and c evenly
    assert abs(seconds_after_a["b"] / firsts["a"] - 0.5) < 0.03


def test_weighted_is_deterministic_with_a_seeded_random() -> None:
    h, _ = _health()
    w = {"a": 1.0, "b": 1.0, "c": 1.0}
    one = Router("weighted", h, weights=w, rng=random.Random(5))
    two = Router("weighted", h, weights=w, rng=random.Random(5))
    assert [one.order([A, B, C]) for _ in range(50)] == [two.order([A, B, C]) for _ in range(50)]


def test_least_latency_prefers_the_faster_but_still_explores() -> None:
    latency = {"a": 0.9, "b": 0.2, "c": 0.5}.get
    rng = random.Random(11)
    n = 4000
    firsts = Counter(
        "abc"[least_latency(["a", "b", "c"], latency, rng, explore=0.05)[0]] for _ in range(n)
    )
    assert firsts["b"] / n > 0.93
    # the slower ones still lead now and then, so a recovered one gets measured again
    assert firsts["a"] > 0.01 * n and firsts["c"] > 0.01 * n
    assert least_latency(["a", "b", "c"], latency, random.Random(0), explore=0.0) == [1, 2, 0]


def test_least_latency_measures_the_unmeasured_first_and_reads_health() -> None:
    h, clock = _health()
    for name, seconds in [("a", 0.8), ("b", 0.1)]:
        attempt = h.start(name)
        clock.advance(seconds)
        h.success(attempt)
    router = Router("least_latency", h, rng=random.Random(3), explore=0.0)
    assert router.order([A, B, C]) == [C, B, A]
    attempt = h.start("c")
    clock.advance(0.5)
    h.success(attempt)
    assert router.order([A, B, C]) == [B, C, A]


def test_lowest_cost_first_and_unpriced_last() -> None:
    price = {"a": 5.0, "b": 1.0}.get
    assert lowest_cost(["a", "b", "c"], price) == [1, 0, 2]
    h, _ = _health()
    assert Router("lowest_cost", h, price=price).order([C, A, B]) == [B, A, C]


def test_router_drops_open_breakers_but_never_all() -> None:
    h, _ = _health()
    router = Router("lowest_cost", h, price={"a": 1.0, "b": 2.0}.get)
    for _ in range(2):
        h.failure(h.start("a"), UpstreamStatusError(500, "boom"))
    assert router.order([A, B]) == [B]
    for _ in range(2):
        h.failure(h.start("b"), UpstreamStatusError(500, "boom"))
    assert router.order([A, B]) == [A]  # both open: the one that reopens first


def test_from_config() -> None:
    h, _ = _health()
    defaults = AliasResilience(strategy="lowest_cost")
    assert Router.from_config(None, defaults, h).strategy == "lowest_cost"
    own = AliasResilience(strategy="weighted", weights={"b": 1.0})
    router = Router.from_config(own, defaults, h, rng=random.Random(1))
    assert router.strategy == "weighted"
    assert all(router.order([A, B])[0] == B for _ in range(20))
    assert Router.from_config(None, AliasResilience(), h).strategy == "ordered"


def test_schedule_spreads_the_attempts() -> None:
    assert schedule([A, B, C], 3) == [A, B, C]
    assert schedule([A, B], 3) == [A, B, A]
    assert schedule([A], 3) == [A, A, A]
    assert schedule([A, B, C], 1) == [A]
    assert schedule([], 3) == []
