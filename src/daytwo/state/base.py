"""The State port: the few atomic operations spend control needs from its store.

The control logic (``daytwo.control``) decides *what* to reserve, count and switch; a State
implementation makes each operation atomic -- in one process (:mod:`daytwo.state.memory`) or
across replicas (:mod:`daytwo.state.redis`, one Lua script per operation). Both pass the same
test suite (``tests/state``).

Time is always passed in by the caller (``now``, epoch seconds from the control layer's clock),
never read from the store's own clock, so that windows and expiries are testable and every
replica agrees with its own clock's idea of the window it is in.

Any failure to reach the store raises :class:`daytwo.core.errors.StateUnavailable`; the caller
applies its ``fail_closed`` / ``fail_open`` policy.

Lost state. Counters are a cache of the ledger; a store can lose them (a Redis restarted
without persistence, flushed, evicting keys; a new process's memory). A store holds a
*generation marker*, set once its counters have been rebuilt from the ledger
(:meth:`State.restore` then :meth:`State.set_generation`). A store that watches it (Redis, as
the gateway opens it) answers :meth:`State.admit` and :meth:`State.switches` with
:class:`daytwo.core.errors.StateLost` while the marker is missing, after asking its
``on_lost`` hook to rebuild (and waiting a little for it): nothing is admitted against counters
that started again from zero.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Literal, Protocol


@dataclass(frozen=True, slots=True)
class Line:
    """One budget counter touched by a reservation.

    ``key`` names the counter (scope + window); ``cap_*`` None means "count, don't enforce".
    The counter may be dropped ``ttl_s`` seconds after its last write (window end + grace).
    """

    key: str
    cap_nanos: int | None
    cap_tokens: int | None
    ttl_s: float


@dataclass(frozen=True, slots=True)
class Counter:
    spent_nanos: int = 0
    spent_tokens: int = 0
    reserved_nanos: int = 0
    reserved_tokens: int = 0


@dataclass(frozen=True, slots=True)
class ReserveOutcome:
    """``ok``: every line reserved. Else ``failed`` is the first line that would exceed its cap
    and nothing was reserved anywhere. ``counters`` are per line (after, or as found)."""

    ok: bool
    counters: tuple[Counter, ...]
    failed: int | None = None


@dataclass(frozen=True, slots=True)
class SettleOutcome:
    """Counters after settling, per line. ``held`` is False when the reservation was unknown
    (already settled or released: nothing changed) or had expired (spend added, nothing to
    un-reserve)."""

    counters: tuple[Counter, ...]
    held: bool
    applied: bool


@dataclass(frozen=True, slots=True)
class RateLine:
    """One fixed-window rate counter: refuse when ``value + amount > limit``."""

    key: str
    limit: int
    amount: int
    ttl_s: float


@dataclass(frozen=True, slots=True)
class RateOutcome:
    ok: bool
    values: tuple[int, ...]  # per line: the value after (ok) or as found (refused)
    failed: int | None = None


@dataclass(frozen=True, slots=True)
class LeaseOutcome:
    ok: bool
    counts: tuple[int, ...]  # live leases per key, after (ok) or as found (refused)
    failed: int | None = None


@dataclass(frozen=True, slots=True)
class AdmitOutcome:
    """One call's whole admission, all-or-nothing: budget lines, rate lines, leases.

    When refused, ``stage`` says which part refused (``budget``, ``rate`` or ``lease``) and
    ``failed`` its index there; nothing changed anywhere. Values are per line: after (ok) or
    as found (refused)."""

    ok: bool
    stage: Literal["budget", "rate", "lease"] | None
    failed: int | None
    counters: tuple[Counter, ...]
    rates: tuple[int, ...]
    leases: tuple[int, ...]


@dataclass(frozen=True, slots=True)
class SwitchRecord:
    """A switch as stored: ``key`` is its concrete scope key.

    ``mode`` says what the scope's calls get: ``kill`` refuses them (403 ``feature_disabled``);
    the degraded modes answer instead -- ``static`` with ``message`` in the client's wire
    format, ``cached`` with the last good cached answer for the same request (``message`` when
    there is none), ``alias`` by routing to the safe alias ``alias``."""

    key: str
    reason: str
    who: str
    at: float
    source: str = "manual"  # manual | budget | loopbreaker | alert
    mode: str = "kill"  # kill | static | cached | alias
    message: str | None = None
    alias: str | None = None

    @property
    def degraded(self) -> bool:
        return self.mode != "kill"


@dataclass(frozen=True, slots=True)
class SwitchChange:
    key: str
    record: SwitchRecord | None  # None: revived


@dataclass(frozen=True, slots=True)
class Restore:
    """Counters re-counted from the ledger. Written with SET semantics, so a rebuild is
    idempotent: run twice, or by two replicas at once, it leaves the same values."""

    #: (counter key, spent nano-dollars, spent tokens, ttl_s); reservations are left as found.
    budgets: tuple[tuple[str, int, int, float], ...] = ()
    #: (rate counter key, value, ttl_s).
    rates: tuple[tuple[str, int, float], ...] = ()


#: Asked to rebuild lost state (single-flight); resolves True once the store is usable again.
LostHook = Callable[[], Awaitable[bool]]


class Subscription(Protocol):
    async def aclose(self) -> None: ...


class State(Protocol):
    # -- budgets: reservations -------------------------------------------------------------
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
        """All-or-nothing: reserve ``nanos``/``tokens`` on every line, or on none.

        A line refuses when ``spent + reserved + amount > cap``. The reservation is held until
        settled, released, or ``now + hold_s`` passes and :meth:`expire` reclaims it.
        """
        ...

    async def settle(
        self, call_id: str, lines: Sequence[Line], nanos: int, tokens: int, *, now: float
    ) -> SettleOutcome:
        """Turn the reservation into actual spend (which may be more or less than reserved).

        Idempotent: a second settle (or settle after release) changes nothing (``applied``
        False). Settling a reservation that :meth:`expire` reclaimed still adds the spend.
        """
        ...

    async def release(self, call_id: str, *, now: float) -> bool:
        """Give the reservation back unspent. False when there was nothing held."""
        ...

    async def expire(self, *, now: float) -> int:
        """Reclaim reservations whose hold passed (a crashed replica's). Returns how many."""
        ...

    async def counters(self, keys: Sequence[str]) -> tuple[Counter, ...]: ...

    async def add_spend(self, line: Line, nanos: int, tokens: int) -> Counter:
        """Add spend without a reservation (rebuild from the ledger after a restart)."""
        ...

    # -- one call's admission and its end, each in one operation ---------------------------
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
        """:meth:`reserve` (when there are lines), :meth:`hit` and :meth:`lease_acquire`
        together, all-or-nothing, in one round trip."""
        ...

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
        """:meth:`settle` (``spent``) or :meth:`release` the reservation on ``lines`` (when
        there are lines), apply rate-counter ``adjust`` deltas and give back the leases, in one
        round trip. Idempotent for the reservation like settle/release."""
        ...

    # -- rate limits and concurrency -------------------------------------------------------
    async def hit(self, lines: Sequence[RateLine]) -> RateOutcome:
        """All-or-nothing increment of fixed-window counters."""
        ...

    async def adjust(self, key: str, delta: int, *, ttl_s: float) -> int:
        """Add ``delta`` (may be negative) to a counter; returns the new value."""
        ...

    async def lease_acquire(
        self, keys: Sequence[tuple[str, int]], lease_id: str, *, now: float, expires_at: float
    ) -> LeaseOutcome:
        """All-or-nothing: hold lease ``lease_id`` on every ``(key, limit)`` with room.

        Leases past their ``expires_at`` do not count (a crashed replica's leases lapse)."""
        ...

    async def lease_release(self, keys: Sequence[str], lease_id: str) -> None: ...

    async def lease_count(self, key: str, *, now: float) -> int: ...

    # -- kill switches ----------------------------------------------------------------------
    async def set_switch(self, record: SwitchRecord) -> bool:
        """Set (or replace) a switch and notify every subscriber. True when it was not set."""
        ...

    async def clear_switch(self, key: str) -> bool:
        """Clear a switch and notify. False when it was not set."""
        ...

    async def switches(self) -> dict[str, SwitchRecord]: ...

    async def subscribe(self, on_change: Callable[[SwitchChange], None]) -> Subscription:
        """Call ``on_change`` for every switch change made by any client of this store."""
        ...

    # -- lost state: the generation marker and the rebuild ------------------------------------
    #: Called when an operation finds the marker missing (see the module docstring).
    on_lost: LostHook | None

    async def generation(self) -> str | None:
        """The generation marker, or None: the store holds no rebuilt counters."""
        ...

    async def set_generation(self, token: str) -> bool:
        """Set the marker when it is missing. False when another client set it first."""
        ...

    async def restore(self, restore: Restore) -> bool:
        """Write re-counted spend (reservations kept) and rate counters, unless a generation
        is already set (then nothing is written and False: another client finished first)."""
        ...

    async def lock(self, name: str, token: str, *, ttl_s: float) -> bool:
        """Take a named lock for ``ttl_s`` (it lapses by itself). False: someone holds it."""
        ...

    async def unlock(self, name: str, token: str) -> None:
        """Give the lock back if ``token`` still holds it."""
        ...

    async def aclose(self) -> None: ...
