"""Per-deployment health: circuit breakers, upstream throttling, and the latency figures that
routing and the admin API read.

Each deployment's breaker is

* **closed** -- calls flow; it opens on ``consecutive_failures`` failures in a row, or, once
  ``min_calls`` are in the window of the last ``window_calls``, on an error rate or a slow-call
  rate at or above its threshold;
* **open** -- no calls for ``open_s``, doubled on each reopening (up to ``max_open_s``): a
  failed probe, or a trip within ``max_open_s`` of the last recovery;
* **half-open** -- ``half_open_probes`` calls are let through; all succeed → closed (with a
  fresh window), one fails or is slow → open again.

What counts: a 5xx, a timeout, a broken connection or body, and a 429 are failures (a 429
storm opens the breaker: the deployment is saturated). A 429, any ``retry-after``, and reported
quota about to run out (``x-ratelimit-remaining-*``, ``anthropic-ratelimit-*-remaining``) also
*throttle* the deployment until the upstream says it refills: :meth:`Health.order` moves it
behind the others. A caller's own bad request (400, 413, 422) says nothing about the deployment.

:meth:`Health.order` never ejects every deployment of an alias: when all are open, the one
whose open period ends first is kept. Latency of a streamed call is its time to first chunk
(the pipeline reports success when the first chunk arrives).

The pipeline calls, per attempt::

    attempt = health.start(target.deployment)
    ... health.success(attempt, headers=..., ttft_s=...)   or   health.failure(attempt, exc)
    ... or health.cancel(attempt) when the client went away first
"""

from __future__ import annotations

import math
import time
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, fields
from typing import TYPE_CHECKING, Literal, Protocol, TypeVar

from daytwo.core.errors import DaytwoError, ProviderError, UpstreamStatusError
from daytwo.resilience.policy import (
    BREAKER_CONSECUTIVE_FAILURES,
    BREAKER_ERROR_RATE,
    BREAKER_HALF_OPEN_PROBES,
    BREAKER_MAX_OPEN_S,
    BREAKER_MIN_CALLS,
    BREAKER_OPEN_S,
    BREAKER_SLOW_CALL_S,
    BREAKER_SLOW_RATE,
    BREAKER_WINDOW_CALLS,
    EWMA_ALPHA,
    LATENCY_SAMPLES,
    LOW_QUOTA_RATIO,
    THROTTLE_S,
)
from daytwo.resilience.ratelimit import Quota, read_quota, retry_after_s

if TYPE_CHECKING:
    from daytwo.config.resilience import BreakerConfig

State = Literal["closed", "open", "half_open"]

#: Upstream statuses that are the caller's fault: the deployment answered correctly.
_CALLER_STATUSES = frozenset({400, 413, 422})


class Deployed(Protocol):
    """Anything routed to a deployment (``providers.base.Target`` is one)."""

    @property
    def deployment(self) -> str: ...


T = TypeVar("T", bound=Deployed)


@dataclass(frozen=True, slots=True)
class BreakerSettings:
    consecutive_failures: int = BREAKER_CONSECUTIVE_FAILURES
    window_calls: int = BREAKER_WINDOW_CALLS
    min_calls: int = BREAKER_MIN_CALLS
    error_rate: float = BREAKER_ERROR_RATE
    slow_call_s: float = BREAKER_SLOW_CALL_S
    slow_rate: float = BREAKER_SLOW_RATE
    open_s: float = BREAKER_OPEN_S
    max_open_s: float = BREAKER_MAX_OPEN_S
    half_open_probes: int = BREAKER_HALF_OPEN_PROBES
    low_quota_ratio: float = LOW_QUOTA_RATIO

    @classmethod
    def from_config(cls, cfg: BreakerConfig) -> BreakerSettings:
        """The configured thresholds over the defaults."""
        given = {f.name: getattr(cfg, f.name) for f in fields(cls)}
        return cls(**{k: v for k, v in given.items() if v is not None})


@dataclass(slots=True)
class Attempt:
    """One call to one deployment, from :meth:`Health.start` to its outcome."""

    deployment: str
    started: float
    #: True when this call is one of a half-open breaker's probes.
    probe: bool
    done: bool = False


@dataclass(slots=True)
class _Deployment:
    state: State = "closed"
    consecutive: int = 0
    #: (failed, slow) of the most recent calls while closed.
    window: deque[tuple[bool, bool]] = field(default_factory=deque)
    #: Failed and slow calls in ``window`` (kept with it: no scan per call).
    errors: int = 0
    slows: int = 0
    latencies: deque[float] = field(default_factory=lambda: deque(maxlen=LATENCY_SAMPLES))
    latency_ewma: float | None = None
    ttft_ewma: float | None = None
    open_until: float = 0.0
    openings: int = 0
    recovered_at: float | None = None
    probes_started: int = 0
    probes_ok: int = 0
    #: Until when the deployment is deprioritised (429, retry-after, quota running out).
    throttled_until: float = 0.0
    quota: Quota | None = None


