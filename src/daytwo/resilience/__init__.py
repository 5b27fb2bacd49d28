"""Resilience as pure logic: retry policy and retry budget, deadlines, per-deployment health
(circuit breakers, upstream rate-limit awareness) and routing strategies.

No I/O here and no asyncio: every piece takes an injected clock (and random source), so the
pipeline owns the waiting and the tests own time. Imports only ``core`` and ``config``.

::

    policy.py    the defaults (one place), RetryPolicy.should_retry (the one decision), backoff
    budget.py    RetryBudget: retries <= ratio x requests + a minimum, per sliding window
    breaker.py   Health: closed -> open -> half-open per deployment; order() never ejects all
    ratelimit.py upstream retry-after and x-ratelimit-* / anthropic-ratelimit-* headers
    routing.py   ordered, weighted, least_latency, lowest_cost; schedule() of the attempts
"""

from daytwo.resilience.breaker import Attempt, BreakerSettings, Health
from daytwo.resilience.budget import RetryBudget
from daytwo.resilience.policy import Decision, RetryPolicy
from daytwo.resilience.routing import Router, schedule

__all__ = [
    "Attempt",
    "BreakerSettings",
    "Decision",
    "Health",
    "RetryBudget",
    "RetryPolicy",
    "Router",
    "schedule",
]
