"""The one retry decision: what is retried, how long it waits, and what stops it."""

from __future__ import annotations

import random
from email.utils import formatdate

import pytest
from tests.resilience.fakes import FakeClock

from daytwo.config.resilience import AliasResilience, ResilienceConfig
from daytwo.core.errors import (
    InvalidRequest,
    RateLimited,
    UpstreamRedirect,
    UpstreamStatusError,
    UpstreamTimeout,
    UpstreamUnavailable,
)
from daytwo.resilience.budget import RetryBudget
from daytwo.resilience.policy import (
    DEFAULT_BACKOFF_MAX_S,
    DEFAULT_DEADLINE_S,
    DEFAULT_MAX_ATTEMPTS,
    RetryPolicy,
    is_retryable,
)


def _policy(**kw: object) -> RetryPolicy:
    return RetryPolicy(rng=random.Random(7), **kw)  # type: ignore[arg-type]


def _status(code: int, **headers: str) -> UpstreamStatusError:
    return UpstreamStatusError(code, "upstream said no", headers=headers)


@pytest.mark.parametrize(
    ("exc", "retryable"),
    [
        (_status(429), True),
        (_status(500), True),
        (_status(503), True),
        (_status(408), True),
        (_status(400), False),
        (_status(401), False),
        (_status(404), False),
        (UpstreamTimeout("slow"), True),
        (UpstreamUnavailable("refused"), True),
        # our own refusals and foreign exceptions are never retried
        (InvalidRequest("bad"), False),
        (RateLimited("budget", scope="project=a"), False),
        (ValueError("bug"), False),
    ],
)
def test_what_is_retryable(exc: BaseException, retryable: bool) -> None:
    assert is_retryable(exc) is retryable
    assert bool(_policy().should_retry(exc, 1, 0.0)) is retryable


def test_a_redirect_goes_to_another_deployment_never_back_to_the_same() -> None:
    p = _policy()
    redirect = UpstreamRedirect(307)
    assert is_retryable(redirect)  # another deployment may answer
    same = p.should_retry(redirect, 1, 0.0, same_deployment=True)
    assert (same.retry, same.reason) == (False, "not_retryable")
    other = p.should_retry(redirect, 1, 0.0, same_deployment=False)
    assert (other.retry, other.reason) == (True, "retry")
    assert (redirect.status, redirect.code, redirect.upstream_status) == (
        502,
        "upstream_redirect",
        307,
    )


def test_three_attempts_by_default() -> None:
    p = _policy()
    assert DEFAULT_MAX_ATTEMPTS == 3
    assert p.should_retry(_status(503), 1, 0.0).retry
    assert p.should_retry(_status(503), 2, 1.0).retry
    assert p.should_retry(_status(503), 3, 2.0).reason == "attempts"


def test_never_after_the_first_streamed_byte() -> None:
    d = _policy().should_retry(_status(503), 1, 0.0, streamed=True)
    assert (d.retry, d.reason) == (False, "streamed")


def test_full_jitter_backoff_is_bounded_and_spread() -> None:
    p = _policy(backoff_base_s=0.5, backoff_max_s=4.0)
    for attempt, cap in [(1, 0.5), (2, 1.0), (3, 2.0), (4, 4.0), (9, 4.0)]:
        waits = [p.backoff(attempt) for _ in range(500)]
        assert all(0.0 <= w <= cap for w in waits)
        # full jitter: spread over the whole range, not clustered at the cap
        assert min(waits) < 0.1 * cap and max(waits) > 0.9 * cap


def test_backoff_never_shorter_than_retry_after() -> None:
    clock = FakeClock()
    p = RetryPolicy(rng=random.Random(1), wall=clock.wall, max_retry_after_s=60)
    for headers, floor in [
        ({"retry-after": "7"}, 7.0),
        ({"retry-after-ms": "1500"}, 1.5),
        ({"retry-after": formatdate(clock.wall() + 12, usegmt=True)}, 12.0),
    ]:
        for _ in range(100):
            d = p.should_retry(_status(429, **headers), 1, 0.0)
            assert d.retry and floor - 1e-6 <= d.delay_s <= max(floor, DEFAULT_BACKOFF_MAX_S)


