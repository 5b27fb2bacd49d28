"""Retry defaults in one place, and the one function that decides whether to try again.

The pipeline asks :meth:`RetryPolicy.should_retry` after every failed attempt and gets a
:class:`Decision`: retry or not, how long to wait first, and why (for the log and the ledger).
It never retries

* an error that is not retryable (a caller's 4xx, a refused policy, daytwo's own bug),
* on the same deployment, an error that deployment would repeat (an upstream redirect),
* after the first byte of a streamed answer reached the client,
* past ``max_attempts`` (3 by default: one try, two retries),
* when the wait plus a useful try would not fit in the call's deadline,
* when the same deployment asks (``retry-after``) for a longer wait than ``max_retry_after_s``,
* when the retry budget is spent (see budget.py).

Waits are full-jitter exponential backoff, never shorter than the upstream's ``retry-after``
when the next attempt goes to the same deployment. Failing over to another deployment does
not wait: the ``retry-after`` belongs to the deployment that sent it (``Health`` remembers it).
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from daytwo.core.errors import ProviderError, UpstreamStatusError
from daytwo.resilience.ratelimit import retry_after_s

if TYPE_CHECKING:
    from daytwo.config.resilience import AliasResilience, ResilienceConfig
    from daytwo.resilience.budget import RetryBudget

# -- retries and deadlines (the shape of openai-python's _constants.py) ---------------------

#: Attempts per call, the first included.
DEFAULT_MAX_ATTEMPTS = 3
#: The whole call, every attempt and wait included (the HTTP client's own total timeout).
DEFAULT_DEADLINE_S = 600.0
#: One attempt: a whole answer, or a stream's first chunk.
DEFAULT_TRY_TIMEOUT_S = 300.0
#: A retry is not started with less time than this left before the deadline.
MIN_TRY_S = 1.0
#: Full-jitter backoff: attempt n waits uniform(0, min(MAX, BASE x 2^(n-1))).
DEFAULT_BACKOFF_BASE_S = 0.5
DEFAULT_BACKOFF_MAX_S = 8.0
#: The longest ``retry-after`` daytwo waits out itself before retrying the same deployment;
#: a longer one goes to the client at once (its SDK honours it; a held call helps nobody).
DEFAULT_MAX_RETRY_AFTER_S = 5.0

# -- retry budget ----------------------------------------------------------------------------

#: Retries may add at most this share of the requests ...
DEFAULT_BUDGET_RATIO = 0.2
#: ... plus this many per window, so a quiet gateway can still retry.
DEFAULT_BUDGET_MIN_RETRIES = 10
DEFAULT_BUDGET_WINDOW_S = 10.0

# -- per-deployment health (breaker.py) ------------------------------------------------------

#: This many failures in a row open the breaker.
BREAKER_CONSECUTIVE_FAILURES = 5
#: The error and slow-call rates are taken over the last this-many calls ...
BREAKER_WINDOW_CALLS = 20
#: ... once at least this many are in the window.
BREAKER_MIN_CALLS = 10
BREAKER_ERROR_RATE = 0.5
#: A call (a stream: its first chunk) slower than this is slow ...
BREAKER_SLOW_CALL_S = 30.0
#: ... and this share of slow calls opens the breaker.
BREAKER_SLOW_RATE = 0.8
#: First open period; it doubles on each reopening within BREAKER_MAX_OPEN_S of the last.
BREAKER_OPEN_S = 5.0
BREAKER_MAX_OPEN_S = 300.0
#: Probe calls let through half-open; all must succeed to close.
BREAKER_HALF_OPEN_PROBES = 2
#: A 429 without ``retry-after`` deprioritises the deployment this long.
THROTTLE_S = 1.0
#: Reported quota at or below this share of its limit counts as about to run out.
LOW_QUOTA_RATIO = 0.05
#: Weight of the newest sample in the latency and TTFT moving averages.
EWMA_ALPHA = 0.3
#: Latency samples kept per deployment for p50/p95.
LATENCY_SAMPLES = 200
#: least_latency puts a random other deployment first this often, so it gets measured again.
EXPLORE_RATE = 0.05


def is_retryable(exc: BaseException) -> bool:
    """Whether the same request may succeed on another try (only upstream failures may)."""
    if isinstance(exc, UpstreamStatusError):
        return exc.is_retryable
    return isinstance(exc, ProviderError) and exc.retryable


def retries_on_same_deployment(exc: BaseException) -> bool:
    """Whether a retryable failure may go away on the same deployment (a redirect does not:
    only another deployment is tried)."""
    return not isinstance(exc, ProviderError) or exc.retry_same_deployment


@dataclass(frozen=True, slots=True)
class Decision:
    """The answer of :meth:`RetryPolicy.should_retry`; true when the call should be retried."""

    retry: bool
    #: Seconds to wait before the next attempt (0 when not retrying).
    delay_s: float
    #: ``retry``, ``not_retryable``, ``streamed``, ``attempts``, ``retry_after``, ``deadline``
    #: or ``budget``.
    reason: str

    def __bool__(self) -> bool:
        return self.retry


class RetryPolicy:
    """Retry decisions for one alias. The budget (shared as the caller sees fit) is optional:
    without one, only attempts and the deadline bound the retries."""

    def __init__(
        self,
        *,
        max_attempts: int = DEFAULT_MAX_ATTEMPTS,
        deadline_s: float = DEFAULT_DEADLINE_S,
        try_timeout_s: float = DEFAULT_TRY_TIMEOUT_S,
        backoff_base_s: float = DEFAULT_BACKOFF_BASE_S,
        backoff_max_s: float = DEFAULT_BACKOFF_MAX_S,
        max_retry_after_s: float = DEFAULT_MAX_RETRY_AFTER_S,
        budget: RetryBudget | None = None,
        rng: random.Random | None = None,
        wall: Callable[[], float] = time.time,
    ) -> None:
        if max_attempts < 1:
            raise ValueError("max_attempts must be >= 1")
        self.max_attempts = max_attempts
        self.deadline_s = deadline_s
        self.try_timeout_s = try_timeout_s
        self.backoff_base_s = backoff_base_s
        self.backoff_max_s = backoff_max_s
        self.max_retry_after_s = max_retry_after_s
        self.budget = budget
        self._rng = rng or random.Random()
        self._wall = wall

    @classmethod
    def from_config(
        cls,
        alias: AliasResilience | None,
        config: ResilienceConfig,
        *,
        budget: RetryBudget | None = None,
        rng: random.Random | None = None,
        wall: Callable[[], float] = time.time,
    ) -> RetryPolicy:
        """The policy of one alias: its own settings over ``config.defaults`` over the
        constants above."""
        d = config.defaults

        def pick(name: str, default: float) -> float:
            own = getattr(alias, name) if alias is not None else None
            chosen = own if own is not None else getattr(d, name)
            return default if chosen is None else float(chosen)

        return cls(
            max_attempts=int(pick("max_attempts", DEFAULT_MAX_ATTEMPTS)),
            deadline_s=pick("deadline_s", DEFAULT_DEADLINE_S),
            try_timeout_s=pick("try_timeout_s", DEFAULT_TRY_TIMEOUT_S),
            backoff_base_s=config.backoff_base_s or DEFAULT_BACKOFF_BASE_S,
            backoff_max_s=config.backoff_max_s or DEFAULT_BACKOFF_MAX_S,
            max_retry_after_s=config.max_retry_after_s or DEFAULT_MAX_RETRY_AFTER_S,
            budget=budget,
            rng=rng,
            wall=wall,
        )

    def begin(self) -> None:
        """A client request arrived: deposit it in the retry budget (once per request)."""
        if self.budget is not None:
            self.budget.deposit()

    def try_timeout(self, elapsed: float, deadline: float | None = None) -> float:
        """The timeout for the next attempt: the per-try timeout, cut to what the deadline
        leaves (0 when nothing is left)."""
        left = (self.deadline_s if deadline is None else deadline) - elapsed
        return max(0.0, min(self.try_timeout_s, left))

    def backoff(self, attempt: int, retry_after: float | None = None) -> float:
        """The wait before attempt ``attempt + 1``: full jitter, at least ``retry_after``."""
        cap = min(self.backoff_max_s, self.backoff_base_s * 2 ** max(0, attempt - 1))
        wait = self._rng.uniform(0.0, cap)
        return max(wait, retry_after or 0.0)

    def should_retry(
        self,
        exc: BaseException,
        attempt: int,
        elapsed: float,
        deadline: float | None = None,
        *,
        same_deployment: bool = True,
        streamed: bool = False,
    ) -> Decision:
        """Decide after attempt number ``attempt`` (1 = the first) failed with ``exc``,
        ``elapsed`` seconds into a call whose deadline is ``deadline`` seconds (default: the
        policy's). ``same_deployment``: the next attempt goes where this one went.
        ``streamed``: a byte of this call already reached the client.

        A positive decision has taken one retry from the budget: call this once per failure.
        """
        if streamed:
            return Decision(False, 0.0, "streamed")
        if not is_retryable(exc):
            return Decision(False, 0.0, "not_retryable")
        if same_deployment and not retries_on_same_deployment(exc):
            return Decision(False, 0.0, "not_retryable")
        if attempt >= self.max_attempts:
            return Decision(False, 0.0, "attempts")
        delay = 0.0
        if same_deployment:
            headers = exc.headers if isinstance(exc, ProviderError) else {}
            asked = retry_after_s(headers, self._wall())
            if asked is not None and asked > self.max_retry_after_s:
                return Decision(False, 0.0, "retry_after")
            delay = self.backoff(attempt, asked)
        limit = self.deadline_s if deadline is None else deadline
        if elapsed + delay + MIN_TRY_S > limit:
            return Decision(False, 0.0, "deadline")
        # Last, so that a refused retry for another reason takes nothing from the budget.
        if self.budget is not None and not self.budget.try_withdraw():
            return Decision(False, 0.0, "budget")
        return Decision(True, delay, "retry")