@dataclass(frozen=True, slots=True)
class DeploymentSnapshot:
    """One deployment's health as ``GET /admin/providers`` shows it."""

    deployment: str
    state: State
    consecutive_failures: int
    #: Calls in the window, and the shares of them that failed / were slow.
    window_calls: int
    error_rate: float
    slow_rate: float
    p50_ms: float | None
    p95_ms: float | None
    latency_ewma_ms: float | None
    ttft_ewma_ms: float | None
    #: Seconds until an open breaker goes half-open (0 when not open).
    open_for_s: float
    openings: int
    #: Seconds the deployment stays deprioritised (0: not throttled).
    throttled_for_s: float
    remaining_requests: int | None
    remaining_tokens: int | None


def _ewma(old: float | None, sample: float) -> float:
    return sample if old is None else old + EWMA_ALPHA * (sample - old)


def _percentile(sorted_ms: list[float], q: float) -> float | None:
    if not sorted_ms:
        return None
    # nearest rank
    rank = max(1, -(-len(sorted_ms) * q // 100))
    return sorted_ms[int(rank) - 1]


class Health:
    """The health of every deployment a runtime routes to (keyed by deployment id)."""

    def __init__(
        self,
        settings: BreakerSettings | None = None,
        *,
        clock: Callable[[], float] = time.monotonic,
        wall: Callable[[], float] = time.time,
    ) -> None:
        self.settings = settings or BreakerSettings()
        self._clock = clock
        self._wall = wall
        self._deps: dict[str, _Deployment] = {}

    def _dep(self, name: str) -> _Deployment:
        d = self._deps.get(name)
        if d is None:
            d = self._deps[name] = _Deployment(window=deque(maxlen=self.settings.window_calls))
        return d

    def _state(self, d: _Deployment, now: float) -> State:
        if d.state == "open" and now >= d.open_until:
            d.state = "half_open"
            d.probes_started = d.probes_ok = 0
        return d.state

    def state(self, deployment: str) -> State:
        return self._state(self._dep(deployment), self._clock())

    # -- outcomes ----------------------------------------------------------------------------

    def start(self, deployment: str) -> Attempt:
        """An attempt on ``deployment`` begins now (a half-open breaker's free probe slot is
        taken by it)."""
        now = self._clock()
        d = self._dep(deployment)
        probe = (
            self._state(d, now) == "half_open" and d.probes_started < self.settings.half_open_probes
        )
        if probe:
            d.probes_started += 1
        return Attempt(deployment, now, probe)

    def success(
        self,
        attempt: Attempt,
        *,
        ttft_s: float | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        """The attempt answered (a stream: its first chunk arrived)."""
        if attempt.done:
            return
        attempt.done = True
        now = self._clock()
        d = self._dep(attempt.deployment)
        latency = now - attempt.started
        d.latencies.append(latency)
        d.latency_ewma = _ewma(d.latency_ewma, latency)
        if ttft_s is not None:
            d.ttft_ewma = _ewma(d.ttft_ewma, ttft_s)
        if headers:
            self.observe(attempt.deployment, headers)
        slow = latency >= self.settings.slow_call_s
        self._outcome(d, attempt, now, failed=False, slow=slow)

    def failure(self, attempt: Attempt, exc: BaseException) -> None:
        """The attempt failed with ``exc``; what that says about the deployment is decided
        here (see the module docstring)."""
        if attempt.done:
            return
        attempt.done = True
        now = self._clock()
        d = self._dep(attempt.deployment)
        headers = exc.headers if isinstance(exc, DaytwoError) else {}
        if headers:
            self.observe(attempt.deployment, headers)
            wait = retry_after_s(headers, self._wall())
            if wait is not None:
                d.throttled_until = max(d.throttled_until, now + wait)
        status = exc.upstream_status if isinstance(exc, UpstreamStatusError) else None
        if status == 429:
            if not headers or retry_after_s(headers, self._wall()) is None:
                d.throttled_until = max(d.throttled_until, now + THROTTLE_S)
            # A storm of 429s opens the breaker too: the deployment is saturated, and more
            # calls only lengthen its queue.
            self._outcome(d, attempt, now, failed=True, slow=False)
        elif not isinstance(exc, ProviderError) or status in _CALLER_STATUSES:
            # Not the deployment's doing: it neither proves nor disproves its health.
            self._release_probe(d, attempt)
        else:
            self._outcome(d, attempt, now, failed=True, slow=False)

    def cancel(self, attempt: Attempt) -> None:
        """The attempt ended without an outcome (the client went away)."""
        if attempt.done:
            return
        attempt.done = True
        self._release_probe(self._dep(attempt.deployment), attempt)

    def observe(self, deployment: str, headers: Mapping[str, str]) -> None:
        """Read the upstream's reported quota from an answer's headers."""
        quota = read_quota(headers, self._wall())
        if quota is None:
            return
        d = self._dep(deployment)
        d.quota = quota
        refill = quota.exhausting(self.settings.low_quota_ratio)
        if refill is not None:
            d.throttled_until = max(d.throttled_until, self._clock() + (refill or THROTTLE_S))

    def _release_probe(self, d: _Deployment, attempt: Attempt) -> None:
        if attempt.probe and d.state == "half_open":
            d.probes_started -= 1

    def _outcome(
        self, d: _Deployment, attempt: Attempt, now: float, *, failed: bool, slow: bool
    ) -> None:
        s = self.settings
        if attempt.probe:
            if d.state != "half_open":
                return
            if failed or slow:
                self._open(d, now, reopening=True)
                return
            d.probes_ok += 1
            if d.probes_ok >= s.half_open_probes:
                d.state = "closed"
                d.window.clear()
                d.errors = d.slows = 0
                d.consecutive = 0
                d.recovered_at = now
            return
        if self._state(d, now) != "closed":
            return  # a call started before the breaker opened: its outcome is stale
        window = d.window
        if window.maxlen is not None and len(window) == window.maxlen:
            old_failed, old_slow = window[0]
            d.errors -= old_failed
            d.slows -= old_slow
        window.append((failed, slow))
        d.errors += failed
        d.slows += slow
        d.consecutive = d.consecutive + 1 if failed else 0
        if d.consecutive >= s.consecutive_failures:
            self._open(d, now)
            return
        n = len(d.window)
        if n >= s.min_calls and (d.errors >= s.error_rate * n or d.slows >= s.slow_rate * n):
            self._open(d, now)

    def _open(self, d: _Deployment, now: float, *, reopening: bool = False) -> None:
        s = self.settings
        recent = d.recovered_at is not None and now - d.recovered_at < s.max_open_s
        d.openings = d.openings + 1 if reopening or recent else 1
        d.open_until = now + min(s.open_s * 2 ** (d.openings - 1), s.max_open_s)
        d.state = "open"
        d.window.clear()
        d.errors = d.slows = 0
        d.consecutive = 0

    # -- routing -----------------------------------------------------------------------------

    def latency(self, deployment: str) -> float | None:
        """The moving average routing compares: time to first token when streams reported
        one, else the whole call's latency (None: never measured)."""
        d = self._deps.get(deployment)
        if d is None:
            return None
        return d.ttft_ewma if d.ttft_ewma is not None else d.latency_ewma

    def order(self, targets: Sequence[T]) -> list[T]:
        """``targets`` (already in the strategy's order) with open breakers ejected and
        throttled deployments moved last (soonest refill first) -- but never none of them."""
        now = self._clock()
        ready: list[T] = []
        throttled: list[tuple[float, int, T]] = []
        ejected: list[tuple[int, float, int, T]] = []
        for i, t in enumerate(targets):
            d = self._deps.get(t.deployment)
            if d is None:
                ready.append(t)
                continue
            st = self._state(d, now)
            if st == "open" or (
                st == "half_open" and d.probes_started >= self.settings.half_open_probes
            ):
                ejected.append((0 if st == "half_open" else 1, d.open_until, i, t))
            elif d.throttled_until > now:
                throttled.append((d.throttled_until, i, t))
            else:
                ready.append(t)
        out = ready + [t for _, _, t in sorted(throttled, key=lambda e: e[:2])]
        if not out and ejected:
            # The last deployment is never ejected: keep the least bad one.
            out.append(min(ejected, key=lambda e: e[:3])[3])
        return out

    def available_in(self, deployments: Sequence[str]) -> float:
        """Seconds until one of ``deployments`` takes calls freely again (0: one does now):
        what a client that got the last failure is told to wait (``retry-after``)."""
        now = self._clock()
        best = math.inf
        for name in deployments:
            d = self._deps.get(name)
            if d is None:
                return 0.0
            st = self._state(d, now)
            if st == "open":
                wait = d.open_until - now
            elif st == "half_open":
                full = d.probes_started >= self.settings.half_open_probes
                wait = THROTTLE_S if full else 0.0
            else:
                wait = max(0.0, d.throttled_until - now)
            best = min(best, wait)
        return 0.0 if best == math.inf else best

    # -- admin -------------------------------------------------------------------------------

    def snapshot(self) -> list[DeploymentSnapshot]:
        """Every known deployment's health, by deployment id."""
        now = self._clock()
        out = []
        for name in sorted(self._deps):
            d = self._deps[name]
            st = self._state(d, now)
            n = len(d.window)
            ms = sorted(x * 1000 for x in d.latencies)
            q = d.quota
            out.append(
                DeploymentSnapshot(
                    deployment=name,
                    state=st,
                    consecutive_failures=d.consecutive,
                    window_calls=n,
                    error_rate=d.errors / n if n else 0.0,
                    slow_rate=d.slows / n if n else 0.0,
                    p50_ms=_percentile(ms, 50),
                    p95_ms=_percentile(ms, 95),
                    latency_ewma_ms=None if d.latency_ewma is None else d.latency_ewma * 1000,
                    ttft_ewma_ms=None if d.ttft_ewma is None else d.ttft_ewma * 1000,
                    open_for_s=max(0.0, d.open_until - now) if st == "open" else 0.0,
                    openings=d.openings,
                    throttled_for_s=max(0.0, d.throttled_until - now),
                    remaining_requests=q.requests.remaining if q and q.requests else None,
                    remaining_tokens=q.tokens.remaining if q and q.tokens else None,
                )
            )
        return out
