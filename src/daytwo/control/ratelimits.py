"""Rate limits: requests per minute, tokens per minute and concurrent requests, per scope.

RPM and TPM use a **fixed window of one UTC minute** per scope (one counter per minute, keyed by
the minute's start). It is exact and cheap, and its reset time is a fact a client can act on;
the trade-off is that a client may burst up to twice the limit across a minute boundary.
All counters of one call are checked and incremented in one atomic State operation, so a refusal
counts nothing anywhere. TPM counts the call's worst case at admission (input + output cap) and
is corrected to the actual tokens at :meth:`RateLimiter.settle_tokens`.

Concurrency uses leases: ``admit`` takes a lease (id = the call id) on every concurrency-limited
scope, ``finish`` gives it back. ``finish`` must run in a ``finally`` (errors, timeouts,
cancellations); it is idempotent. A lease also lapses by itself ``lease_s`` after admission, so a
crashed replica's calls stop counting -- ``lease_s`` must exceed the longest call deadline.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

from daytwo.control.scopes import Scope, Subject
from daytwo.control.windows import Clock, minute_window, system_clock
from daytwo.core.errors import RateLimited
from daytwo.state.base import RateLine, State

DEFAULT_LEASE_S = 600.0
#: Limit keys kept per limit, scope and minute (cleared when it grows past this).
_KEY_CACHE = 50_000
#: How long a minute's counter outlives its minute (seconds).
RATE_TTL_S = _RATE_TTL_S = 120.0


@dataclass(frozen=True, slots=True)
class RateLimit:
    name: str
    scope: Scope
    rpm: int | None = None
    tpm: int | None = None
    concurrent: int | None = None

    def __post_init__(self) -> None:
        if self.rpm is None and self.tpm is None and self.concurrent is None:
            raise ValueError(f"rate limit {self.name!r}: set rpm, tpm or concurrent")


@dataclass(slots=True)
class Admission:
    call_id: str
    tokens: int
    tpm_keys: tuple[str, ...]
    lease_keys: tuple[str, ...]
    headers: dict[str, str] = field(default_factory=dict)
    finished: bool = False


@dataclass(slots=True)
class RatePlan:
    """The counters and leases one call takes, computed for the instant ``now``."""

    now: float
    reset_at: float
    lines: list[RateLine] = field(default_factory=list)
    kinds: list[tuple[str, RateLimit, str]] = field(default_factory=list)
    leases: list[tuple[str, int]] = field(default_factory=list)
    lease_of: list[tuple[RateLimit, str]] = field(default_factory=list)


def _reset(seconds: float) -> str:
    return f"{max(0, math.ceil(seconds))}s"


class RateLimiter:
    def __init__(
        self,
        state: State,
        limits: Sequence[RateLimit],
        *,
        clock: Clock = system_clock,
        lease_s: float = DEFAULT_LEASE_S,
    ) -> None:
        self.state = state
        self.limits = tuple(limits)
        self.clock = clock
        self.lease_s = lease_s
        self._keys: dict[
            tuple[str, str, int], tuple[RateLine | None, str | None, str | None, RateLimit]
        ] = {}

    def plan(self, subject: Subject, tokens: int, *, extra: Sequence[RateLimit] = ()) -> RatePlan:
        """The counters and leases one call takes (``extra``: limits of the call's own)."""
        now = self.clock()
        w = minute_window(now)
        plan = RatePlan(now, w.end)
        for lim in (*self.limits, *extra) if extra else self.limits:
            key = lim.scope.resolve(subject)
            if key is None:
                continue
            rpm_line, tpm_key, lease_key = self._keys_for(lim, key, w.id)
            if rpm_line is not None:
                plan.lines.append(rpm_line)
                plan.kinds.append(("requests", lim, key))
            if tpm_key is not None:
                plan.lines.append(RateLine(tpm_key, lim.tpm or 0, tokens, _RATE_TTL_S))
                plan.kinds.append(("tokens", lim, key))
            if lease_key is not None:
                plan.leases.append((lease_key, lim.concurrent or 0))
                plan.lease_of.append((lim, key))
        return plan

    def _keys_for(
        self, lim: RateLimit, key: str, minute: int
    ) -> tuple[RateLine | None, str | None, str | None]:
        """The RPM line and the TPM and lease keys of one limit and scope in one minute (cached:
        building them is string work on every call)."""
        k = (lim.name, key, minute)
        got = self._keys.get(k)
        if got is None or got[3] is not lim:
            if len(self._keys) > _KEY_CACHE:
                self._keys.clear()
            rpm = (
                None
                if lim.rpm is None
                else RateLine(f"rl:{lim.name}:{key}:r:{minute}", lim.rpm, 1, _RATE_TTL_S)
            )
            tpm = None if lim.tpm is None else f"rl:{lim.name}:{key}:t:{minute}"
            lease = None if lim.concurrent is None else f"rl:{lim.name}:{key}:c"
            got = self._keys[k] = (rpm, tpm, lease, lim)
        return got[0], got[1], got[2]

    def admission(self, call_id: str, plan: RatePlan, values: Sequence[int]) -> Admission:
        """What an admitted call holds, with its ``x-ratelimit-*`` headers."""
        headers = (
            _headers(plan.lines, plan.kinds, values, plan.reset_at - plan.now, refused=False)
            if plan.lines
            else {}
        )
        tpm_keys = tuple(
            ln.key for ln, (k, _, _) in zip(plan.lines, plan.kinds, strict=True) if k == "tokens"
        )
        tokens = next((ln.amount for ln in plan.lines if ln.key in tpm_keys), 0)
        return Admission(call_id, tokens, tpm_keys, tuple(k for k, _ in plan.leases), headers)

    def rate_refusal(self, plan: RatePlan, index: int, values: Sequence[int]) -> RateLimited:
        kind, lim, key = plan.kinds[index]
        line = plan.lines[index]
        return RateLimited(
            f"Rate limit `{lim.name}` for scope `{key}`: {line.limit} {kind} per minute.",
            scope=key,
            limit=line.limit,
            spend=values[index],
            unit=kind,
            reset_at=plan.reset_at,
            now=plan.now,
            code=f"{kind}_per_minute",
            headers=_headers(
                plan.lines, plan.kinds, values, plan.reset_at - plan.now, refused=True
            ),
        )

    def lease_refusal(self, plan: RatePlan, index: int, counts: Sequence[int]) -> RateLimited:
        lim, key = plan.lease_of[index]
        return RateLimited(
            f"Rate limit `{lim.name}` for scope `{key}`: {lim.concurrent} concurrent requests.",
            scope=key,
            limit=lim.concurrent,
            spend=counts[index],
            unit="requests",
            reset_at=plan.now + 1,
            now=plan.now,
            code="concurrent_requests",
        )

    async def admit(
        self, call_id: str, subject: Subject, tokens: int, *, extra: Sequence[RateLimit] = ()
    ) -> Admission:
        """Count one request and ``tokens`` and take a concurrency lease, or raise
        :class:`~daytwo.core.errors.RateLimited` having counted nothing."""
        plan = self.plan(subject, tokens, extra=extra)
        values: tuple[int, ...] = ()
        if plan.lines:
            out = await self.state.hit(plan.lines)
            if not out.ok:
                assert out.failed is not None
                raise self.rate_refusal(plan, out.failed, out.values)
            values = out.values
        if plan.leases:
            got = await self.state.lease_acquire(
                plan.leases, call_id, now=plan.now, expires_at=plan.now + self.lease_s
            )
            if not got.ok:
                assert got.failed is not None
                for ln in plan.lines:  # give back what this call counted: a refusal costs nothing
                    await self.state.adjust(ln.key, -ln.amount, ttl_s=_RATE_TTL_S)
                raise self.lease_refusal(plan, got.failed, got.counts)
        return self.admission(call_id, plan, values)

    async def settle_tokens(self, admission: Admission, actual_tokens: int) -> None:
        """Correct TPM from the admitted estimate to the actual token count."""
        delta = actual_tokens - admission.tokens
        if delta and admission.tpm_keys:
            for key in admission.tpm_keys:
                await self.state.adjust(key, delta, ttl_s=_RATE_TTL_S)
            admission.tokens = actual_tokens

    async def finish(self, admission: Admission) -> None:
        """Give back the concurrency lease. Idempotent; call it in ``finally``."""
        if admission.finished:
            return
        admission.finished = True
        if admission.lease_keys:
            await self.state.lease_release(admission.lease_keys, admission.call_id)

    async def in_flight(self, limit: RateLimit, scope_key: str) -> int:
        return await self.state.lease_count(f"rl:{limit.name}:{scope_key}:c", now=self.clock())


def _headers(
    lines: Sequence[RateLine],
    kinds: Sequence[tuple[str, RateLimit, str]],
    values: Sequence[int],
    reset_s: float,
    *,
    refused: bool,
) -> dict[str, str]:
    """``x-ratelimit-*`` for the tightest requests and tokens limits (OpenAI's header names)."""
    best: dict[str, tuple[int, int]] = {}
    for ln, (kind, _, _), v in zip(lines, kinds, values, strict=True):
        left = max(0, ln.limit - v)
        if kind not in best or left < best[kind][1]:
            best[kind] = (ln.limit, left)
    out: dict[str, str] = {}
    for kind, (limit, left) in best.items():
        out[f"x-ratelimit-limit-{kind}"] = str(limit)
        out[f"x-ratelimit-remaining-{kind}"] = str(0 if refused and left == 0 else left)
        out[f"x-ratelimit-reset-{kind}"] = _reset(reset_s)
    return out
