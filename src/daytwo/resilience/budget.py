"""The retry budget: retries may add at most ``ratio`` of the traffic, plus a small floor, so a
provider outage never turns into a retry storm (Finagle's ``RetryBudget``, Envoy's
``retry_budget``).

Every request deposits one unit, every retry withdraws one. Both are counted in one-second
buckets over a sliding window of ``window_s`` seconds; a retry is allowed only while, counting
it, the window holds

    retries <= ratio x requests + min_retries

The check is exact integer arithmetic (the ratio is held in parts per million), so the bound is
a guarantee, not an approximation. One event loop uses it: no locking.
"""

from __future__ import annotations

import math
import time
from collections import deque
from collections.abc import Callable

from daytwo.resilience.policy import (
    DEFAULT_BUDGET_MIN_RETRIES,
    DEFAULT_BUDGET_RATIO,
    DEFAULT_BUDGET_WINDOW_S,
)

_PPM = 1_000_000
#: Bucket width: requests and retries are counted per second of the window.
_BUCKET_S = 1.0


class RetryBudget:
    def __init__(
        self,
        ratio: float = DEFAULT_BUDGET_RATIO,
        min_retries: int = DEFAULT_BUDGET_MIN_RETRIES,
        window_s: float = DEFAULT_BUDGET_WINDOW_S,
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if not 0 <= ratio <= 1:
            raise ValueError("ratio must be within 0..1")
        if min_retries < 0:
            raise ValueError("min_retries must be >= 0")
        if window_s < _BUCKET_S:
            raise ValueError(f"window_s must be >= {_BUCKET_S}")
        self.ratio_ppm = round(ratio * _PPM)
        self.min_retries = min_retries
        self._buckets = max(1, math.floor(window_s / _BUCKET_S))
        self._clock = clock
        # (bucket index, requests, retries), oldest first; at most ``_buckets`` entries.
        self._window: deque[list[int]] = deque()
        self._requests = 0
        self._retries = 0

    def _bucket(self) -> list[int]:
        idx = math.floor(self._clock() / _BUCKET_S)
        oldest = idx - self._buckets + 1
        while self._window and self._window[0][0] < oldest:
            _, req, ret = self._window.popleft()
            self._requests -= req
            self._retries -= ret
        if not self._window or self._window[-1][0] != idx:
            self._window.append([idx, 0, 0])
        return self._window[-1]

    def deposit(self) -> None:
        """One request arrived (call once per client request, not per attempt)."""
        self._bucket()[1] += 1
        self._requests += 1

    def can_retry(self) -> bool:
        """Whether one more retry fits, without taking it."""
        self._bucket()
        return (self._retries + 1) * _PPM <= self.ratio_ppm * self._requests + (
            self.min_retries * _PPM
        )

    def try_withdraw(self) -> bool:
        """Take one retry from the budget; False (and nothing taken) when it is spent."""
        if not self.can_retry():
            return False
        self._window[-1][2] += 1
        self._retries += 1
        return True

    def snapshot(self) -> dict[str, int]:
        """Requests and retries in the current window (for the admin API)."""
        self._bucket()
        return {"requests": self._requests, "retries": self._retries}
