"""Kill switches (local checks, propagation between replicas within 1 s), the loop breaker, and
fail-closed when Redis is unreachable."""

from __future__ import annotations

import asyncio
import socket
import time

import pytest
from tests.state.backends import OpenState

from daytwo.control.budgets import Budget, Budgets
from daytwo.control.events import Event
from daytwo.control.loopbreaker import LoopBreaker, LoopPolicy, fingerprint
from daytwo.control.ratelimits import RateLimit, RateLimiter
from daytwo.control.scopes import Scope, Subject
from daytwo.control.switches import SwitchBoard, disabled_error
from daytwo.core.errors import StateUnavailable
from daytwo.state.redis import RedisState

S1 = Subject(project="acme", feature="search", session="s1", model="gpt-x", provider="openai")


def test_switch_scopes_match_calls(open_state: OpenState) -> None:
    async def main() -> None:
        async with open_state() as st:
            board = SwitchBoard(st, clock=lambda: 5.0)
            await board.start()
            await board.kill(
                {"project": "acme", "feature": "search"}, reason="bad answers", who="ann"
            )
            rec = board.check(S1)
            assert rec is not None
            assert (rec.who, rec.reason, rec.at) == ("ann", "bad answers", 5.0)
            assert board.check(Subject(project="acme", feature="chat")) is None
            err = disabled_error(rec, now=6.0)
            assert (err.status, err.type, err.scope) == (403, "feature_disabled", rec.key)
            await board.kill({"provider": "openai"}, reason="outage", who="bob")
            assert await board.revive({"project": "acme", "feature": "search"}, who="ann")
            assert board.check(S1) is not None  # the provider switch still applies
            with pytest.raises(ValueError, match="needs a scope"):
                await board.kill({}, reason="x", who="y")
            with pytest.raises(ValueError, match="not `\\*`"):
                await board.kill({"project": "*"}, reason="x", who="y")
            await board.aclose()

    asyncio.run(main())


def test_kill_on_one_replica_is_enforced_on_the_other_within_a_second(
    open_state: OpenState,
) -> None:
    async def main() -> tuple[float, float]:
        async with open_state() as a, open_state() as b:
            one, two = SwitchBoard(a), SwitchBoard(b)
            await one.start()
            await two.start()
            changed = asyncio.Event()
            two.add_listener(lambda _change: changed.set())
            t0 = time.perf_counter()
            await one.kill({"session": "s1"}, reason="loop", who="ops")
            await asyncio.wait_for(changed.wait(), timeout=1.0)  # the deadline
            on = time.perf_counter() - t0
            assert two.check(S1) is not None
            changed.clear()
            t0 = time.perf_counter()
            await one.revive({"session": "s1"}, who="ops")
            await asyncio.wait_for(changed.wait(), timeout=1.0)
            off = time.perf_counter() - t0
            assert two.check(S1) is None
            # a replica that starts later sees switches set before it started
            await one.kill({"key": "k9"}, reason="leaked", who="ops")
            late = SwitchBoard(b)
            await late.start()
            assert late.check(Subject(key="k9")) is not None
            for board in (one, two, late):
                await board.aclose()
            return on, off

    on, off = asyncio.run(main())
    assert on < 1.0
    assert off < 1.0


def test_fingerprint_ignores_noise_but_not_the_question() -> None:
    a = {"model": "m", "messages": [{"role": "user", "content": "Retry step 41 now"}]}
    b = {
        "model": "m",
        "messages": [{"role": "user", "content": "  retry STEP 42\n now"}],
        "user": "x",
        "stream": True,
    }
    c = {"model": "m", "messages": [{"role": "user", "content": "Summarise the doc"}]}
    assert fingerprint(a) == fingerprint(b)
    assert fingerprint(a) != fingerprint(c)


