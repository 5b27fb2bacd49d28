"""The long-lived half of spend control in one gateway process: the state store, the kill-switch
board, the sweep of abandoned reservations, the events log, and the rebuild of budget counters
from the ledger at start-up. The per-config half (:class:`~daytwo.control.gate.SpendGate`) is
rebuilt on every reload and shares these.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Coroutine
from dataclasses import asdict
from typing import Any

from daytwo.config.spend import SpendControlConfig, StateConfig
from daytwo.control.budgets import COUNTER_GRACE_S, Budgets
from daytwo.control.events import Event
from daytwo.control.gate import SpendGate
from daytwo.control.scopes import EACH, Subject
from daytwo.control.switches import SwitchBoard
from daytwo.control.windows import window_at
from daytwo.core.errors import StateUnavailable
from daytwo.keys.store import KeyStore
from daytwo.ledger.store import open_store
from daytwo.ledger.totals import totals_since
from daytwo.state.base import Line, State, SwitchChange
from daytwo.state.memory import MemoryState

log = logging.getLogger("daytwo.control")

#: How often abandoned reservations (a crashed replica's) are looked for.
SWEEP_INTERVAL_S = 60.0


def open_state(cfg: StateConfig) -> State:
    if cfg.backend == "redis":
        from daytwo.state.redis import RedisState

        return RedisState.from_url(cfg.url, prefix=cfg.prefix)
    return MemoryState()


class SpendControl:
    def __init__(self, state: State, switches: SwitchBoard, events: KeyStore | None) -> None:
        self.state = state
        self.switches = switches
        self._events = events
        self._tasks: set[asyncio.Task[None]] = set()
        self._sweeper: asyncio.Task[None] | None = None

    @classmethod
    async def open(
        cls,
        cfg: SpendControlConfig,
        *,
        events: KeyStore | None,
        on_switch: Callable[[SwitchChange], None],
    ) -> SpendControl:
        """Open the store and load the kill switches. With ``fail_closed`` an unreachable store
        stops start-up (a gateway that cannot verify spend must not serve); with ``fail_open``
        start-up goes on and the board catches up when the store comes back."""
        state = open_state(cfg.state)
        self = cls(state, SwitchBoard(state), events)
        self.switches.on_event = self.record
        self.switches.add_listener(on_switch)
        try:
            await self.switches.start()
        except StateUnavailable:
            if cfg.state.on_unavailable == "fail_closed":
                await state.aclose()
                raise
            log.warning("spend-control state unreachable at start-up; retrying (fail_open)")
            self._spawn(self._start_later())
        self._sweeper = asyncio.get_running_loop().create_task(self._sweep())
        return self

    def gate(self, cfg: SpendControlConfig) -> SpendGate:
        return SpendGate(cfg, self.switches, on_event=self.record)

    async def rebuild(self, gate: SpendGate, ledger_url: str) -> int:
        """Re-count every budget's current window from the ledger, once per window across all
        replicas sharing the store (the first to start does it). Returns counters rebuilt."""
        return await rebuild_from_ledger(self.state, gate.budgets, ledger_url)

    # -- events ---------------------------------------------------------------------------

    def record(self, event: Event) -> None:
        """Write a spend-control event to the admin event log (off the event loop)."""
        log.info(
            "spend-control event",
            extra={"event": event.kind, "scope": event.scope, "budget": event.budget},
        )
        store = self._events
        if store is None:
            return
        detail = {k: v for k, v in asdict(event).items() if v is not None and k != "at"}
        actor = f"budget:{event.budget}" if event.budget else event.kind
        if event.kind.startswith("switch"):
            actor = event.detail.partition(":")[0] or "switch"
        self._spawn(
            asyncio.to_thread(
                store.record_event,
                actor=actor,
                action=event.kind,
                target=event.scope,
                after=detail,
                at=event.at,
            )
        )

    def _spawn(self, coro: Coroutine[Any, Any, None]) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._done)

    def _done(self, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("spend-control background task failed", exc_info=task.exception())

    async def _start_later(self) -> None:
        while True:
            await asyncio.sleep(2.0)
            with contextlib.suppress(StateUnavailable):
                await self.switches.start()
                log.info("spend-control state reachable again; kill switches loaded")
                return

    async def _sweep(self) -> None:
        while True:
            await asyncio.sleep(SWEEP_INTERVAL_S)
            try:
                n = await self.state.expire(now=time.time())
            except StateUnavailable:
                continue
            if n:
                log.warning("reclaimed %d abandoned budget reservations", n)

    async def aclose(self) -> None:
        if self._sweeper is not None:
            self._sweeper.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._sweeper
        if self._tasks:
            await asyncio.wait(set(self._tasks), timeout=5.0)
        await self.switches.aclose()
        await self.state.aclose()


async def rebuild_from_ledger(state: State, budgets: Budgets, ledger_url: str) -> int:
    """Add each budget's spend so far in its current window, from the ledger, to the store.

    A marker counter per (budget, window) makes this happen once per window however many
    replicas start: the first to bump it rebuilds, the others find it done.
    """
    now = budgets.clock()
    todo = []
    for b in budgets.budgets:
        if b.window == "request":
            continue
        w = window_at(b.window, now, budgets.tz)
        ttl = w.end - now + COUNTER_GRACE_S
        if await state.adjust(f"rebuilt:{b.name}:{w.id}", 1, ttl_s=ttl) == 1:
            todo.append((b, w, ttl))
    if not todo:
        return 0
    store = await asyncio.to_thread(open_store, ledger_url, create=False)
    n = 0
    try:
        for b, w, ttl in todo:
            fixed = {f: v for f, v in b.scope.fields if v != EACH}
            each = [f for f, v in b.scope.fields if v == EACH]
            rows = await asyncio.to_thread(totals_since, store, w.start, group_by=each, where=fixed)
            for row in rows:
                subject = Subject(**{**fixed, **{k: v for k, v in row.fields.items() if v}})
                key = b.scope.resolve(subject)
                if key is None:
                    continue
                line = Line(b.counter_key(key, w), b.cap_nanos, b.cap_tokens, ttl)
                await state.add_spend(line, row.nanos, row.tokens)
                n += 1
    finally:
        store.close()
    if n:
        log.info("rebuilt %d budget counters from the ledger", n)
    return n
