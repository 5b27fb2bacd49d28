"""Redis State: many gateway replicas share budgets, rate windows, leases and kill switches.

Every multi-key check-and-change is ONE Lua script (:mod:`daytwo.state.redis_lua`), so two
replicas reserving against the same budget at the same instant are serialized by Redis and can
never both pass a check that only one of them fits. Switch changes are written and published in
the same script; subscribers hear them by pub/sub.

Connection failures and timeouts are mapped once, here, to
:class:`daytwo.core.errors.StateUnavailable`; the caller decides fail-closed or fail-open.

Lost data: opened with ``watch_generation`` (as the gateway does), the admit script and the
switch read also check the generation marker (``P gen``) -- inside the same script, so it costs
no round trip. A Redis restarted without persistence, flushed, or evicting keys lacks it: the
call asks :attr:`RedisState.on_lost` to rebuild from the ledger, waits up to
:data:`RECOVER_WAIT_S` for it, and is refused with :class:`daytwo.core.errors.StateLost` if the
rebuild is not done by then.
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

from daytwo.core.errors import StateLost, StateUnavailable
from daytwo.state import redis_lua as lua
from daytwo.state.base import (
    AdmitOutcome,
    Counter,
    LeaseOutcome,
    Line,
    LostHook,
    RateLine,
    RateOutcome,
    ReserveOutcome,
    Restore,
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
#: How long a call that found the store's data lost waits for the rebuild before it is refused.
RECOVER_WAIT_S = 2.0
#: Counters per restore script (a big rebuild is written in chunks, each one atomic).
RESTORE_CHUNK = 500
T = TypeVar("T")
_STAGES: tuple[Any, ...] = (None, "budget", "rate", "lease")


def _ms(seconds: float) -> int:
    return max(1000, int(seconds * 1000))


def _counters(flat: Sequence[Any]) -> tuple[Counter, ...]:
    vals = [int(v) for v in flat]
    return tuple(Counter(*vals[i : i + 4]) for i in range(0, len(vals), 4))


def _record_to_json(r: SwitchRecord) -> str:
    d: dict[str, Any] = {"key": r.key, "reason": r.reason, "who": r.who, "at": r.at}
    d["source"] = r.source
    if r.degraded:  # a kill switch keeps the format replicas of earlier versions read
        d |= {"mode": r.mode, "message": r.message, "alias": r.alias}
    return json.dumps(d)


def _record_from_json(raw: str | bytes) -> SwitchRecord:
    d = json.loads(raw)
    return SwitchRecord(
        d["key"],
        d["reason"],
        d["who"],
        float(d["at"]),
        d.get("source", "manual"),
        d.get("mode", "kill"),
        d.get("message"),
        d.get("alias"),
    )


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
    def __init__(
        self,
        client: aioredis.Redis,
        *,
        prefix: str = DEFAULT_PREFIX,
        watch_generation: bool = False,
    ) -> None:
        self._r = client
        self.prefix = prefix
        self.watch_generation = watch_generation
        self.on_lost: LostHook | None = None
        self._gen = f"{prefix}gen"
        self._switches = client.register_script(lua.SWITCHES)
        self._restore = client.register_script(lua.RESTORE)
        self._unlock = client.register_script(lua.UNLOCK)
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
        watch_generation: bool = False,
    ) -> RedisState:
        pool = aioredis.BlockingConnectionPool.from_url(
            url,
            max_connections=max_connections,
            timeout=pool_timeout_s,
            socket_connect_timeout=connect_timeout_s,
            socket_timeout=command_timeout_s,
            decode_responses=True,
        )
        return cls(aioredis.Redis.from_pool(pool), prefix=prefix, watch_generation=watch_generation)

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
        if self.watch_generation:
            keys.append(self._gen)
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
        if out[0] == -2:
            if not await self._lost(wait=True):
                raise StateLost("spend-control state (Redis) lost its counters: rebuilding")
            out = await self._call("admission", self._admit(keys, args))
            if out[0] == -2:
                raise StateLost("spend-control state (Redis) lost its counters: rebuilding")
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
        if not self.watch_generation:
            raw = await self._call("kill switches", self._r.hgetall(self.channel))
            return {str(k): _record_from_json(v) for k, v in raw.items()}
        out = await self._call("kill switches", self._switches([self.channel, self._gen]))
        if out[0] == 0:
            # Lost data: an empty hash must not revive every switch. Start the rebuild (which
            # writes back the switches this replica still knows) without waiting for it.
            await self._lost(wait=False)
            raise StateLost("spend-control state (Redis) lost its kill switches: rebuilding")
        flat = out[1]
        return {str(flat[i]): _record_from_json(flat[i + 1]) for i in range(0, len(flat), 2)}

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

    # -- lost data ----------------------------------------------------------------------------

    async def _lost(self, *, wait: bool) -> bool:
        """Ask for the rebuild (the hook is single-flight); with ``wait``, True once it is done
        within :data:`RECOVER_WAIT_S`."""
        hook = self.on_lost
        if hook is None:
            return False
        job = asyncio.ensure_future(hook())
        if not wait:
            return False
        try:
            return await asyncio.wait_for(asyncio.shield(job), RECOVER_WAIT_S)
        except TimeoutError:
            return False

    async def generation(self) -> str | None:
        got = await self._call("generation", self._r.get(self._gen))
        return None if got is None else str(got)

    async def set_generation(self, token: str) -> bool:
        return bool(await self._call("generation", self._r.set(self._gen, token, nx=True)))

    async def restore(self, restore: Restore) -> bool:
        items: list[tuple[str, list[Any], bool]] = [
            (self._b(k), [n, t, _ms(ttl)], True) for k, n, t, ttl in restore.budgets
        ]
        items += [(f"{self.prefix}q:{k}", [v, _ms(ttl)], False) for k, v, ttl in restore.rates]
        for i in range(0, max(len(items), 1), RESTORE_CHUNK):
            chunk = items[i : i + RESTORE_CHUNK]
            budgets = [c for c in chunk if c[2]]
            rates = [c for c in chunk if not c[2]]
            keys = [self._gen, *(c[0] for c in budgets), *(c[0] for c in rates)]
            args: list[Any] = [len(budgets)]
            for c in (*budgets, *rates):
                args += c[1]
            if not int(await self._call("restore", self._restore(keys, args))):
                return False
        return True

    async def lock(self, name: str, token: str, *, ttl_s: float) -> bool:
        key = f"{self.prefix}lock:{name}"
        got = await self._call("lock", self._r.set(key, token, nx=True, px=_ms(ttl_s)))
        return bool(got)

    async def unlock(self, name: str, token: str) -> None:
        await self._call("unlock", self._unlock([f"{self.prefix}lock:{name}"], [token]))

    async def durability_warnings(self) -> list[str]:
        """What in this Redis's configuration can lose counters (persistence off, an eviction
        policy), one sentence each; one sentence when ``CONFIG GET`` is refused (managed Redis)."""
        names = ("save", "appendonly", "maxmemory-policy")
        refused = None
        got: dict[str | None, str | None] = {}
        try:
            for name in names:
                got.update(await self._call("config check", self._r.config_get(name)))
        except rexc.ResponseError as exc:
            refused = f"CONFIG GET refused: {str(exc).splitlines()[0][:120]}"
        if refused is None and not all(name in got for name in names):
            refused = "CONFIG GET answered without them"  # a proxy in front of Redis
        if refused is not None:
            return [
                "could not check the spend-control Redis's persistence and maxmemory-policy "
                f"({refused}); daytwo needs persistence (AOF or RDB) and maxmemory-policy "
                "noeviction"
            ]
        out = []
        if not got.get("save") and got.get("appendonly") != "yes":
            out.append(
                "the spend-control Redis has no persistence (save '' and appendonly no): a "
                "restart empties it; counters are then rebuilt from the ledger, but reservations "
                "of calls in flight at that moment are lost. Enable AOF (appendonly yes)"
            )
        policy = got.get("maxmemory-policy")
        if policy is not None and policy != "noeviction":
            out.append(
                f"the spend-control Redis evicts keys (maxmemory-policy {policy}): an evicted "
                "counter restarts from zero and budgets stop holding. Set maxmemory-policy "
                "noeviction"
            )
        return out

    async def aclose(self) -> None:
        for sub in self._subs:
            await sub.aclose()
        self._subs.clear()
        await self._r.aclose()