def test_a_long_retry_after_goes_to_the_client() -> None:
    p = RetryPolicy(rng=random.Random(1), max_retry_after_s=5)
    assert p.should_retry(_status(429, **{"retry-after": "5"}), 1, 0.0).retry
    d = p.should_retry(_status(429, **{"retry-after": "6"}), 1, 0.0)
    assert (d.retry, d.reason) == (False, "retry_after")
    # ... but failing over to another deployment does not wait for it
    assert p.should_retry(_status(429, **{"retry-after": "6"}), 1, 0.0, same_deployment=False)


def test_the_deadline_is_never_passed() -> None:
    p = _policy(max_retry_after_s=60)
    # the upstream asks for 30 s but only 15 s are left: no retry on the same deployment ...
    d = p.should_retry(_status(429, **{"retry-after": "30"}), 1, 5.0, 20.0)
    assert (d.retry, d.reason) == (False, "deadline")
    # ... but failing over to another deployment does not wait for it
    d = p.should_retry(_status(429, **{"retry-after": "30"}), 1, 5.0, 20.0, same_deployment=False)
    assert (d.retry, d.delay_s) == (True, 0.0)
    # nothing useful left
    assert p.should_retry(_status(503), 1, 19.5, 20.0, same_deployment=False).reason == "deadline"
    assert p.should_retry(_status(503), 1, 0.0).retry  # default deadline
    assert p.should_retry(_status(503), 1, DEFAULT_DEADLINE_S).reason == "deadline"


def test_try_timeout_fits_in_the_deadline() -> None:
    p = _policy(deadline_s=60.0, try_timeout_s=25.0)
    assert p.try_timeout(0.0) == 25.0
    assert p.try_timeout(50.0) == 10.0
    assert p.try_timeout(70.0) == 0.0
    assert p.try_timeout(5.0, 10.0) == 5.0


def test_a_spent_budget_stops_retries_and_only_real_retries_spend_it() -> None:
    clock = FakeClock()
    budget = RetryBudget(0.0, 2, 10, clock=clock)
    p = _policy(budget=budget)
    p.begin()
    # refused for other reasons: nothing is taken
    assert not p.should_retry(_status(400), 1, 0.0)
    assert not p.should_retry(_status(503), 3, 0.0)
    assert not p.should_retry(_status(503), 1, 0.0, streamed=True)
    assert p.should_retry(_status(503), 1, 0.0, same_deployment=False).retry
    assert p.should_retry(_status(503), 1, 0.0, same_deployment=False).retry
    d = p.should_retry(_status(503), 1, 0.0, same_deployment=False)
    assert (d.retry, d.reason) == (False, "budget")
    assert budget.snapshot() == {"requests": 1, "retries": 2}


def test_from_config_alias_over_defaults_over_constants() -> None:
    cfg = ResilienceConfig(
        defaults=AliasResilience(deadline_s=90, max_attempts=2),
        aliases={"fast": AliasResilience(deadline_s=10, try_timeout_s=4)},
        backoff_max_s=2,
    )
    fast = RetryPolicy.from_config(cfg.for_alias("fast"), cfg)
    assert (fast.deadline_s, fast.try_timeout_s, fast.max_attempts) == (10.0, 4.0, 2)
    assert fast.backoff_max_s == 2.0
    other = RetryPolicy.from_config(cfg.for_alias("other"), cfg)
    assert (other.deadline_s, other.max_attempts) == (90.0, 2)
    plain = RetryPolicy.from_config(None, ResilienceConfig())
    assert (plain.max_attempts, plain.deadline_s) == (DEFAULT_MAX_ATTEMPTS, DEFAULT_DEADLINE_S)
