"""The long-lived half of spend control in one gateway process: the state store, the kill-switch
board, the sweep of abandoned reservations, the events log, and the rebuild of counters from the
ledger. The per-config half (:class:`~daytwo.control.gate.SpendGate`) is rebuilt on every
reload and shares these.

Rebuilds. A store without its generation marker holds no counters worth trusting: a new
process's memory, or a Redis that was restarted without persistence, flushed or evicted keys.
:meth:`SpendControl.recover` then re-counts every budget (configured and virtual keys') and
every RPM/TPM counter from the ledger (:mod:`daytwo.gateway.rebuild`), writes back the kill
switches this replica knows, and sets the marker. It runs at start-up before anything is
admitted, and whenever the store reports the marker missing (the admit script checks it at no
extra round trip); it is single-flight in a process, and across replicas one takes a lock and
rebuilds while the others wait for the marker. Meanwhile calls are refused with 503
``state_unavailable`` (``fail_closed``) or admitted unmetered (``fail_open``).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid
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
from daytwo.core.errors import DaytwoError, StateUnavailable
from daytwo.gateway.rebuild import marker, recount
from daytwo.keys.store import KeyStore
from daytwo.ledger.store import open_store
from daytwo.ledger.totals import totals_since
from daytwo.state.base import Line, Restore, State, SwitchChange
from daytwo.state.memory import MemoryState

log = logging.getLogger("daytwo.control")

#: How often abandoned reservations (a crashed replica's) are looked for.
SWEEP_INTERVAL_S = 60.0
#: A rebuild's lock lapses after this (a replica that died rebuilding does not block the rest;
#: a second rebuild is harmless: it writes the same values).
REBUILD_LOCK_S = 60.0
#: How often a replica waiting for another's rebuild looks for the marker.
REBUILD_POLL_S = 0.05


def open_state(cfg: StateConfig) -> State:
    if cfg.backend == "redis":
        from daytwo.state.redis import RedisState

        return RedisState.from_url(cfg.url, prefix=cfg.prefix, watch_generation=True)
    return MemoryState()


class SpendControl:
    def __init__(
        self,
        state: State,
        switches: SwitchBoard,
        events: KeyStore | None,
        *,
        ledger_url: str | None = None,
    ) -> None:
        self.state = state
        self.switches = switches
        self._events = events
        self._ledger_url = ledger_url
        self._tasks: set[asyncio.Task[None]] = set()
        self._sweeper: asyncio.Task[None] | None = None
        #: The current config's gate: what a rebuild re-counts (set by :meth:`rebuild`).
        self._gate: SpendGate | None = None
        self._recovery: asyncio.Task[bool] | None = None

    @classmethod
    async def open(
        cls,
        cfg: SpendControlConfig,
        *,
        events: KeyStore | None,
        on_switch: Callable[[SwitchChange], None],
        ledger_url: str | None = None,
    ) -> SpendControl:
        """Open the store, rebuild its counters from the ledger if it holds none (always, for
        memory), and load the kill switches. With ``fail_closed`` an unreachable store stops
        start-up (a gateway that cannot verify spend must not serve); with ``fail_open``
        start-up goes on and the board catches up when the store comes back."""
        state = open_state(cfg.state)
        self = cls(state, SwitchBoard(state), events, ledger_url=ledger_url)
        self.switches.on_event = self.record
        self.switches.add_listener(on_switch)
        self._gate = self.gate(cfg)
        state.on_lost = self.recover
        await self._warn_durability()
        try:
            await self.recover()
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
        """Arm ``gate`` (a config, at start or reload): re-count the current window of each of
        its budgets that this store has not counted yet (a budget new in this config), once
        per window across all replicas sharing the store. Returns counters rebuilt."""
        self._gate = gate
        self._ledger_url = ledger_url
        return await rebuild_from_ledger(self.state, gate.budgets, ledger_url)

    # -- lost state -----------------------------------------------------------------------

    def recover(self) -> asyncio.Task[bool]:
        """Make the store usable again after it lost its data (single-flight: every caller
        awaits the same rebuild). Resolves True once the store has its marker again."""
        task = self._recovery
        if task is None or task.done():
            task = self._recovery = asyncio.get_running_loop().create_task(self._recover())
        return task

    async def _recover(self) -> bool:
        state = self.state
        token = uuid.uuid4().hex
        try:
            while await state.generation() is None:
                if await state.lock("rebuild", token, ttl_s=REBUILD_LOCK_S):
                    try:
                        if await state.generation() is None:
                            await self._rebuild_all(token)
                    finally:
                        await state.unlock("rebuild", token)
                    break
                # Another replica rebuilds: await its marker (or take over once its lock lapses).
                await asyncio.sleep(REBUILD_POLL_S)
            gate, url = self._gate, self._ledger_url
            if gate is not None and url is not None:
                # Budgets only this replica's config has (the rebuilder did not know them).
                await rebuild_from_ledger(state, gate.budgets, url)
            return await state.generation() is not None
        except StateUnavailable as exc:
            log.warning("spend-control state not rebuilt: %s", exc.message)
            return False
        except DaytwoError as exc:  # the ledger or keys could not be read: the next call retries
            log.error("spend-control state not rebuilt: reading the ledger failed: %s", exc.message)
            return False

    async def _rebuild_all(self, token: str) -> None:
        gate, url = self._gate, self._ledger_url
        t0 = time.perf_counter()
        restore = None
        if gate is not None and url is not None:
            keys = self._events
            now = gate.clock()

            def read() -> Restore:
                principals = [r.principal() for r in keys.usable_records(now)] if keys else []
                return recount(gate, principals, url, now)

            restore = await asyncio.to_thread(read)
            if not await self.state.restore(restore):
                return  # another replica finished first (its lock had lapsed)
        for record in self.switches.active().values():
            await self.state.set_switch(record)  # the store lost them; this replica did not
        await self.state.set_generation(token)
        n = 0 if restore is None else len(restore.budgets) + len(restore.rates)
        ms = (time.perf_counter() - t0) * 1000
        if isinstance(self.state, MemoryState):
            log.info("rebuilt %d spend-control counters from the ledger in %.0f ms", n, ms)
        else:
            log.warning(
                "spend-control state had no generation marker (a new, restarted-empty or flushed "
                "Redis): rebuilt %d counters from the ledger in %.0f ms",
                n,
                ms,
            )

    async def _warn_durability(self) -> None:
        # Only Redis can be configured to lose data (memory has no such setting); looked up by
        # name so that a memory-only gateway never imports the Redis client.
        check = getattr(self.state, "durability_warnings", None)
        if check is None:
            return
        try:
            warnings: list[str] = await check()
        except StateUnavailable:
            return  # unreachable: said elsewhere
        for text in warnings:
            log.warning(text)

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
        if event.kind.startswith(("switch", "degrade")):
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
                await self.recover()  # a store that came back empty is rebuilt first
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
        if self._recovery is not None and not self._recovery.done():
            self._recovery.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._recovery
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
        if await state.adjust(marker(b, w.id), 1, ttl_s=ttl) == 1:
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
