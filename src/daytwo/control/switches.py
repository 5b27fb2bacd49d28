"""Kill switches: turn a scope off (a project, workflow, feature, agent, session, key, model or
provider -- or any combination), with who, why and when, on every replica within a second.

A switch may instead put its scope in *degraded mode*: the calls are answered rather than
refused -- with a static message, the last good cached answer, or by a safe alias
(:data:`DEGRADE_MODES`; the pipeline answers them, gateway/degrade.py). One switch per scope:
degrading a killed scope replaces its kill switch, and ``revive`` clears either.

Each replica keeps the active switches in a local dict, so checking a call costs no round trip:
:meth:`SwitchBoard.start` subscribes to changes first and then loads the snapshot (so no change
can fall between the two), and every change made by any replica arrives by the State's
notification (pub/sub on Redis). A replica's own changes apply locally at once.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Mapping

from daytwo.config.degrade import degrade_spec
from daytwo.control.events import Event, EventSink, drop
from daytwo.control.scopes import Scope, Subject
from daytwo.control.windows import Clock, system_clock
from daytwo.core.errors import FeatureDisabled, StateUnavailable
from daytwo.state.base import State, Subscription, SwitchChange, SwitchRecord

#: Safety net behind pub/sub: every replica re-reads the switches this often (seconds).
RESYNC_INTERVAL_S = 2.0

SWITCH_FIELDS = ("project", "workflow", "feature", "agent", "session", "key", "model", "provider")


def switch_scope(spec: Mapping[str, str] | str | Scope) -> Scope:
    """A concrete scope fit for a kill switch (no ``*``; at least one field)."""
    scope = spec if isinstance(spec, Scope) else Scope.parse(spec)
    if not scope.fields:
        raise ValueError("a kill switch needs a scope (project, workflow, feature, ...)")
    if not scope.is_concrete:
        raise ValueError("a kill switch scope names values, not `*`")
    return scope


def disabled_error(record: SwitchRecord, now: float) -> FeatureDisabled:
    return FeatureDisabled(
        f"Scope `{record.key}` is disabled: {record.reason} (by {record.who}).",
        scope=record.key,
        code=record.source,
        now=now,
    )


class SwitchBoard:
    def __init__(
        self, state: State, *, clock: Clock = system_clock, on_event: EventSink = drop
    ) -> None:
        self.state = state
        self.clock = clock
        self.on_event = on_event
        self._active: dict[str, tuple[Scope, SwitchRecord]] = {}
        self._sub: Subscription | None = None
        self._listeners: list[Callable[[SwitchChange], None]] = []
        self._resync: asyncio.Task[None] | None = None

    def add_listener(self, listener: Callable[[SwitchChange], None]) -> None:
        """Hear every change this board applies (e.g. to end in-flight streams in a scope)."""
        self._listeners.append(listener)

    async def start(self) -> None:
        self._sub = await self.state.subscribe(self._apply)
        snapshot = await self.state.switches()
        self._active = {k: (Scope.parse(k), r) for k, r in snapshot.items()}
        if self._resync is None:
            self._resync = asyncio.get_running_loop().create_task(self._resync_loop())

    async def aclose(self) -> None:
        if self._resync is not None:
            self._resync.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._resync
            self._resync = None
        if self._sub is not None:
            await self._sub.aclose()
            self._sub = None

    async def resync(self) -> None:
        """Reconcile the local switches with the store's (a missed notification, e.g. while
        the pub/sub connection was down, is caught up here)."""
        snapshot = await self.state.switches()
        for key in [k for k in self._active if k not in snapshot]:
            self._apply(SwitchChange(key, None))
        for key, record in snapshot.items():
            have = self._active.get(key)
            if have is None or have[1] != record:
                self._apply(SwitchChange(key, record))

    async def _resync_loop(self) -> None:
        while True:
            await asyncio.sleep(RESYNC_INTERVAL_S)
            with contextlib.suppress(StateUnavailable):
                await self.resync()

    def _apply(self, change: SwitchChange) -> None:
        if change.record is None:
            self._active.pop(change.key, None)
        else:
            self._active[change.key] = (Scope.parse(change.key), change.record)
        for listener in self._listeners:
            listener(change)

    @property
    def any_active(self) -> bool:
        return bool(self._active)

    def check(self, subject: Subject, *, kill_only: bool = False) -> SwitchRecord | None:
        """The switch that governs this call, if any: a kill switch over a degraded mode (the
        stricter wins), degraded modes only unless ``kill_only``. Local, no I/O."""
        found = None
        for scope, record in self._active.values():
            if scope.resolve(subject) is not None:
                if not record.degraded:
                    return record
                if found is None and not kill_only:
                    found = record
        return found

    def active(self) -> dict[str, SwitchRecord]:
        return {k: r for k, (_, r) in self._active.items()}

    async def kill(
        self,
        scope: Mapping[str, str] | str | Scope,
        *,
        reason: str,
        who: str,
        source: str = "manual",
    ) -> SwitchRecord:
        s = switch_scope(scope)
        now = self.clock()
        record = SwitchRecord(s.key(), reason, who, now, source)
        await self.state.set_switch(record)
        self._apply(SwitchChange(record.key, record))
        self.on_event(Event("switch_on", record.key, now, detail=f"{who}: {reason}"))
        return record

    async def degrade(
        self,
        scope: Mapping[str, str] | str | Scope,
        mode: str,
        *,
        reason: str,
        who: str,
        message: str | None = None,
        alias: str | None = None,
        source: str = "manual",
    ) -> SwitchRecord:
        """Put a scope in degraded mode (replacing a kill switch or another mode on it).
        ValueError for a bad mode, message or alias; a scope naming a provider cannot be
        degraded (its deployments are skipped by a kill switch instead)."""
        s = switch_scope(scope)
        if "provider" in s.as_dict():
            raise ValueError(
                "a provider is not degraded: kill it (its deployments are skipped) or degrade "
                "the project, workflow, feature or model that uses it"
            )
        message, alias = degrade_spec(mode, message, alias)
        now = self.clock()
        record = SwitchRecord(s.key(), reason, who, now, source, mode, message, alias)
        await self.state.set_switch(record)
        self._apply(SwitchChange(record.key, record))
        detail = f"{who}: degraded ({mode}{f' to {alias}' if alias else ''}): {reason}"
        self.on_event(Event("degrade_on", record.key, now, detail=detail))
        return record

    async def revive(self, scope: Mapping[str, str] | str | Scope, *, who: str) -> bool:
        s = switch_scope(scope)
        known = self._active.get(s.key())
        had = await self.state.clear_switch(s.key())
        self._apply(SwitchChange(s.key(), None))
        if had:
            degraded = known is not None and known[1].degraded
            when = self.clock()
            self.on_event(
                Event("degrade_off", s.key(), when, detail=who)
                if degraded
                else Event("switch_off", s.key(), when, detail=who)
            )
        return had
