"""Where drift's notifications go: the alerting room's sinks (``drift.sinks`` names entries of
``alerts.sinks``), its delivery with retries, and its history table (``alert_events``: a
``firing`` / ``resolved`` transition row, then one row per delivery attempt) -- so
``daytwo alerts history`` lists model changes and drift beside every other alert.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from typing import Any

import orjson

from daytwo.alerts.delivery import Dispatcher
from daytwo.alerts.history import AlertHistory
from daytwo.alerts.notify import Notification
from daytwo.alerts.sinks import Sink, build_sink
from daytwo.config.schema import Config
from daytwo.core.errors import DaytwoError
from daytwo.core.secrets import SecretRegistry

log = logging.getLogger("daytwo.drift")

Listener = Callable[[Notification], None]
#: Seconds :meth:`Announcer.aclose` gives deliveries still running.
CLOSE_GRACE_S = 5.0


class Announcer:
    """Sends notifications to the configured sinks and records them."""

    def __init__(self, history: AlertHistory, secrets: SecretRegistry, replica: str) -> None:
        self.history = history
        self.secrets = secrets
        self.replica = replica
        self.sinks: dict[str, Sink] = {}
        self.listeners: list[Listener] = []
        self.dispatcher = Dispatcher(self._record, replica=replica, clock=time.time)
        self._writes: set[asyncio.Task[None]] = set()

    def configure(self, config: Config) -> None:
        """Build the sinks ``drift.sinks`` names (a sink whose settings did not change is
        kept)."""
        d, alerts = self.dispatcher, config.alerts
        d.attempts, d.backoff_s, d.max_backoff_s = (
            alerts.delivery_attempts,
            alerts.backoff_s,
            alerts.max_backoff_s,
        )
        old, self.sinks = self.sinks, {}
        for name in config.drift.sinks:
            spec = config.alerts.sinks[name]
            have = old.get(name)
            keep = have is not None and getattr(have, "spec", None) == spec
            self.sinks[name] = (
                have if keep and have is not None else build_sink(name, spec, self.secrets)
            )

    def send(self, n: Notification) -> None:
        """Record the transition, tell the listeners, deliver (returns at once)."""
        self._record(
            {
                "at": n.at,
                "kind": "transition",
                "rule": n.rule,
                "fingerprint": n.fingerprint,
                "state": n.status,
                "severity": n.severity,
                "labels": orjson.dumps(n.labels, option=orjson.OPT_SORT_KEYS).decode(),
                "value": n.value,
                "threshold": n.threshold,
                "started_at": n.started_at,
                "replica": self.replica,
                "detail": n.summary,
            }
        )
        for listener in self.listeners:
            listener(n)
        self.dispatcher.deliver(n, list(self.sinks.values()))

    def _record(self, row: dict[str, Any]) -> None:
        task = asyncio.get_running_loop().create_task(self._write(row))
        self._writes.add(task)
        task.add_done_callback(self._writes.discard)

    async def _write(self, row: dict[str, Any]) -> None:
        try:
            await asyncio.to_thread(self.history.write, [row])
        except DaytwoError as exc:
            log.error(f"alert history: a drift row lost: {exc.message}")

    async def flush(self, timeout_s: float = 10.0) -> None:
        """Wait for deliveries and history rows so far (tests)."""
        await self.dispatcher.drain(timeout_s)
        if self._writes:
            await asyncio.wait(set(self._writes), timeout=timeout_s)

    async def aclose(self) -> None:
        await self.flush(CLOSE_GRACE_S)
        for sink in self.sinks.values():
            with contextlib.suppress(Exception):
                await sink.aclose()
