"""In-process State: one lock, plain dicts. The embedded default and the reference for tests.

Thread-safe (one :class:`threading.Lock` around every operation, none of which blocks), so it
serves one process whatever mix of threads and event loops calls it. Counter TTLs only reclaim
memory (checked against the monotonic clock); correctness never depends on them because window
counters are keyed by window start.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

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

_GC_EVERY = 4096


@dataclass(slots=True)
class _Held:
    keys: tuple[str, ...]
    nanos: int
    tokens: int
    until: float
    expired: bool = False


class _MemorySubscription:
    def __init__(self, state: MemoryState, cb: Callable[[SwitchChange], None]) -> None:
        self._state = state
        self._cb = cb

    async def aclose(self) -> None:
        self._state._unsubscribe(self._cb)


def _fits(have: int, amount: int, cap: int | None) -> bool:
    return cap is None or have + amount <= cap


class MemoryState:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._counters: dict[str, Counter] = {}
        self._rates: dict[str, int] = {}
        self._deadline: dict[str, float] = {}  # key -> monotonic GC deadline
        self._held: dict[str, _Held] = {}
        self._leases: dict[str, dict[str, float]] = {}
        self._switches: dict[str, SwitchRecord] = {}
        self._subs: list[Callable[[SwitchChange], None]] = []
        self._ops = 0
        # A new process's memory holds nothing: the gateway rebuilds from the ledger at start
        # and then sets the marker. Memory is never lost while the process lives, so admit
        # does not check it (and the hook is never called).
        self._generation: str | None = None
        self._locks: dict[str, tuple[str, float]] = {}
        self.on_lost: LostHook | None = None

    # -- helpers (lock held) ----------------------------------------------------------------

    def _touch(self, key: str, ttl_s: float) -> None:
        self._deadline[key] = time.monotonic() + max(ttl_s, 1.0)
        self._ops += 1
        if self._ops % _GC_EVERY == 0:
            mono = time.monotonic()
            for k in [k for k, d in self._deadline.items() if d < mono]:
                del self._deadline[k]
                self._counters.pop(k, None)
                self._rates.pop(k, None)

    def _get(self, key: str) -> Counter:
        return self._counters.get(key) or Counter()

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
        with self._lock:
            found, failed = self._check_lines(call_id, lines, nanos, tokens)
            if failed is not None:
                return ReserveOutcome(False, found, failed)
            after = self._reserve_lines(call_id, lines, found, nanos, tokens, now + hold_s)
            return ReserveOutcome(True, after)

    def _check_lines(
        self, call_id: str, lines: Sequence[Line], nanos: int, tokens: int
    ) -> tuple[tuple[Counter, ...], int | None]:
        found = tuple(self._get(ln.key) for ln in lines)
        if call_id in self._held:
            raise ValueError(f"reservation {call_id!r} already held")
        for i, (ln, c) in enumerate(zip(lines, found, strict=True)):
            if not (
                _fits(c.spent_nanos + c.reserved_nanos, nanos, ln.cap_nanos)
                and _fits(c.spent_tokens + c.reserved_tokens, tokens, ln.cap_tokens)
            ):
                return found, i
        return found, None

    def _reserve_lines(
        self,
        call_id: str,
        lines: Sequence[Line],
        found: tuple[Counter, ...],
        nanos: int,
        tokens: int,
        until: float,
    ) -> tuple[Counter, ...]:
        after = []
        for ln, c in zip(lines, found, strict=True):
            n = Counter(
                c.spent_nanos, c.spent_tokens, c.reserved_nanos + nanos, c.reserved_tokens + tokens
            )
            self._counters[ln.key] = n
            self._touch(ln.key, ln.ttl_s)
            after.append(n)
        self._held[call_id] = _Held(tuple(ln.key for ln in lines), nanos, tokens, until)
        return tuple(after)

    def _unreserve(self, held: _Held) -> None:
        for k in held.keys:
            c = self._get(k)
            self._counters[k] = Counter(
                c.spent_nanos,
                c.spent_tokens,
                c.reserved_nanos - held.nanos,
                c.reserved_tokens - held.tokens,
            )

    async def settle(
        self, call_id: str, lines: Sequence[Line], nanos: int, tokens: int, *, now: float
    ) -> SettleOutcome:
        with self._lock:
            return self._settle(call_id, lines, nanos, tokens)

    def _settle(
        self, call_id: str, lines: Sequence[Line], nanos: int, tokens: int
    ) -> SettleOutcome:
        held = self._held.pop(call_id, None)
        if held is None:
            return SettleOutcome(tuple(self._get(ln.key) for ln in lines), False, False)
        if not held.expired:
            self._unreserve(held)
        after = []
        for ln in lines:
            c = self._get(ln.key)
            n = Counter(
                c.spent_nanos + nanos, c.spent_tokens + tokens, c.reserved_nanos, c.reserved_tokens
            )
            self._counters[ln.key] = n
            self._touch(ln.key, ln.ttl_s)
            after.append(n)
        return SettleOutcome(tuple(after), not held.expired, True)

    async def release(self, call_id: str, *, now: float) -> bool:
        with self._lock:
            return self._release(call_id)

    def _release(self, call_id: str) -> bool:
        held = self._held.pop(call_id, None)
        if held is None:
            return False
        if not held.expired:
            self._unreserve(held)
        return not held.expired

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
        with self._lock:
            found, failed = (
                self._check_lines(call_id, lines, nanos, tokens) if lines else ((), None)
            )
            values, rate_failed = self._check_rates(rates)
            counts, lease_failed = self._check_leases(leases, now)
            for stage, index in (
                ("budget", failed),
                ("rate", rate_failed),
                ("lease", lease_failed),
            ):
                if index is not None:
                    return AdmitOutcome(False, stage, index, found, values, counts)  # type: ignore[arg-type]
            after = (
                self._reserve_lines(call_id, lines, found, nanos, tokens, now + hold_s)
                if lines
                else ()
            )
            return AdmitOutcome(
                True,
                None,
                None,
                after,
                self._hit_rates(rates, values),
                self._take_leases(leases, call_id, lease_expires_at),
            )

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
        with self._lock:
            out = SettleOutcome((), False, False)
            if lines:
                if spent:
                    out = self._settle(call_id, lines, nanos, tokens)
                else:
                    held = self._release(call_id)
                    out = SettleOutcome(tuple(self._get(ln.key) for ln in lines), held, held)
            for key, delta in adjust:
                self._rates[key] = self._rates.get(key, 0) + delta
                self._touch(key, adjust_ttl_s)
            self._drop_leases(lease_keys, call_id)
            return out

    async def expire(self, *, now: float) -> int:
        with self._lock:
            n = 0
            for held in self._held.values():
                if not held.expired and held.until <= now:
                    self._unreserve(held)
                    held.expired = True
                    n += 1
            return n

    async def counters(self, keys: Sequence[str]) -> tuple[Counter, ...]:
        with self._lock:
            return tuple(self._get(k) for k in keys)

    async def add_spend(self, line: Line, nanos: int, tokens: int) -> Counter:
        with self._lock:
            c = self._get(line.key)
            n = Counter(
                c.spent_nanos + nanos, c.spent_tokens + tokens, c.reserved_nanos, c.reserved_tokens
            )
            self._counters[line.key] = n
            self._touch(line.key, line.ttl_s)
            return n

    # -- rate limits ------------------------------------------------------------------------

    async def hit(self, lines: Sequence[RateLine]) -> RateOutcome:
        with self._lock:
            found, failed = self._check_rates(lines)
            if failed is not None:
                return RateOutcome(False, found, failed)
            return RateOutcome(True, self._hit_rates(lines, found))

    def _check_rates(self, lines: Sequence[RateLine]) -> tuple[tuple[int, ...], int | None]:
        found = tuple(self._rates.get(ln.key, 0) for ln in lines)
        for i, (ln, v) in enumerate(zip(lines, found, strict=True)):
            if v + ln.amount > ln.limit:
                return found, i
        return found, None

    def _hit_rates(self, lines: Sequence[RateLine], found: tuple[int, ...]) -> tuple[int, ...]:
        for ln, v in zip(lines, found, strict=True):
            self._rates[ln.key] = v + ln.amount
            self._touch(ln.key, ln.ttl_s)
        return tuple(v + ln.amount for ln, v in zip(lines, found, strict=True))

    async def adjust(self, key: str, delta: int, *, ttl_s: float) -> int:
        with self._lock:
            v = self._rates.get(key, 0) + delta
            self._rates[key] = v
            self._touch(key, ttl_s)
            return v

    async def lease_acquire(
        self, keys: Sequence[tuple[str, int]], lease_id: str, *, now: float, expires_at: float
    ) -> LeaseOutcome:
        with self._lock:
            counts, failed = self._check_leases(keys, now)
            if failed is not None:
                return LeaseOutcome(False, counts, failed)
            return LeaseOutcome(True, self._take_leases(keys, lease_id, expires_at))

    def _check_leases(
        self, keys: Sequence[tuple[str, int]], now: float
    ) -> tuple[tuple[int, ...], int | None]:
        counts = []
        for key, _ in keys:
            live = self._leases.setdefault(key, {})
            for lid in [lid for lid, exp in live.items() if exp <= now]:
                del live[lid]
            counts.append(len(live))
        for i, ((_, limit), n) in enumerate(zip(keys, counts, strict=True)):
            if n + 1 > limit:
                return tuple(counts), i
        return tuple(counts), None

    def _take_leases(
        self, keys: Sequence[tuple[str, int]], lease_id: str, expires_at: float
    ) -> tuple[int, ...]:
        for key, _ in keys:
            self._leases.setdefault(key, {})[lease_id] = expires_at
        return tuple(len(self._leases[k]) for k, _ in keys)

    async def lease_release(self, keys: Sequence[str], lease_id: str) -> None:
        with self._lock:
            self._drop_leases(keys, lease_id)

    def _drop_leases(self, keys: Sequence[str], lease_id: str) -> None:
        for key in keys:
            live = self._leases.get(key)
            if live is not None:
                live.pop(lease_id, None)
                if not live:
                    del self._leases[key]

    async def lease_count(self, key: str, *, now: float) -> int:
        with self._lock:
            return sum(1 for exp in self._leases.get(key, {}).values() if exp > now)

    # -- switches ---------------------------------------------------------------------------

    async def set_switch(self, record: SwitchRecord) -> bool:
        with self._lock:
            new = record.key not in self._switches
            self._switches[record.key] = record
            subs = list(self._subs)
        for cb in subs:
            cb(SwitchChange(record.key, record))
        return new

    async def clear_switch(self, key: str) -> bool:
        with self._lock:
            had = self._switches.pop(key, None) is not None
            subs = list(self._subs)
        if had:
            for cb in subs:
                cb(SwitchChange(key, None))
        return had

    async def switches(self) -> dict[str, SwitchRecord]:
        with self._lock:
            return dict(self._switches)

    async def subscribe(self, on_change: Callable[[SwitchChange], None]) -> _MemorySubscription:
        with self._lock:
            self._subs.append(on_change)
        return _MemorySubscription(self, on_change)

    def _unsubscribe(self, cb: Callable[[SwitchChange], None]) -> None:
        with self._lock:
            if cb in self._subs:
                self._subs.remove(cb)

    # -- lost state ---------------------------------------------------------------------------

    async def generation(self) -> str | None:
        with self._lock:
            return self._generation

    async def set_generation(self, token: str) -> bool:
        with self._lock:
            if self._generation is not None:
                return False
            self._generation = token
            return True

    async def restore(self, restore: Restore) -> bool:
        with self._lock:
            if self._generation is not None:
                return False
            for key, nanos, tokens, ttl_s in restore.budgets:
                c = self._get(key)
                self._counters[key] = Counter(nanos, tokens, c.reserved_nanos, c.reserved_tokens)
                self._touch(key, ttl_s)
            for key, value, ttl_s in restore.rates:
                self._rates[key] = value
                self._touch(key, ttl_s)
            return True

    async def lock(self, name: str, token: str, *, ttl_s: float) -> bool:
        with self._lock:
            mono = time.monotonic()
            held = self._locks.get(name)
            if held is not None and held[1] > mono:
                return False
            self._locks[name] = (token, mono + ttl_s)
            return True

    async def unlock(self, name: str, token: str) -> None:
        with self._lock:
            held = self._locks.get(name)
            if held is not None and held[0] == token:
                del self._locks[name]

    async def aclose(self) -> None:
        with self._lock:
            self._subs.clear()
