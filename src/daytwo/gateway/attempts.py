"""Stage 6, calling the upstream: the attempt loop every call runs (the alias's router order,
retries and failover as its policy allows, per-try timeouts inside the call's deadline, the
breakers told every outcome), and the guards a relayed stream is read through."""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import TypeVar

from daytwo.core.errors import ProviderError, UpstreamTimeout
from daytwo.core.record import AttemptRecord
from daytwo.core.types import LLMRequest, StreamChunk, Usage
from daytwo.gateway.adjust import adjust
from daytwo.gateway.call import Call
from daytwo.gateway.runtime import Route
from daytwo.providers.base import Adapter, Target
from daytwo.resilience.routing import schedule

R = TypeVar("R")


async def run_attempts(
    call: Call,
    route: Route,
    once: Callable[[Adapter, LLMRequest, Target], Awaitable[R]],
    rate_headers: Callable[[R], dict[str, str] | None],
) -> R:
    """Run ``once`` on the route's deployments in the order the alias's router chose,
    retrying as its policy allows: per-try timeouts inside the call's deadline, backoff
    that honours ``retry-after``, the shared retry budget, breakers told every outcome.
    Failed attempts are kept for the ledger; the last failure is raised."""
    assert call.request is not None
    runtime = call.runtime
    res = runtime.resilience
    plan = res.plans[route.alias]
    policy, health = plan.policy, res.health
    policy.begin()
    tries = schedule(plan.router.order(route.targets), policy.max_attempts)
    for i, target in enumerate(tries):
        n = i + 1
        limit = policy.try_timeout(time.perf_counter() - call.t0)
        call.target = target
        call.attempts = n
        dep = route.adjusted.get(target.deployment)
        req = adjust(call.request, dep) if dep is not None else call.request
        attempt = health.start(target.deployment)
        started, t_try = time.time(), time.perf_counter()
        try:
            async with asyncio.timeout(limit):
                result = await once(runtime.adapters[target.provider], req, target)
        except TimeoutError:
            exc: ProviderError = UpstreamTimeout(
                f"upstream did not answer within {limit:.3g} s (the per-try timeout)"
            )
        except ProviderError as failed:
            exc = failed
        except BaseException:
            health.cancel(attempt)
            raise
        else:
            # A stream's latency here is its time to first chunk.
            ttft = time.perf_counter() - t_try if call.stream else None
            health.success(attempt, ttft_s=ttft, headers=rate_headers(result))
            call.answering_since = (started, t_try)
            return result
        health.failure(attempt, exc)
        nxt = tries[n] if n < len(tries) else None
        # After the last scheduled attempt this says `attempts` (or `not_retryable`).
        decision = policy.should_retry(
            exc, n, time.perf_counter() - call.t0, same_deployment=nxt == target
        )
        upstream_status = getattr(exc, "upstream_status", None)
        call.failed_attempts.append(
            AttemptRecord(
                n=n,
                started_at=started,
                latency_ms=(time.perf_counter() - t_try) * 1000,
                provider=target.provider,
                deployment=target.deployment,
                model=target.model,
                outcome="error",
                upstream_status=upstream_status,
                error_class=exc.error_class,
                decision=decision.reason,
                delay_ms=decision.delay_s * 1000,
                # an upstream that answered with an error status did not bill; one that
                # timed out or broke the connection may have
                cost_nanousd=0 if upstream_status else None,
            )
        )
        if not decision:
            hint_retry_after(exc, call, route)
            raise exc
        if decision.delay_s > 0:
            await asyncio.sleep(decision.delay_s)
    raise AssertionError("schedule() gives at least one attempt")  # pragma: no cover


def hint_retry_after(exc: ProviderError, call: Call, route: Route) -> None:
    """When every deployment of the route is out (breaker open, throttled), tell the
    client when one takes calls again, unless the upstream already said."""
    if "retry-after" in exc.headers or "retry-after-ms" in exc.headers:
        return
    wait = call.runtime.resilience.health.available_in([t.deployment for t in route.targets])
    if wait > 0:
        exc.headers["retry-after"] = str(max(1, math.ceil(wait)))


def output_guard(call: Call) -> int | None:
    """The output tokens past which this stream is ended, or None: never.

    A stream whose reserved cap was sent upstream is bounded by the upstream itself and is never
    cut on a guess. Only for a provider marked ``enforce_output_cap`` (an upstream known to
    ignore ``max_tokens``) is the stream ended -- when the upstream's own streamed usage count
    passes what was reserved for the call, all choices together. A compliant answer never
    reports more than it was allowed, so it is never cut."""
    ticket, target = call.ticket, call.target
    if ticket is None or target is None or ticket.reserved_output is None:
        return None
    provider = call.runtime.config.providers.get(target.provider)
    if provider is None or not provider.enforce_output_cap:
        return None
    return ticket.reserved_output


def past_limit(usage: Usage | None, limit: int) -> bool:
    # Only the upstream's own count proves an overrun: a translated stream's running figure is
    # a guess from the text (``estimated``) until the upstream reports (Anthropic: at the end).
    return usage is not None and not usage.estimated and usage.output_tokens > limit


async def prepend(
    first: StreamChunk | None, rest: AsyncIterator[StreamChunk]
) -> AsyncIterator[StreamChunk]:
    if first is None:
        return
    yield first
    async for chunk in rest:
        yield chunk
