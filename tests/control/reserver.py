"""A separate gateway-like process for the two-process test: reserves ``n`` times concurrently
against the shared Redis budget once the test says go, prints how many were admitted."""

from __future__ import annotations

import asyncio
import sys

import redis.asyncio as aioredis

from daytwo.control.budgets import Budget, Budgets, Refusal
from daytwo.control.scopes import Scope, Subject
from daytwo.state.redis import RedisState


async def main(url: str, prefix: str, name: str, n: int) -> int:
    state = RedisState.from_url(url, prefix=prefix)
    barrier = aioredis.Redis.from_url(url)
    try:
        budget = Budget("shared", Scope(), "day", cap_nanos=50 * 1000)
        budgets = Budgets(state, [budget], clock=lambda: 1_780_000_000.0)
        await barrier.rpush(f"{prefix}ready", name)
        await barrier.blpop([f"{prefix}go:{name}"], timeout=10)

        async def one(i: int) -> bool:
            res = await budgets.reserve(f"{name}-{i}", Subject(project="p"), 1000, 0)
            if isinstance(res, Refusal):
                return False
            await budgets.settle(res, 1000, 0)
            return True

        return sum(await asyncio.gather(*(one(i) for i in range(n))))
    finally:
        await barrier.aclose()
        await state.aclose()


if __name__ == "__main__":
    url, prefix, name, n = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
    print(asyncio.run(main(url, prefix, name, n)))
