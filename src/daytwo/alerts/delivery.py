"""Getting a notification to its sinks: each sink in its own task, off the request path, with
bounded retries and exponential backoff; every attempt is recorded.

A failed attempt waits ``backoff_s``, then twice that, and so on up to ``max_backoff_s``, for at
most ``attempts`` tries; a failure that another try cannot fix (an unsafe target, a 4xx, a
missing secret) stops at once. Failures are logged (one line, redacted) and land in the alert
history with the reason.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from daytwo.alerts.errors import DeliveryFailed
from daytwo.alerts.history import delivery_row
from daytwo.alerts.notify import Notification
from daytwo.alerts.sinks import Sink
from daytwo.config.alerts import AlertsConfig

log = logging.getLogger("daytwo.alerts")

#: Defaults (the ``alerts`` config section overrides them).
ATTEMPTS = 5
BACKOFF_S = 1.0
MAX_BACKOFF_S = 60.0

Record = Callable[[dict[str, Any]], None]


def backoff(attempt: int, base_s: float, max_s: float) -> float:
    """The wait after failed attempt number ``attempt`` (1-based)."""
    return float(min(max_s, base_s * 2 ** (attempt - 1)))


class Dispatcher:
    def __init__(
        self,
        record: Record,
        *,
        replica: str,
        clock: Callable[[], float],
        attempts: int = ATTEMPTS,
        backoff_s: float = BACKOFF_S,
        max_backoff_s: float = MAX_BACKOFF_S,
    ) -> None:
        self._record = record
        self.replica = replica
        self.clock = clock
        self.attempts = attempts
        self.backoff_s = backoff_s
        self.max_backoff_s = max_backoff_s
        self._tasks: set[asyncio.Task[str | None]] = set()

    def deliver(self, n: Notification, sinks: list[Sink]) -> list[asyncio.Task[str | None]]:
        """Start delivering ``n`` to each sink; returns at once (the tasks, for tests)."""
        loop = asyncio.get_running_loop()
        tasks = []
        for sink in sinks:
            task = loop.create_task(self.deliver_now(n, sink), name=f"alert-{sink.name}")
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
            tasks.append(task)
        return tasks

    async def deliver_now(self, n: Notification, sink: Sink) -> str | None:
        """Deliver with retries; None when delivered, else the last failure's message."""
        error: str | None = None
        for attempt in range(1, self.attempts + 1):
            retryable = False
            try:
                await sink.send(n)
                error = None
            except DeliveryFailed as exc:
                error, retryable = exc.message, exc.retryable
            except Exception as exc:  # a bug in a sink must not lose the history row
                log.exception("alert sink failed unexpectedly", extra={"sink": sink.name})
                error = f"sink {sink.name}: internal error: {type(exc).__name__}"
            self._record(
                delivery_row(
                    n,
                    at=self.clock(),
                    sink=sink.name,
                    attempt=attempt,
                    error=error,
                    replica=self.replica,
                )
            )
            if error is None:
                return None
            if not retryable or attempt == self.attempts:
                break
            wait = backoff(attempt, self.backoff_s, self.max_backoff_s)
            log.warning(
                f"alert delivery failed (attempt {attempt}, retrying in {wait:g}s): {error}"
            )
            await asyncio.sleep(wait)
        log.error(
            f"alert delivery failed for good: {error}",
            extra={"alert": n.rule, "sink": sink.name, "alert_status": n.status},
        )
        return error

    @property
    def pending(self) -> int:
        return len(self._tasks)

    async def drain(self, timeout_s: float) -> None:
        """Give running deliveries ``timeout_s`` to finish, then cancel the rest."""
        if not self._tasks:
            return
        _, late = await asyncio.wait(set(self._tasks), timeout=timeout_s)
        for task in late:
            task.cancel()
        for task in late:
            with contextlib.suppress(asyncio.CancelledError):
                await task


@dataclass(frozen=True, slots=True)
class Sent:
    """One sink's outcome of :func:`deliver_once`."""

    sink: str
    type: str
    attempts: int
    error: str | None


def deliver_once(
    config: AlertsConfig, n: Notification, names: Sequence[str], replica: str
) -> tuple[list[Sent], list[dict[str, Any]]]:
    """Deliver ``n`` to each named sink now, with the configured retries, blocking (the CLI's
    ``alerts test`` and ``report weekly --send``): each sink's outcome and the history rows of
    every attempt."""
    from daytwo.alerts.sinks import build_sink
    from daytwo.core.secrets import SecretRegistry

    rows: list[dict[str, Any]] = []
    secrets = SecretRegistry()

    async def run() -> list[Sent]:
        dispatcher = Dispatcher(
            rows.append,
            replica=replica,
            clock=time.time,
            attempts=config.delivery_attempts,
            backoff_s=config.backoff_s,
            max_backoff_s=config.max_backoff_s,
        )
        sinks = [build_sink(name, config.sinks[name], secrets) for name in names]
        try:
            errors = await asyncio.gather(*(dispatcher.deliver_now(n, s) for s in sinks))
        finally:
            for s in sinks:
                await s.aclose()
        return [
            Sent(s.name, s.type, sum(1 for r in rows if r["sink"] == s.name), e)
            for s, e in zip(sinks, errors, strict=True)
        ]

    return asyncio.run(run()), rows
