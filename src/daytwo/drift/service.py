"""The drift room running beside one gateway (:meth:`Gateway.add_service`, wired by
:func:`attach`, which ``daytwo serve``'s ``create_app`` calls): the model watch as a call
observer, the drift evaluation loop (one replica, a Redis lease when state is on Redis),
notifications through the alerting room's sinks, and the config loads and reloads written to the
admin event log (drift names them as "what else changed").
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from pathlib import Path
from typing import TYPE_CHECKING

import orjson

from daytwo.alerts.engine import default_replica, fingerprint
from daytwo.alerts.history import AlertHistory
from daytwo.alerts.lease import Lease, LocalLease, RedisLease
from daytwo.alerts.machine import Alert, step
from daytwo.alerts.notify import Notification
from daytwo.config.checkpoint import checkpoint
from daytwo.config.incidents import default_runbook, runbook_link
from daytwo.config.schema import Config
from daytwo.core.errors import DaytwoError
from daytwo.core.secrets import SecretRegistry
from daytwo.drift.announce import Announcer, Listener
from daytwo.drift.canary import run_canary, suite_path
from daytwo.drift.changes import (
    SEED_LOOKBACK_S,
    ModelChange,
    ModelWatch,
    SharedValues,
    last_served,
)
from daytwo.drift.context import describe

if TYPE_CHECKING:
    from daytwo.drift.monitor import Finding
    from daytwo.gateway.app import Gateway
    from daytwo.keys.store import KeyStore

log = logging.getLogger("daytwo.drift")

MODEL_CHANGED = "model_changed"
CANARY = "model_changed_canary"
DRIFT = "drift"


def attach(gateway: Gateway) -> DriftService:
    """Run drift beside ``gateway``: its observer hears every call from the first one."""
    service = DriftService(gateway.config, gateway.secrets)
    gateway.pipeline.observers = (*gateway.pipeline.observers, service.watch.observe)
    gateway.add_service(service)
    return service


class DriftService:
    """Built with the gateway (no I/O); :meth:`start` seeds the watch, records the config
    load and starts the evaluation loop; :meth:`reload` takes a new config; :meth:`aclose`
    stops."""

    def __init__(self, config: Config, secrets: SecretRegistry) -> None:
        self.config = config
        self.secrets = secrets
        self.replica = default_replica()
        state = config.spend_control.state
        self._shared = SharedValues(state.url, state.prefix) if state.backend == "redis" else None
        self.watch = ModelWatch(self._report_change, self._shared)
        self._events: KeyStore | None = None
        self._history: AlertHistory | None = None
        self.announcer: Announcer | None = None
        self._lease: Lease = LocalLease()
        self._alerts: dict[str, Alert] = {}
        self._task: asyncio.Task[None] | None = None
        self._base_dir: Path | None = None
        self._canaries: set[asyncio.Task[None]] = set()
        self._listeners: list[Listener] = []

    def add_listener(self, listener: Listener) -> None:
        """Hear every notification this service sends (model changes, canaries, drift) on
        the gateway's event loop; must be quick (the demo's live view)."""
        self._listeners.append(listener)

    # -- lifecycle --------------------------------------------------------------------------

    async def start(self, gateway: Gateway) -> None:
        cfg = self.config
        self._events = gateway.key_store
        self._base_dir = gateway.config_path.parent if gateway.config_path else None
        self._history = await asyncio.to_thread(AlertHistory.open, cfg.ledger.url)
        self.announcer = Announcer(self._history, self.secrets, self.replica)
        self.announcer.listeners = self._listeners
        self.announcer.configure(cfg)
        if cfg.drift.model_changed:
            seeded = await asyncio.to_thread(
                last_served, self._history.store, time.time() - SEED_LOOKBACK_S
            )
            self.watch.seed(seeded)
        await self._record_config("config.load", cfg)
        state = cfg.spend_control.state
        if state.backend == "redis":
            self._lease = RedisLease(
                state.url,
                prefix=f"{state.prefix}drift:",
                replica=self.replica,
                interval_s=cfg.drift.interval_s,
            )
        self._task = asyncio.get_running_loop().create_task(self._loop(), name="drift")

    async def reload(self, config: Config) -> None:
        self.config = config
        if self.announcer is not None:
            self.announcer.configure(config)
        await self._record_config("config.reload", config)

    async def aclose(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        await self.watch.settle()
        await self.canaries_done()
        if self.announcer is not None:
            await self.announcer.aclose()
        await self._lease.aclose()
        if self._shared is not None:
            await self._shared.aclose()
        if self._history is not None:
            history, self._history = self._history, None
            await asyncio.to_thread(history.close)

    # -- model changes ----------------------------------------------------------------------

    async def _report_change(self, change: ModelChange) -> None:
        """Record the change in the admin event log and announce it (this replica saw it
        first)."""
        before, after = change.side(change.old), change.side(change.new)
        after.update(alias=change.alias, call_id=change.call_id, first_seen_at=change.at)
        log.warning(
            f"model changed: {change.target}: {describe(before)} → {describe(after)}",
            extra={"call_id": change.call_id},
        )
        if self._events is not None:
            try:
                await asyncio.to_thread(
                    self._events.record_event,
                    actor="drift",
                    action="model.changed",
                    target=change.target,
                    before=before,
                    after=after,
                    at=change.at,
                )
            except DaytwoError as exc:
                log.error(f"model_changed: the event could not be recorded: {exc.message}")
        if self.announcer is None:
            return
        labels = {"provider": change.provider, "deployment": change.deployment}
        labels["alias"] = change.alias
        message = f"{describe(before)} → {describe(after)}, first seen in call {change.call_id}"
        self._announce(
            MODEL_CHANGED,
            labels,
            change.at,
            change.at,
            {"to": orjson.dumps(after).decode()},
            {"before": before, "after": after},
            message,
        )
        path = suite_path(self.config, self._base_dir, change.alias)
        if path is not None:
            task = asyncio.get_running_loop().create_task(self._canary(change, path, labels))
            self._canaries.add(task)
            task.add_done_callback(self._canaries.discard)

    async def _canary(self, change: ModelChange, path: Path, labels: dict[str, str]) -> None:
        """Run the alias's canary suite and announce its comparison (or its failure)."""
        detail: dict[str, object] = {"call_id": change.call_id}
        try:
            report = await asyncio.to_thread(
                run_canary, self.config, self.secrets, self._base_dir, path, change.at
            )
            message = report.message()
            detail.update(report.to_json())
        except (DaytwoError, ValueError, RuntimeError, OSError) as exc:
            message = f"canary {path.name} could not run: {exc}"
            log.error(message, extra={"deployment": change.target})
        if self.announcer is None:
            return
        self._announce(
            CANARY, labels, change.at, time.time(), {"call": change.call_id}, detail, message
        )

    def _announce(
        self,
        rule: str,
        labels: dict[str, str],
        started_at: float,
        at: float,
        identity: dict[str, str],
        detail: dict[str, object],
        message: str,
    ) -> None:
        """A firing notification of a one-off event (a model change, its canary's verdicts):
        no value or threshold; ``identity`` joins ``labels`` in its fingerprint."""
        assert self.announcer is not None
        self.announcer.send(
            Notification(
                status="firing",
                rule=rule,
                kind=rule,
                severity=self.config.drift.severity,
                labels=labels,
                value=None,
                threshold=0.0,
                unit="",
                started_at=started_at,
                at=at,
                fingerprint=fingerprint(rule, {**labels, **identity}),
                detail=detail,
                message=message,
                runbook=self._runbook(rule),
            )
        )

    def _runbook(self, kind: str) -> str | None:
        ref = default_runbook(kind)
        return None if ref is None else runbook_link(ref, self.config.incidents.runbook_base_url)

    async def canaries_done(self, timeout_s: float = 300.0) -> None:
        """Wait for the canary runs started so far (tests, shutdown)."""
        if self._canaries:
            await asyncio.wait(set(self._canaries), timeout=timeout_s)

    # -- config events ----------------------------------------------------------------------

    async def _record_config(self, action: str, config: Config) -> None:
        if self._events is None:
            return
        after = {"hash": checkpoint(config)[0], "replica": self.replica}
        try:
            await asyncio.to_thread(
                self._events.record_event,
                actor="config",
                action=action,
                target="config",
                after=after,
            )
        except DaytwoError as exc:
            log.error(f"{action}: the event could not be recorded: {exc.message}")

    # -- drift ------------------------------------------------------------------------------

    async def _loop(self) -> None:
        while True:
            await asyncio.sleep(self.config.drift.interval_s)
            try:
                await self.evaluate()
            except DaytwoError as exc:
                log.warning(f"drift evaluation failed: {exc.message}")
            except Exception:
                log.exception("drift evaluation failed")

    async def evaluate(self, now: float | None = None) -> list[Finding]:
        """One round on the lease holder: compare, then fire or resolve each group's alert."""
        cfg = self.config.drift
        if not cfg.enabled or self._history is None or not await self._lease.hold():
            return []
        from daytwo.drift.monitor import find_drift  # numpy and scipy: loaded on first use

        at = time.time() if now is None else now
        findings = await asyncio.to_thread(find_drift, self._history.store, cfg, at)
        for finding in findings:
            self._judge(finding, at)
        return findings

    def _judge(self, finding: Finding, now: float) -> None:
        cfg = self.config.drift
        labels = finding.group.labels()
        fp = fingerprint(DRIFT, labels)
        alert = self._alerts.setdefault(fp, Alert(DRIFT, fp, labels))
        alert.value = finding.value
        t = step(alert, finding.flagged, now, for_s=0.0, cooldown_s=cfg.cooldown_s)
        if t is None or not t.notifies or self.announcer is None:
            return
        n = Notification(
            status="firing" if t.to == "firing" else "resolved",
            rule=DRIFT,
            kind=DRIFT,
            severity=cfg.severity,
            labels=labels,
            value=finding.value,
            threshold=cfg.alpha,
            unit="",
            started_at=finding.since if t.to == "firing" else t.started_at,
            at=now,
            fingerprint=fp,
            window_s=cfg.window_s,
            detail=finding.detail(),
            message=finding.message(),
            runbook=self._runbook(DRIFT),
        )
        self.announcer.send(n)