def test_loop_breaker_trips_the_session_and_emits_an_event(open_state: OpenState) -> None:
    async def main() -> None:
        async with open_state() as st:
            events: list[Event] = []
            board = SwitchBoard(st, clock=lambda: 100.0)
            await board.start()
            lb = LoopBreaker(
                st,
                board,
                LoopPolicy(repeats=3, window_s=60, max_calls=10, max_nanos=5000),
                clock=lambda: 100.0,
                on_event=events.append,
            )
            body = {"messages": [{"role": "user", "content": "try again 1"}]}
            other = Subject(project="acme", session="s2")
            assert await lb.observe(S1, body) is None
            assert await lb.observe(other, body) is None  # another session counts apart
            assert await lb.observe(S1, {"messages": [{"role": "user", "content": "new"}]}) is None
            assert (
                await lb.observe(S1, {"messages": [{"role": "user", "content": "Try again 2"}]})
                is None
            )
            tripped = await lb.observe(S1, body)
            assert tripped is not None
            assert (tripped.key, tripped.source) == ("session=s1", "loopbreaker")
            assert board.check(S1) is not None
            assert board.check(other) is None
            assert [(e.kind, e.scope, e.value) for e in events] == [("loop", "session=s1", 3)]
            # session spend: more than $X trips once
            assert await lb.add_spend(other, 5000) is None
            assert await lb.add_spend(other, 1) is not None
            assert board.check(other) is not None
            await board.aclose()

    asyncio.run(main())


def test_loop_breaker_call_count(open_state: OpenState) -> None:
    async def main() -> None:
        async with open_state() as st:
            board = SwitchBoard(st)
            lb = LoopBreaker(st, board, LoopPolicy(by="agent", repeats=None, max_calls=3))
            agent = Subject(project="p", agent="planner")
            results = [await lb.observe(agent, {"i": str(i)}) for i in range(5)]
            assert [r is not None for r in results] == [False, False, False, True, False]
            assert board.check(agent) is not None

    asyncio.run(main())


def _closed_port() -> int:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port: int = s.getsockname()[1]
    s.close()
    return port


def test_fail_closed_when_redis_is_unreachable() -> None:
    """Every admission step raises the typed StateUnavailable; the gateway's default policy
    (fail_closed) turns it into a 503 refusal, and never admits unmetered by accident."""

    async def main() -> None:
        st = RedisState.from_url(f"redis://127.0.0.1:{_closed_port()}/0", prefix="t:")
        try:
            budgets = Budgets(st, [Budget("b", Scope(), "day", cap_nanos=10)])
            with pytest.raises(StateUnavailable):
                await budgets.reserve("c1", S1, 1, 0)
            limiter = RateLimiter(st, [RateLimit("r", Scope(), rpm=5)])
            with pytest.raises(StateUnavailable):
                await limiter.admit("c1", S1, 0)
            with pytest.raises(StateUnavailable):
                await SwitchBoard(st).start()
        finally:
            await st.aclose()

    asyncio.run(main())


def test_a_switch_change_whose_notification_was_missed_is_caught_up_by_the_resync(
    redis_prefix: str,
) -> None:
    """The pub/sub connection can drop; the periodic resync bounds how stale a replica gets."""
    import redis as sync_redis

    from daytwo.control import switches as sw
    from daytwo.state.base import SwitchRecord
    from daytwo.state.redis import _record_to_json

    async def main() -> None:
        state = RedisState.from_url("redis://127.0.0.1:6379/0", prefix=redis_prefix)
        board = SwitchBoard(state)
        await board.start()
        try:
            # written behind the board's back: no notification is published
            record = SwitchRecord("project=acme", "set while pub/sub was down", "test", 1.0)
            client = sync_redis.Redis.from_url("redis://127.0.0.1:6379/0")
            client.hset(f"{redis_prefix}sw", record.key, _record_to_json(record))
            client.close()
            t0 = time.monotonic()
            while board.check(Subject(project="acme")) is None:
                assert time.monotonic() - t0 < sw.RESYNC_INTERVAL_S + 1.0, "never caught up"
                await asyncio.sleep(0.05)
        finally:
            await board.aclose()
            await state.aclose()

    asyncio.run(main())
