"""Lost state: the generation marker, the idempotent restore and the rebuild lock (memory and
real Redis), and a Redis that lost its data refusing to admit until it is rebuilt."""

from __future__ import annotations

import asyncio
import time

import pytest
from tests.redis_support import REDIS_URL, delete_prefix
from tests.state.backends import OpenState

from daytwo.core.errors import StateLost
from daytwo.state.base import Counter, Line, RateLine, Restore, SwitchRecord
from daytwo.state.redis import RedisState

CAP = Line("budget:org:day:0", cap_nanos=1000, cap_tokens=None, ttl_s=3600)
RPM = RateLine("rl:r:0", limit=3, amount=1, ttl_s=120)


def test_restore_sets_spend_keeps_reservations_and_stops_once_a_generation_is_set(
    open_state: OpenState,
) -> None:
    async def main() -> None:
        async with open_state() as st:
            assert await st.generation() is None
            await st.reserve("c1", [CAP], 100, 5, now=0, hold_s=60)
            again = Restore(budgets=((CAP.key, 700, 70, 3600),), rates=((RPM.key, 2, 120),))
            # SET, not add: twice (two replicas rebuilding at once) gives the same values
            assert await st.restore(again)
            assert await st.restore(again)
            assert await st.counters([CAP.key]) == (Counter(700, 70, 100, 5),)
            assert (await st.hit([RPM])).values == (3,)  # 2 restored + this one
            assert not (await st.hit([RPM])).ok
            assert await st.set_generation("g1")
            assert not await st.set_generation("g2")
            assert await st.generation() == "g1"
            # once a generation is set, a late rebuilder writes nothing
            assert not await st.restore(Restore(budgets=((CAP.key, 1, 1, 3600),)))
            assert await st.counters([CAP.key]) == (Counter(700, 70, 100, 5),)

    asyncio.run(main())


def test_the_rebuild_lock_is_exclusive_owned_and_lapses(open_state: OpenState) -> None:
    async def main() -> None:
        async with open_state() as a, open_state() as b:
            assert await a.lock("rebuild", "ta", ttl_s=1.0)
            assert not await b.lock("rebuild", "tb", ttl_s=1.0)
            await b.unlock("rebuild", "tb")  # not b's: nothing happens
            assert not await b.lock("rebuild", "tb", ttl_s=1.0)
            await a.unlock("rebuild", "ta")
            assert await b.lock("rebuild", "tb", ttl_s=1.0)
            deadline = time.monotonic() + 5
            while not await a.lock("rebuild", "ta", ttl_s=1.0):  # b's lapses by itself
                assert time.monotonic() < deadline, "the lock never lapsed"
                await asyncio.sleep(0.05)

    asyncio.run(main())


async def _admit(st: RedisState, call: str) -> bool:
    out = await st.admit(call, [CAP], 100, 1, [RPM], [], now=0, hold_s=60, lease_expires_at=600)
    return out.ok


def test_a_redis_that_lost_its_data_refuses_until_rebuilt(
    redis_prefix: str,
) -> None:
    async def main() -> None:
        st = RedisState.from_url(REDIS_URL, prefix=redis_prefix, watch_generation=True)
        try:
            await st.set_switch(SwitchRecord("project=a", "r", "w", 1.0))
            # no marker, no hook: refused (never admitted against counters from zero)
            with pytest.raises(StateLost):
                await _admit(st, "c0")
            with pytest.raises(StateLost):  # an empty hash must not revive every switch
                await st.switches()
            assert await st.set_generation("g1")
            assert await _admit(st, "c1")
            assert set(await st.switches()) == {"project=a"}

            delete_prefix(redis_prefix)  # what FLUSHALL or a restart without persistence does
            asked: list[int] = []

            async def rebuild() -> bool:
                asked.append(1)
                await st.restore(Restore(budgets=((CAP.key, 900, 0, 3600),)))
                return await st.set_generation("g2")

            st.on_lost = rebuild
            # the call that found the loss waits for the rebuild, then is admitted against the
            # rebuilt counter (900 spent + 100 = the cap)
            assert await _admit(st, "c2")
            assert asked == [1]
            assert not await _admit(st, "c3")  # the cap holds after the loss
            assert await st.counters([CAP.key]) == (Counter(900, 0, 100, 1),)

            async def never() -> bool:
                return False

            delete_prefix(redis_prefix)
            st.on_lost = never
            with pytest.raises(StateLost):
                await _admit(st, "c4")
        finally:
            await st.aclose()

    asyncio.run(main())
