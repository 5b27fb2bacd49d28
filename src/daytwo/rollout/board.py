"""The rollouts a gateway routes by, held in memory so that routing a call costs no I/O.

Every replica reads the ``rollouts`` table every ``poll_s`` (default 0.5 s) off the event loop
and swaps in the new snapshot: replicas sharing a database route the same split within a poll
of each other, and a restarted replica resumes every rollout where the database says it is. A
replica's own changes (CLI through its admin API, its controller) apply at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time

from daytwo.core.errors import DaytwoError
from daytwo.rollout.model import Rollout
from daytwo.rollout.store import RolloutStore

log = logging.getLogger("daytwo.rollout")


class RolloutBoard:
    def __init__(self, store: RolloutStore, poll_s: float = 0.5) -> None:
        self.store = store
        self.poll_s = poll_s
        self._prompts: dict[tuple[str, str], Rollout] = {}
        self._aliases: dict[str, Rollout] = {}
        #: Any rollout at all (the pipeline's one test when there is none).
        self.any = False
        self._task: asyncio.Task[None] | None = None
        self._failing = False
        #: Rollouts this process changed, and when (monotonic): see :meth:`_merge`.
        self._applied: dict[str, tuple[float, Rollout]] = {}

    def load(self, active: list[Rollout]) -> None:
        prompts: dict[tuple[str, str], Rollout] = {}
        aliases: dict[str, Rollout] = {}
        for r in active:
            if r.kind == "prompt":
                name, _, label = r.target.partition("@")
                prompts[(name, label)] = r
            else:
                aliases[r.target] = r
        self._prompts, self._aliases = prompts, aliases
        self.any = bool(prompts or aliases)

    def apply(self, rollout: Rollout) -> None:
        """A change made by this process: routed by at once (the next poll confirms it)."""
        self._applied[rollout.id] = (time.monotonic(), rollout)
        active = [r for r in self.rollouts() if r.id != rollout.id]
        self.load([*active, rollout])

    def remove(self, rollout_id: str) -> None:
        self._applied.pop(rollout_id, None)
        self.load([r for r in self.rollouts() if r.id != rollout_id])

    def _merge(self, read: list[Rollout], since: float) -> list[Rollout]:
        """A poll's rows, minus what this process changed after the poll began reading (a
        read that started before a local move commits must not put the old state back)."""
        newer = {i: r for i, (at, r) in self._applied.items() if at >= since}
        self._applied = {i: v for i, v in self._applied.items() if v[0] >= since}
        out = []
        for r in read:
            mine = newer.pop(r.id, None)
            out.append(mine if mine is not None and mine.version > r.version else r)
        # moved here after the read began, not in the read: a start, or not yet committed
        out += [r for r in newer.values() if r.live or r.status in ("completed", "rolled_back")]
        return out

    def rollouts(self) -> list[Rollout]:
        return [*self._prompts.values(), *self._aliases.values()]

    def prompt(self, name: str, label: str) -> Rollout | None:
        return self._prompts.get((name, label))

    def alias(self, alias: str) -> Rollout | None:
        return self._aliases.get(alias)

    async def refresh(self) -> None:
        since = time.monotonic()
        read = await asyncio.to_thread(self.store.active)
        self.load(self._merge(read, since))

    def start(self) -> None:
        if self._task is None and self.poll_s > 0:
            self._task = asyncio.get_running_loop().create_task(self._poll())

    async def aclose(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def _poll(self) -> None:
        while True:
            await asyncio.sleep(self.poll_s)
            try:
                await self.refresh()
            except DaytwoError as exc:  # the database is down: keep routing the last split
                if not self._failing:
                    log.error(f"rollouts: cannot read the rollouts: {exc.message}")
                self._failing = True
            else:
                if self._failing:
                    log.info("rollouts: reading the rollouts again")
                self._failing = False
