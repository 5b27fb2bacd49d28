"""Rate limits over both backends: RPM/TPM windows and headers, and concurrency counters that
always return to zero -- after success, errors, timeouts, cancellations and crashed replicas."""

from __future__ import annotations

import asyncio

import pytest
from tests.state.backends import OpenState

from daytwo.control.ratelimits import RateLimit, RateLimiter
from daytwo.control.scopes import Scope, Subject
from daytwo.core.errors import RateLimited

SUBJ = Subject(project="acme", key="k1")
T0 = 1_779_999_980.0  # 20 s into a minute


class Clock:
    def __init__(self, t: float) -> None:
        self.t = t

    def __call__(self) -> float:
        return self.t


def test_rpm_tpm_headers_and_refusal_that_counts_nothing(open_state: OpenState) -> None:
    async def main() -> None:
        async with open_state() as st:
            clock = Clock(T0)
            lim = RateLimit("per_key", Scope.parse({"key": "*"}), rpm=3, tpm=1000)
            rl = RateLimiter(st, [lim], clock=clock)
            a = await rl.admit("c1", SUBJ, 400)
            assert a.headers == {
                "x-ratelimit-limit-requests": "3",
                "x-ratelimit-remaining-requests": "2",
                "x-ratelimit-reset-requests": "40s",
                "x-ratelimit-limit-tokens": "1000",
                "x-ratelimit-remaining-tokens": "600",
                "x-ratelimit-reset-tokens": "40s",
            }
            await rl.settle_tokens(a, 100)  # worst case 400, actually 100
            b = await rl.admit("c2", SUBJ, 900)
            assert b.headers["x-ratelimit-remaining-tokens"] == "0"
            with pytest.raises(RateLimited) as info:
                await rl.admit("c3", SUBJ, 1)
            err = info.value
            assert (err.status, err.type, err.scope, err.unit) == (
                429,
                "rate_limited",
                "key=k1",
                "tokens",
            )
            assert err.headers["retry-after"] == "40"
            c = await rl.admit("c4", SUBJ, 0)  # the refused call did not use a request
            assert c.headers["x-ratelimit-remaining-requests"] == "0"
            with pytest.raises(RateLimited, match="3 requests per minute"):
                await rl.admit("c5", SUBJ, 0)
            clock.t += 40  # the next minute
            assert (await rl.admit("c6", SUBJ, 1000)).headers[
                "x-ratelimit-remaining-requests"
            ] == "2"

    asyncio.run(main())


def test_concurrency_returns_to_zero_after_errors_timeouts_and_cancellations(
    open_state: OpenState,
) -> None:
    async def main() -> None:
        async with open_state() as st:
            lim = RateLimit("conc", Scope.parse({"project": "*"}), concurrent=3)
            rl = RateLimiter(st, [lim], clock=Clock(T0))
            gate = asyncio.Event()
            all_in = asyncio.Event()
            admitted: list[str] = []

            async def call(i: int, outcome: str) -> None:
                adm = await rl.admit(f"c{i}", SUBJ, 0)
                admitted.append(adm.call_id)
                if len(admitted) == 3:
                    all_in.set()
                try:
                    if outcome == "error":
                        raise RuntimeError("upstream broke")
                    if outcome == "timeout":
                        await asyncio.wait_for(gate.wait(), timeout=0.01)
                    await gate.wait()
                finally:
                    await rl.finish(adm)

            tasks = [asyncio.create_task(call(i, "hang")) for i in range(3)]
            await asyncio.wait_for(all_in.wait(), timeout=5)
            assert await rl.in_flight(lim, "project=acme") == 3
            with pytest.raises(RateLimited, match="3 concurrent"):
                await rl.admit("extra", SUBJ, 0)
            for t in tasks:
                t.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            assert await rl.in_flight(lim, "project=acme") == 0
            for outcome in ("error", "timeout"):
                with pytest.raises((RuntimeError, TimeoutError)):
                    await call(9, outcome)
            assert await rl.in_flight(lim, "project=acme") == 0
            done = await rl.admit("ok", SUBJ, 0)
            await rl.finish(done)
            await rl.finish(done)  # idempotent
            assert await rl.in_flight(lim, "project=acme") == 0

    asyncio.run(main())


def test_a_crashed_replicas_leases_lapse(open_state: OpenState) -> None:
    async def main() -> None:
        async with open_state() as st:
            clock = Clock(T0)
            lim = RateLimit("conc", Scope(), concurrent=1)
            crashed = RateLimiter(st, [lim], clock=clock, lease_s=30)
            await crashed.admit("lost", SUBJ, 0)  # never finished
            healthy = RateLimiter(st, [lim], clock=clock, lease_s=30)
            with pytest.raises(RateLimited):
                await healthy.admit("c1", SUBJ, 0)
            clock.t += 30
            await healthy.finish(await healthy.admit("c1", SUBJ, 0))
            assert await healthy.in_flight(lim, "org") == 0

    asyncio.run(main())


def test_concurrency_refusal_gives_back_its_request_count(open_state: OpenState) -> None:
    async def main() -> None:
        async with open_state() as st:
            lim = RateLimit("both", Scope(), rpm=10, concurrent=1)
            rl = RateLimiter(st, [lim], clock=Clock(T0))
            held = await rl.admit("c1", SUBJ, 0)
            for i in range(5):
                with pytest.raises(RateLimited):
                    await rl.admit(f"x{i}", SUBJ, 0)
            await rl.finish(held)
            nxt = await rl.admit("c2", SUBJ, 0)
            assert nxt.headers["x-ratelimit-remaining-requests"] == "8"
            await rl.finish(nxt)

    asyncio.run(main())
