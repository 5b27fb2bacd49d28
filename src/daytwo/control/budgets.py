"""Budgets that hold: enforcement by reservation, all-or-nothing across every matching budget.

Protocol, per call:

1. ``reserve(call_id, subject, worst_nanos, worst_tokens)`` before anything goes upstream.
   ``worst_nanos`` is :func:`worst_case_nanos` (counted input tokens + the output cap of every
   choice the call asks for, at the model's price). Every budget whose scope matches the call
   is checked and reserved in ONE atomic State operation: either all of them reserve, or none
   does and a :class:`Refusal` says which.
2. ``settle(reservation, actual_nanos, actual_tokens)`` when the call ends (success, or a partial
   stream that was billed), or ``release(reservation)`` when nothing was spent (errors before any
   output, refusals later in the pipeline). Both are idempotent.

The guarantee: for every budget counter, at every instant,
``spent + reserved <= cap + overshoot``, where ``overshoot`` is the sum over settled calls of
``max(0, actual - reserved)`` (zero when upstreams respect ``max_tokens`` and the input count is
not an undercount). A refused call reserves nothing.

Actions: ``block`` refuses what the cap cannot pay for; ``trip`` does the same and also switches
the scope off (a :class:`~daytwo.control.switches.SwitchBoard` kill switch a person must clear);
``alert`` emits threshold events (default 50/80/100 % of the cap, on actual spend); ``downgrade``
refuses with ``downgrade_to`` once ``downgrade_at`` % would be passed, and the caller retries the
reservation with ``downgraded=True`` for the cheaper alias (then only ``block``/``trip`` apply).
A budget with only ``alert`` counts but never refuses.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal
from zoneinfo import ZoneInfo

from daytwo.control.events import Event, EventSink, Unit, drop
from daytwo.control.scopes import Scope, Subject
from daytwo.control.switches import SwitchBoard
from daytwo.control.windows import Clock, Window, WindowKind, system_clock, window_at
from daytwo.core.errors import BudgetExceeded, FeatureDisabled, SpendControlError
from daytwo.core.money import format_usd_exact
from daytwo.core.types import Usage
from daytwo.pricing.cost import compute_cost
from daytwo.pricing.entry import PriceEntry
from daytwo.state.base import Counter, Line, SettleOutcome, State

Action = Literal["alert", "block", "downgrade", "trip"]
DEFAULT_THRESHOLDS = (50, 80, 100)
#: How long a reservation is held before a sweep may reclaim it (a crashed replica's calls).
DEFAULT_HOLD_S = 15 * 60.0
#: How long a window's counters outlive the window (late settles, reports).
COUNTER_GRACE_S = 3600.0
#: Reservation plans kept per budget, scope and window (cleared when it grows past this).
_HOLD_CACHE = 50_000


@dataclass(frozen=True, slots=True)
class Budget:
    name: str
    scope: Scope
    window: WindowKind
    cap_nanos: int | None = None
    cap_tokens: int | None = None
    actions: frozenset[Action] = frozenset({"alert", "block"})
    thresholds: tuple[int, ...] = DEFAULT_THRESHOLDS
    downgrade_to: str | None = None
    downgrade_at: int = 100

    def __post_init__(self) -> None:
        if self.cap_nanos is None and self.cap_tokens is None:
            raise ValueError(f"budget {self.name!r}: needs a USD cap, a token cap or both")
        if "downgrade" in self.actions and not self.downgrade_to:
            raise ValueError(f"budget {self.name!r}: action downgrade needs downgrade_to")
        if not 0 < self.downgrade_at <= 100:
            raise ValueError(f"budget {self.name!r}: downgrade_at must be in (0, 100]")

    @property
    def enforced(self) -> bool:
        return "block" in self.actions or "trip" in self.actions

    def counter_key(self, scope_key: str, window: Window) -> str:
        return f"budget:{self.name}:{scope_key}:{window.kind}:{window.id}"


@dataclass(frozen=True, slots=True)
class Hold:
    budget: Budget
    scope_key: str
    window: Window
    line: Line


@dataclass(frozen=True, slots=True)
class Reservation:
    call_id: str
    nanos: int
    tokens: int
    holds: tuple[Hold, ...]
    downgraded: bool = False

    @property
    def lines(self) -> tuple[Line, ...]:
        return tuple(h.line for h in self.holds)


@dataclass(frozen=True, slots=True)
class Refusal:
    """Why a reservation was refused. Nothing was reserved anywhere."""

    budget: Budget
    scope_key: str
    reason: Literal["block", "trip", "downgrade", "per_request"]
    unit: Unit
    limit: int
    spend: int  # spent + reserved by others, in ``unit``
    reset_at: float | None

    @property
    def downgrade_to(self) -> str | None:
        return self.budget.downgrade_to if self.reason == "downgrade" else None

    def error(self, now: float) -> SpendControlError:
        if self.unit == "nanousd":  # exact USD: rounded, a small budget reads `$0.0000`
            limit, spend = format_usd_exact(self.limit), format_usd_exact(self.spend)
        else:
            limit, spend = f"{self.limit} {self.unit}", f"{self.spend} {self.unit}"
        msg = (
            f"Budget `{self.budget.name}` for scope `{self.scope_key}` cannot pay for this "
            f"request: limit {limit}, committed {spend}."
        )
        cls = FeatureDisabled if self.reason == "trip" else BudgetExceeded
        reset = None if self.reason == "trip" else self.reset_at
        return cls(
            msg,
            scope=self.scope_key,
            limit=self.limit,
            spend=self.spend,
            unit=self.unit,
            reset_at=reset,
            now=now,
            code=self.reason,
        )


@dataclass(frozen=True, slots=True)
class Headroom:
    """What the tightest enforced budget can still pay for (None: unbounded)."""

    nanos: int | None
    tokens: int | None


def worst_case_nanos(price: PriceEntry, input_tokens: int, max_output_tokens: int) -> int:
    """The most a call can cost: all input at its dearest input rate, plus the output cap."""
    plain = compute_cost(Usage(input_tokens=input_tokens, output_tokens=max_output_tokens), price)
    as_writes = compute_cost(
        Usage(
            input_tokens=input_tokens,
            output_tokens=max_output_tokens,
            cache_write_tokens=input_tokens,
        ),
        price,
    )
    return max(plain, as_writes)


def affordable_output_tokens(price: PriceEntry, input_tokens: int, nanos: int) -> int:
    """The largest output cap whose worst case fits in ``nanos`` (-1: not even the input fits)."""
    if worst_case_nanos(price, input_tokens, 0) > nanos:
        return -1
    lo, hi = 0, 1
    while worst_case_nanos(price, input_tokens, hi) <= nanos:
        lo, hi = hi, hi * 2
        if hi > 1 << 40:  # free output: anything fits
            return lo
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if worst_case_nanos(price, input_tokens, mid) <= nanos:
            lo = mid
        else:
            hi = mid
    return lo


class Budgets:
    """Budget enforcement over a :class:`~daytwo.state.base.State`."""

    def __init__(
        self,
        state: State,
        budgets: Sequence[Budget],
        *,
        tz: str = "UTC",
        clock: Clock = system_clock,
        hold_s: float = DEFAULT_HOLD_S,
        switches: SwitchBoard | None = None,
        on_event: EventSink = drop,
    ) -> None:
        names = [b.name for b in budgets]
        if len(set(names)) != len(names):
            raise ValueError("budget names must be unique")
        self.state = state
        self.budgets = tuple(budgets)
        self.tz = ZoneInfo(tz)
        self.clock = clock
        self.hold_s = hold_s
        self.switches = switches
        self.on_event = on_event
        self._windows: dict[str, Window] = {}
        self._holds: dict[tuple[str, str, int, bool], Hold] = {}

    def _matches(self, subject: Subject, extra: Sequence[Budget] = ()) -> list[tuple[Budget, str]]:
        out = []
        for b in (*self.budgets, *extra) if extra else self.budgets:
            key = b.scope.resolve(subject)
            if key is not None:
                out.append((b, key))
        return out

    def _line(self, b: Budget, key: str, w: Window, now: float, downgraded: bool) -> Line:
        cap_n, cap_t = (b.cap_nanos, b.cap_tokens) if b.enforced else (None, None)
        if "downgrade" in b.actions and not downgraded:
            soft_n = None if b.cap_nanos is None else b.cap_nanos * b.downgrade_at // 100
            soft_t = None if b.cap_tokens is None else b.cap_tokens * b.downgrade_at // 100
            cap_n = soft_n if cap_n is None or soft_n is None else min(cap_n, soft_n)
            cap_t = soft_t if cap_t is None or soft_t is None else min(cap_t, soft_t)
        # The TTL counts from the window's start (not from now), so one Line serves the whole
        # window and can be cached: a counter outlives its window by at least the grace.
        return Line(b.counter_key(key, w), cap_n, cap_t, w.end - w.start + COUNTER_GRACE_S)

    def _window(self, kind: WindowKind, now: float) -> Window:
        """The current window of ``kind`` (cached until it ends: computing one is datetime work)."""
        w = self._windows.get(kind)
        if w is None or not (w.start <= now < w.end):
            w = window_at(kind, now, self.tz)
            self._windows[kind] = w
        return w

    def _hold(self, b: Budget, key: str, now: float, downgraded: bool) -> Hold:
        w = self._window(b.window, now)
        k = (b.name, key, w.id, downgraded)
        h = self._holds.get(k)
        if h is None or h.budget is not b:
            if len(self._holds) > _HOLD_CACHE:
                self._holds.clear()
            h = self._holds[k] = Hold(b, key, w, self._line(b, key, w, now, downgraded))
        return h

    def plan(
        self,
        subject: Subject,
        worst_nanos: int,
        worst_tokens: int,
        *,
        downgraded: bool = False,
        extra: Sequence[Budget] = (),
    ) -> tuple[float, tuple[Hold, ...]] | Refusal:
        """The counters a reservation must hold (with the instant they were computed for), or
        the refusal of a per-request budget, which needs no counter."""
        now = self.clock()
        holds: list[Hold] = []
        for b, key in self._matches(subject, extra):
            if b.window == "request":
                w = window_at("request", now, self.tz)
                if b.enforced or "downgrade" in b.actions:
                    line = self._line(b, key, w, now, downgraded)
                    refusal = _over(
                        b, key, line, Counter(), (worst_nanos, worst_tokens), None, downgraded
                    )
                    if refusal is not None:
                        return _per_request(refusal, downgraded)
                continue
            holds.append(self._hold(b, key, now, downgraded))
        return now, tuple(holds)

    async def refused(
        self,
        holds: Sequence[Hold],
        index: int,
        found: Counter,
        amounts: tuple[int, int],
        *,
        now: float,
        downgraded: bool,
    ) -> Refusal:
        """The refusal of the line at ``index``, as the store found it; trips its scope when
        the budget says so."""
        h = holds[index]
        refusal = _over(h.budget, h.scope_key, h.line, found, amounts, h.window, downgraded)
        assert refusal is not None
        if refusal.reason == "trip":
            await self._trip(h, now, "the budget cannot pay for a call")
        return refusal

    async def reserve(
        self,
        call_id: str,
        subject: Subject,
        worst_nanos: int,
        worst_tokens: int,
        *,
        downgraded: bool = False,
        extra: Sequence[Budget] = (),
    ) -> Reservation | Refusal:
        """Reserve the worst case on every matching budget (``extra``: budgets of this call's
        own, such as its virtual key's), or refuse without reserving."""
        planned = self.plan(subject, worst_nanos, worst_tokens, downgraded=downgraded, extra=extra)
        if isinstance(planned, Refusal):
            return planned
        now, holds = planned
        if not holds:
            return Reservation(call_id, worst_nanos, worst_tokens, (), downgraded)
        lines = [h.line for h in holds]
        out = await self.state.reserve(
            call_id, lines, worst_nanos, worst_tokens, now=now, hold_s=self.hold_s
        )
        if out.ok:
            return Reservation(call_id, worst_nanos, worst_tokens, holds, downgraded)
        assert out.failed is not None
        return await self.refused(
            holds,
            out.failed,
            out.counters[out.failed],
            (worst_nanos, worst_tokens),
            now=now,
            downgraded=downgraded,
        )

    async def settle(
        self, reservation: Reservation, actual_nanos: int, actual_tokens: int
    ) -> list[Event]:
        """Replace the reservation with the actual spend; returns threshold and trip events."""
        if not reservation.holds:
            return []
        now = self.clock()
        out = await self.state.settle(
            reservation.call_id, reservation.lines, actual_nanos, actual_tokens, now=now
        )
        return await self.settled(reservation, out, actual_nanos, actual_tokens, now=now)

    async def settled(
        self,
        reservation: Reservation,
        out: SettleOutcome,
        actual_nanos: int,
        actual_tokens: int,
        *,
        now: float,
    ) -> list[Event]:
        """The threshold and trip events of a settlement the store applied."""
        if not out.applied:
            return []
        events: list[Event] = []
        for h, after in zip(reservation.holds, out.counters, strict=True):
            b = h.budget
            for unit, cap, now_v, delta in (
                ("nanousd", b.cap_nanos, after.spent_nanos, actual_nanos),
                ("tokens", b.cap_tokens, after.spent_tokens, actual_tokens),
            ):
                if cap is None or cap <= 0:
                    continue
                before = now_v - delta
                if "alert" in b.actions:
                    for pct in b.thresholds:
                        mark = cap * pct / 100
                        if before < mark <= now_v:
                            events.append(
                                Event(
                                    "threshold",
                                    h.scope_key,
                                    now,
                                    b.name,
                                    h.window.start,
                                    pct,
                                    now_v,
                                    cap,
                                    unit,  # type: ignore[arg-type]
                                )
                            )
                if "trip" in b.actions and before < cap <= now_v:
                    events.append(await self._trip(h, now, f"spend reached the cap ({unit})"))
        for e in events:
            if e.kind == "threshold":
                self.on_event(e)
        return events

    async def release(self, reservation: Reservation) -> None:
        if reservation.holds:
            await self.state.release(reservation.call_id, now=self.clock())

    async def expire(self) -> int:
        """Reclaim reservations held past ``hold_s`` (run periodically on one or all replicas)."""
        return await self.state.expire(now=self.clock())

    async def headroom(self, subject: Subject) -> Headroom:
        """What the enforced budgets matching ``subject`` can still pay for (for clamping)."""
        now = self.clock()
        matched = [(b, k) for b, k in self._matches(subject) if b.enforced]
        windowed = [(b, k, window_at(b.window, now, self.tz)) for b, k in matched]
        keys = [b.counter_key(k, w) for b, k, w in windowed if b.window != "request"]
        found = iter(await self.state.counters(keys)) if keys else iter(())
        nanos: int | None = None
        tokens: int | None = None
        for b, _k, _w in windowed:
            c = Counter() if b.window == "request" else next(found)
            if b.cap_nanos is not None:
                left = max(0, b.cap_nanos - c.spent_nanos - c.reserved_nanos)
                nanos = left if nanos is None else min(nanos, left)
            if b.cap_tokens is not None:
                left = max(0, b.cap_tokens - c.spent_tokens - c.reserved_tokens)
                tokens = left if tokens is None else min(tokens, left)
        return Headroom(nanos, tokens)

    async def _trip(self, h: Hold, now: float, why: str) -> Event:
        event = Event("trip", h.scope_key, now, h.budget.name, h.window.start, detail=why)
        if self.switches is not None:
            await self.switches.kill(
                Scope.parse(h.scope_key),
                reason=f"budget {h.budget.name}: {why}",
                who=f"budget:{h.budget.name}",
                source="budget",
            )
        self.on_event(event)
        return event


def _over(
    b: Budget,
    key: str,
    line: Line,
    c: Counter,
    amounts: tuple[int, int],
    w: Window | None,
    downgraded: bool,
) -> Refusal | None:
    reset = None if w is None else w.end
    checks: tuple[tuple[Unit, int | None, int | None, int, int], ...] = (
        ("nanousd", line.cap_nanos, b.cap_nanos, c.spent_nanos + c.reserved_nanos, amounts[0]),
        ("tokens", line.cap_tokens, b.cap_tokens, c.spent_tokens + c.reserved_tokens, amounts[1]),
    )
    for unit, cap, full, committed, amount in checks:
        if cap is not None and committed + amount > cap:
            reason: Literal["block", "trip", "downgrade"]
            if "downgrade" in b.actions and not downgraded:
                reason = "downgrade"
            elif "trip" in b.actions:
                reason = "trip"
            else:
                reason = "block"
            limit = full if full is not None else cap
            return Refusal(b, key, reason, unit, limit, committed, reset)
    return None


def _per_request(r: Refusal, downgraded: bool) -> Refusal:
    if r.reason == "downgrade" and not downgraded:
        return r
    return Refusal(r.budget, r.scope_key, "per_request", r.unit, r.limit, r.spend, None)
