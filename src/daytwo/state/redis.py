"""Redis State: many gateway replicas share budgets, rate windows, leases and kill switches.

Every multi-key check-and-change is ONE Lua script (:mod:`daytwo.state.redis_lua`), so two
replicas reserving against the same budget at the same instant are serialized by Redis and can
never both pass a check that only one of them fits. Switch changes are written and published in
the same script; subscribers hear them by pub/sub.

Connection failures and timeouts are mapped once, here, to
:class:`daytwo.core.errors.StateUnavailable`; the caller decides fail-closed or fail-open.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, TypeVar

import redis.asyncio as aioredis
from redis import exceptions as rexc

from daytwo.core.errors import StateUnavailable
from daytwo.state import redis_lua as lua
from daytwo.state.base import (
    AdmitOutcome,
    Counter,
    LeaseOutcome,
    Line,
    RateLine,
    RateOutcome,
    ReserveOutcome,
    SettleOutcome,
    SwitchChange,
    SwitchRecord,
)

log = logging.getLogger("daytwo.state")

DEFAULT_PREFIX = "daytwo:"
CONNECT_TIMEOUT_S = 1.0
COMMAND_TIMEOUT_S = 1.0
#: Connections per replica. Bounded so a burst of calls queues for a connection instead of
#: opening hundreds at once; waiting longer than ``POOL_TIMEOUT_S`` is StateUnavailable.
MAX_CONNECTIONS = 32
POOL_TIMEOUT_S = 2.0
#: How long a reclaimed (expired) reservation waits for a late settle to add its spend.
EXPIRED_KEEP_S = 24 * 3600
T = TypeVar("T")
_STAGES: tuple[Any, ...] = (None, "budget", "rate", "lease")


def _ms(seconds: float) -> int:
    return max(1000, int(seconds * 1000))


def _counters(flat: Sequence[Any]) -> tuple[Counter, ...]:
    vals = [int(v) for v in flat]
    return tuple(Counter(*vals[i : i + 4]) for i in range(0, len(vals), 4))


def _record_to_json(r: SwitchRecord) -> str:
    return json.dumps(
        {"key": r.key, "reason": r.reason, "who": r.who, "at": r.at, "source": r.source}
    )


def _record_from_json(raw: str | bytes) -> SwitchRecord:
    d = json.loads(raw)
    return SwitchRecord(d["key"], d["reason"], d["who"], float(d["at"]), d.get("source", "manual"))


class _RedisSubscription:
    def __init__(self, pubsub: Any) -> None:
        self.pubsub = pubsub  # replaced by the pump when it re-subscribes
        self.task: asyncio.Task[None] | None = None
        self._closed = False

    async def aclose(self) -> None:
        if self._closed:
            return
        self._closed = True
        if self.task is not None:
            self.task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self.task
        with contextlib.suppress(rexc.ConnectionError, rexc.TimeoutError, OSError):
            await self.pubsub.aclose()


class RedisState:
    def __init__(self, client: aioredis.Redis, *, prefix: str = DEFAULT_PREFIX) -> None:
        self._r = client
        self.prefix = prefix
        self._reserve = client.register_script(lua.RESERVE)
        self._settle = client.register_script(lua.SETTLE)
        self._release = client.register_script(lua.RELEASE)
        self._expire = client.register_script(lua.EXPIRE)
        self._add_spend = client.register_script(lua.ADD_SPEND)
        self._hit = client.register_script(lua.HIT)
        self._adjust = client.register_script(lua.ADJUST)
        self._lease = client.register_script(lua.LEASE_ACQUIRE)
        self._switch = client.register_script(lua.SWITCH)
        self._admit = client.register_script(lua.ADMIT)
        self._finish = client.register_script(lua.FINISH)
        self._subs: list[_RedisSubscription] = []

    @classmethod
    def from_url(
        cls,
        url: str,
        *,
        prefix: str = DEFAULT_PREFIX,
        connect_timeout_s: float = CONNECT_TIMEOUT_S,
        command_timeout_s: float = COMMAND_TIMEOUT_S,
        max_connections: int = MAX_CONNECTIONS,
        pool_timeout_s: float = POOL_TIMEOUT_S,
    ) -> RedisState:
        pool = aioredis.BlockingConnectionPool.from_url(
            url,
            max_connections=max_connections,
            timeout=pool_timeout_s,
            socket_connect_timeout=connect_timeout_s,
            socket_timeout=command_timeout_s,
            decode_responses=True,
        )
        return cls(aioredis.Redis.from_pool(pool), prefix=prefix)

    async def _call(self, what: str, op: Awaitable[T]) -> T:
        try:
            return await op
        except (rexc.ConnectionError, rexc.TimeoutError, OSError, TimeoutError) as exc:
            raise StateUnavailable(
                f"spend-control state (Redis) unavailable during {what}"
            ) from exc

    def _b(self, key: str) -> str:
        return f"{self.prefix}b:{key}"

    def _res(self, call_id: str) -> str:
        return f"{self.prefix}r:{call_id}"

    # -- budgets ----------------------------------------------------------------------------

    async def reserve(
        self,
        call_id: str,
        lines: Sequence[Line],
        nanos: int,
        tokens: int,
        *,
        now: float,
        hold_s: float,
    ) -> ReserveOutcome:
        keys = [self._res(call_id), f"{self.prefix}rz", *(self._b(ln.key) for ln in lines)]
        args: list[Any] = [nanos, tokens, repr(now + hold_s), call_id]
        for ln in lines:
            args += [
                "" if ln.cap_nanos is None else ln.cap_nanos,
                "" if ln.cap_tokens is None else ln.cap_tokens,
                _ms(ln.ttl_s),
            ]
        out = await self._call("reserve", self._reserve(keys, args))
        if out[0] == -1:
            raise ValueError(f"reservation {call_id!r} already held")
        failed = int(out[1])
        return ReserveOutcome(out[0] == 1, _counters(out[2:]), failed - 1 if failed else None)

    async def settle(
        self, call_id: str, lines: Sequence[Line], nanos: int, tokens: int, *, now: float
    ) -> SettleOutcome:
        keys = [self._res(call_id), f"{self.prefix}rz", *(self._b(ln.key) for ln in lines)]
        args: list[Any] = [nanos, tokens, call_id]
        args += [_ms(ln.ttl_s) for ln in lines]
        out = await self._call("settle", self._settle(keys, args))
        return SettleOutcome(_counters(out[2:]), out[1] == 1, out[0] == 1)

    async def release(self, call_id: str, *, now: float) -> bool:
        keys = [self._res(call_id), f"{self.prefix}rz"]
        out = await self._call("release", self._release(keys, [call_id]))
        return int(out) == 0

    async def expire(self, *, now: float) -> int:
        args: list[str | int] = [repr(now), f"{self.prefix}r:", _ms(EXPIRED_KEEP_S)]
        return int(await self._call("expire", self._expire([f"{self.prefix}rz"], args)))

    async def counters(self, keys: Sequence[str]) -> tuple[Counter, ...]:
        async with self._r.pipeline(transaction=False) as pipe:
            for k in keys:
                pipe.hmget(self._b(k), "sn", "st", "rn", "rt")
            rows = await self._call("counters", pipe.execute())
        return tuple(Counter(*(int(v or 0) for v in row)) for row in rows)

    async def add_spend(self, line: Line, nanos: int, tokens: int) -> Counter:
        args = [nanos, tokens, _ms(line.ttl_s)]
        out = await self._call("add_spend", self._add_spend([self._b(line.key)], args))
        return _counters(out)[0]

    # -- one call's admission and end -------------------------------------------------------

    async def admit(
        self,
        call_id: str,
        lines: Sequence[Line],
        nanos: int,
        tokens: int,
        rates: Sequence[RateLine],
        leases: Sequence[tuple[str, int]],
        *,
        now: float,
        hold_s: float,
        lease_expires_at: float,
    ) -> AdmitOutcome:
        p = self.prefix
        keys = [self._res(call_id), f"{p}rz"]
        keys += [self._b(ln.key) for ln in lines]
        keys += [f"{p}q:{ln.key}" for ln in rates]
        keys += [f"{p}l:{k}" for k, _ in leases]
        args: list[Any] = [len(lines), len(rates), len(leases), nanos, tokens]
        args += [repr(now + hold_s), call_id, repr(now), repr(lease_expires_at)]
        args.append(_ms(lease_expires_at - now + 60))
        for ln in lines:
            args += [
                "" if ln.cap_nanos is None else ln.cap_nanos,
                "" if ln.cap_tokens is None else ln.cap_tokens,
                _ms(ln.ttl_s),
            ]
        for r in rates:
            args += [r.limit, r.amount, _ms(r.ttl_s)]
        args += [limit for _, limit in leases]
        out = await self._call("admission", self._admit(keys, args))
        if out[0] == -1:
            raise ValueError(f"reservation {call_id!r} already held")
        nb = 4 * len(lines)
        nr = len(rates)
        counters = _counters(out[3 : 3 + nb])
        values = tuple(int(v) for v in out[3 + nb : 3 + nb + nr])
        counts = tuple(int(v) for v in out[3 + nb + nr :])
        stage = _STAGES[int(out[1])]
        failed = int(out[2]) - 1 if out[2] else None
        return AdmitOutcome(out[0] == 1, stage, failed, counters, values, counts)

    async def finish(
        self,
        call_id: str,
        lines: Sequence[Line],
        nanos: int,
        tokens: int,
        *,
        spent: bool,
        adjust: Sequence[tuple[str, int]],
        adjust_ttl_s: float,
        lease_keys: Sequence[str],
        now: float,
    ) -> SettleOutcome:
        p = self.prefix
        keys = [self._res(call_id), f"{p}rz"]
        keys += [self._b(ln.key) for ln in lines]
        keys += [f"{p}q:{k}" for k, _ in adjust]
        keys += [f"{p}l:{k}" for k in lease_keys]
        args: list[Any] = [len(lines), len(adjust), len(lease_keys), nanos, tokens]
        args += [1 if spent else 0, call_id, _ms(adjust_ttl_s)]
        args += [_ms(ln.ttl_s) for ln in lines]
        args += [delta for _, delta in adjust]
        out = await self._call("settle", self._finish(keys, args))
        return SettleOutcome(_counters(out[2:]), out[1] == 1, out[0] == 1)

    # -- rate limits ------------------------------------------------------------------------

    async def hit(self, lines: Sequence[RateLine]) -> RateOutcome:
        keys = [f"{self.prefix}q:{ln.key}" for ln in lines]
        args: list[Any] = []
        for ln in lines:
            args += [ln.limit, ln.amount, _ms(ln.ttl_s)]
        out = await self._call("rate limit", self._hit(keys, args))
        failed = int(out[1])
        return RateOutcome(
            out[0] == 1, tuple(int(v) for v in out[2:]), failed - 1 if failed else None
        )

    async def adjust(self, key: str, delta: int, *, ttl_s: float) -> int:
        out = await self._call(
            "adjust", self._adjust([f"{self.prefix}q:{key}"], [delta, _ms(ttl_s)])
        )
        return int(out)

    async def lease_acquire(
        self, keys: Sequence[tuple[str, int]], lease_id: str, *, now: float, expires_at: float
    ) -> LeaseOutcome:
        rkeys = [f"{self.prefix}l:{k}" for k, _ in keys]
        args: list[Any] = [repr(now), repr(expires_at), lease_id, _ms(expires_at - now + 60)]
        args += [limit for _, limit in keys]
        out = await self._call("lease", self._lease(rkeys, args))
        failed = int(out[1])
        return LeaseOutcome(
            out[0] == 1, tuple(int(v) for v in out[2:]), failed - 1 if failed else None
        )

    async def lease_release(self, keys: Sequence[str], lease_id: str) -> None:
        async with self._r.pipeline(transaction=False) as pipe:
            for k in keys:
                pipe.zrem(f"{self.prefix}l:{k}", lease_id)
            await self._call("lease release", pipe.execute())

    async def lease_count(self, key: str, *, now: float) -> int:
        n = await self._call(
            "lease count", self._r.zcount(f"{self.prefix}l:{key}", f"({now!r}", "+inf")
        )
        return int(n)

    # -- switches ---------------------------------------------------------------------------

    @property
    def channel(self) -> str:
        return f"{self.prefix}sw"

    async def set_switch(self, record: SwitchRecord) -> bool:
        args = [self.channel, record.key, _record_to_json(record)]
        had = await self._call("kill switch", self._switch([self.channel], args))
        return int(had) == 0

    async def clear_switch(self, key: str) -> bool:
        had = await self._call("kill switch", self._switch([self.channel], [self.channel, key, ""]))
        return int(had) == 1

    async def switches(self) -> dict[str, SwitchRecord]:
        raw = await self._call("kill switches", self._r.hgetall(self.channel))
        return {str(k): _record_from_json(v) for k, v in raw.items()}

    async def subscribe(self, on_change: Callable[[SwitchChange], None]) -> _RedisSubscription:
        pubsub = self._r.pubsub(ignore_subscribe_messages=True)
        try:
            await self._call("subscribe", pubsub.subscribe(self.channel))
        except BaseException:
            await pubsub.aclose()  # type: ignore[no-untyped-call]
            raise

        sub = _RedisSubscription(pubsub)

        async def pump() -> None:
            backoff = 0.1
            while True:
                try:
                    msg = await sub.pubsub.get_message(timeout=1.0)
                    backoff = 0.1
                except (rexc.ConnectionError, rexc.TimeoutError, OSError) as exc:
                    # Re-subscribe with backoff; the switch board's periodic resync catches up
                    # whatever was published while the connection was down.
                    log.warning("switch subscription lost (%s); re-subscribing", exc)
                    await asyncio.sleep(backoff)
                    backoff = min(backoff * 2, 5.0)
                    with contextlib.suppress(rexc.ConnectionError, rexc.TimeoutError, OSError):
                        await sub.pubsub.aclose()
                        sub.pubsub = self._r.pubsub(ignore_subscribe_messages=True)
                        await sub.pubsub.subscribe(self.channel)
                    continue
                if msg is None or msg.get("type") != "message":
                    continue
                data = json.loads(msg["data"])
                rec = _record_from_json(data["record"]) if data["record"] else None
                on_change(SwitchChange(data["key"], rec))

        sub.task = asyncio.create_task(pump())
        self._subs.append(sub)
        return sub

    async def aclose(self) -> None:
        for sub in self._subs:
            await sub.aclose()
        self._subs.clear()
        await self._r.aclose()
