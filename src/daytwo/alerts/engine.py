"""The alert engine of one gateway process: evaluates the rules, moves each alert through its
states (:mod:`daytwo.alerts.machine`), notifies the sinks and records everything.

Three sources of values:

* **per call** (``request_tokens``): :meth:`AlertEngine.observe` is a call observer; a call
  above the threshold fires at once, on the replica that served it. The alert resolves once no
  such call has come for ``window`` seconds.
* **windowed** (every other kind but ``budget_threshold``): every ``interval_s``, one SQL query
  per rule over the ledger (:mod:`daytwo.alerts.evaluate`), in a worker thread.
* **SLOs** (``slo_burn``, from the ``slos`` section): every interval, one query per SLO
  (:func:`daytwo.slo.status.evaluate_slo`) and its burn-rate policy; an alert per SLO and
  severity (:mod:`daytwo.alerts.slo_burn`), with the SLO's runbook in its notifications.

* **forecasts** (``budget_projection``, ``spend_anomaly``): models fitted on the ledger's
  rollups (:mod:`daytwo.alerts.forecast_watch`), in a worker thread, refreshed every few
  minutes.

Every notification names a runbook: the rule's ``runbook``, else its kind's (docs/incidents.md).
* **budget events** (``budget_threshold``): spend control writes each threshold crossing to the
  admin event log; the engine reads the new ones every interval. An alert per (budget, scope,
  percent) fires on the crossing and resolves when the budget's window ends.
* **reconciliation runs** (``reconciliation_gap``): the scheduled reconciliation stores each
  provider's run in the admin event log (:mod:`daytwo.finops.reconcile_runs`); every interval
  the engine reads the newest per provider. Its alert fires when that run's unexplained
  remainder is above the threshold (default ``finops.reconcile.threshold_pct``) and at least
  ``finops.reconcile.min_gap_usd``, and resolves on a run that is not; a failed run changes
  nothing.

Windowed and event rules read shared data, so only one replica evaluates them: the holder of
the lease (:mod:`daytwo.alerts.lease`). A replica that takes the lease over (or starts) first
reloads the alerts still firing from the history, so it resolves them and never fires them a
second time. Nothing here runs on the request path but :meth:`~AlertEngine.observe`, which
does a comparison per per-call rule and, rarely, starts a task.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import os
import socket
import time
from collections.abc import Callable, Mapping
from secrets import token_hex
from typing import Any
from zoneinfo import ZoneInfo

from daytwo.alerts.crossings import Crossings
from daytwo.alerts.delivery import Dispatcher
from daytwo.alerts.evaluate import group_labels
from daytwo.alerts.evaluate import observe as observe_window
from daytwo.alerts.forecast_watch import ForecastWatch
from daytwo.alerts.history import AlertHistory, transition_row
from daytwo.alerts.lease import Lease, LocalLease, RedisLease
from daytwo.alerts.machine import Alert, Transition, step
from daytwo.alerts.notify import Notification, fmt
from daytwo.alerts.sinks import Sink, build_sink, secret_refs
from daytwo.alerts.slo_burn import SloAlert, judge_slo, slo_alerts
from daytwo.config.alerts import AlertRule, AlertsConfig
from daytwo.config.incidents import default_runbook, runbook_link
from daytwo.config.schema import Config
from daytwo.control.switches import SwitchBoard
from daytwo.control.windows import window_at
from daytwo.core.errors import DaytwoError, StateUnavailable
from daytwo.core.money import usd_to_nanos
from daytwo.core.observe import CallView
from daytwo.core.record import CallRecord
from daytwo.core.secrets import SecretError, SecretRegistry
from daytwo.finops.reconcile_runs import ReconcileRun, is_gap, latest_runs
from daytwo.ledger.store import LedgerStore
from daytwo.slo.status import SloStatus, evaluate_slo

log = logging.getLogger("daytwo.alerts")

#: Seconds :meth:`AlertEngine.aclose` gives deliveries still running.
CLOSE_GRACE_S = 5.0
#: A rule's value stands at this when it has no calls at all (rates and percentiles: unknown).
_ZERO_WHEN_EMPTY = frozenset({"spend_per_hour", "daily_cost", "unpriced_calls"})
#: Rule call fields (``scope``, ``by``) → the record's attribute; ``alias`` is the kill
#: switch's ``model``.
_RECORD_FIELD = {
    "alias": "alias",
    "project": "project",
    "workflow": "workflow",
    "provider": "provider",
}
_SWITCH_FIELD = {
    "alias": "model",
    "project": "project",
    "workflow": "workflow",
    "provider": "provider",
}

Listener = Callable[[Notification], None]


def default_replica() -> str:
    """``host:pid:random``: unique even for two engines in one process (tests, the demo)."""
    return f"{socket.gethostname()}:{os.getpid()}:{token_hex(3)}"


def fingerprint(rule: str, group: Mapping[str, str]) -> str:
    text = rule + "".join(f"\0{k}={v}" for k, v in sorted(group.items()))
    return hashlib.sha256(text.encode()).hexdigest()[:16]


class AlertEngine:
    """Built with the gateway (no I/O); :meth:`start` opens the history and starts evaluating;
    :meth:`reload` takes a new config; :meth:`aclose` stops."""

    def __init__(
        self,
        config: Config,
        secrets: SecretRegistry,
        *,
        clock: Callable[[], float] = time.time,
        replica: str | None = None,
    ) -> None:
        self.secrets = secrets
        self.clock = clock
        self.replica = replica or default_replica()
        self._listeners: list[Listener] = []
        self._alerts: dict[tuple[str, str], Alert] = {}
        #: Per-call alerts: (rule, fingerprint) → when the last offending call came.
        self._last_call: dict[tuple[str, str], float] = {}
        self._sinks: dict[str, Sink] = {}
        self._history: AlertHistory | None = None
        self._lease: Lease = LocalLease()
        self._leading = False
        self._switches: SwitchBoard | None = None
        self._loop_task: asyncio.Task[None] | None = None
        self._writer_task: asyncio.Task[None] | None = None
        self._rows: asyncio.Queue[dict[str, Any]] | None = None
        self._tasks: set[asyncio.Task[Any]] = set()
        self._started = False
        self._apply(config)
        self._crossings = Crossings(config.spend_control.budgets, self._tz)
        self.dispatcher = Dispatcher(
            self._record,
            replica=self.replica,
            clock=clock,
            attempts=self.cfg.delivery_attempts,
            backoff_s=self.cfg.backoff_s,
            max_backoff_s=self.cfg.max_backoff_s,
        )

    # -- config -------------------------------------------------------------------------------

    def _apply(self, config: Config) -> None:
        self.config = config
        self.cfg: AlertsConfig = config.alerts
        #: SLO burn-rate alerts, by their derived rule's name (alerts/slo_burn.py).
        self._slo_alerts: dict[str, SloAlert] = slo_alerts(config.slos)
        rules = (with_defaults(r, config) for r in self.cfg.rules)
        all_rules = (*rules, *(w.rule for w in self._slo_alerts.values()))
        self.rules = {r.name: r for r in all_rules}
        self._per_call = tuple(r for r in all_rules if r.spec.source == "call")
        self._shared = tuple(r for r in all_rules if r.spec.source != "call")
        self._primaries = {alias: spec.deployments[0].id for alias, spec in config.models.items()}
        self._tz = ZoneInfo(config.spend_control.timezone)
        self._forecasts = ForecastWatch(config.spend_control.budgets, config.spend_control.timezone)

    def _build_sinks(self, old: Mapping[str, Sink]) -> dict[str, Sink]:
        """Sinks for the current config, reusing the old ones whose settings did not change."""
        out: dict[str, Sink] = {}
        for name, spec in self.cfg.sinks.items():
            have = old.get(name)
            if have is not None and getattr(have, "spec", None) == spec:
                out[name] = have
                continue
            for ref in secret_refs(spec):
                try:
                    self.secrets.resolve(ref)
                except SecretError as exc:
                    log.warning(f"alert sink {name}: {exc}; its deliveries will fail")
            out[name] = build_sink(name, spec, self.secrets)
        return out

    @property
    def active(self) -> bool:
        return bool(self.rules)

    def add_listener(self, listener: Listener) -> None:
        """Hear every notification this engine sends (on the gateway's event loop; must be
        quick and thread-safe). The demo prints them in its live view."""
        self._listeners.append(listener)

    # -- lifecycle ----------------------------------------------------------------------------

    async def start(self, *, switches: SwitchBoard | None = None) -> None:
        """Open the history and the lease, and start evaluating (nothing when no rule is
        configured; a reload that adds rules starts it then)."""
        self._switches = switches
        self._started = True
        if self.active:
            await self._run()

    async def _run(self) -> None:
        if self._loop_task is not None:
            return
        self._history = await asyncio.to_thread(AlertHistory.open, self.config.ledger.url)
        self._sinks = self._build_sinks({})
        state = self.config.spend_control.state
        if state.backend == "redis":
            self._lease = RedisLease(
                state.url, prefix=state.prefix, replica=self.replica, interval_s=self.cfg.interval_s
            )
        self._rows = asyncio.Queue()
        loop = asyncio.get_running_loop()
        self._writer_task = loop.create_task(self._write_rows(), name="alert-history")
        self._loop_task = loop.create_task(self._evaluate_forever(), name="alert-evaluation")
        log.info(
            "alerting on",
            extra={"rules": sorted(self.rules), "sinks": sorted(self._sinks)},
        )

    async def reload(self, config: Config) -> None:
        old_rules, old_sinks = self.rules, self._sinks
        self._apply(config)
        self._crossings.configure(config.spend_control.budgets, self._tz)
        d = self.dispatcher
        d.attempts, d.backoff_s = self.cfg.delivery_attempts, self.cfg.backoff_s
        d.max_backoff_s = self.cfg.max_backoff_s
        changed = {
            name
            for name, rule in old_rules.items()
            if name not in self.rules or _identity(rule) != _identity(self.rules[name])
        }
        now = self.clock()
        for key in [k for k in self._alerts if k[0] in changed]:
            alert = self._alerts.pop(key)
            self._last_call.pop(key, None)
            if alert.phase in ("pending", "firing"):
                rule = old_rules[key[0]]
                t = Transition(alert, "inactive", now, alert.since)
                self._record(
                    transition_row(
                        t,
                        severity=rule.severity,
                        threshold=rule.limit,
                        replica=self.replica,
                        detail="the rule was changed or removed",
                    )
                )
        if self._loop_task is None:
            if self._started and self.active:
                await self._run()
            return
        self._sinks = self._build_sinks(old_sinks)
        dropped = [s for name, s in old_sinks.items() if self._sinks.get(name) is not s]
        if dropped:
            self._spawn(self._close_later(dropped))

    async def _close_later(self, sinks: list[Sink]) -> None:
        await self.dispatcher.drain(60.0)
        for sink in sinks:
            await sink.aclose()

    async def aclose(self) -> None:
        task, self._loop_task = self._loop_task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        if self._tasks:  # notifications being made (a trip first): they start deliveries
            await asyncio.wait(set(self._tasks), timeout=CLOSE_GRACE_S)
        await self.dispatcher.drain(CLOSE_GRACE_S)
        writer, self._writer_task = self._writer_task, None
        if writer is not None and self._rows is not None:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._rows.join(), CLOSE_GRACE_S)
            writer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await writer
        for sink in self._sinks.values():
            await sink.aclose()
        await self._lease.aclose()
        if self._history is not None:
            history, self._history = self._history, None
            await asyncio.to_thread(history.close)

    # -- per-call rules -----------------------------------------------------------------------

    def observe(self, record: CallRecord, view: CallView) -> None:
        """The call observer: per-call rules, checked as each call finishes."""
        if not self._per_call or self._rows is None:
            return
        tokens = record.input_tokens + record.output_tokens
        try:
            for rule in self._per_call:
                if tokens > rule.limit and _in_scope(rule, record):
                    self._offending_call(rule, record, tokens)
        except Exception:  # an observer must not raise into the pipeline
            log.exception("alert observer failed", extra={"call_id": record.id})

    def _offending_call(self, rule: AlertRule, record: CallRecord, tokens: int) -> None:
        now = self.clock()
        group: dict[str, str] = {f: getattr(record, _RECORD_FIELD[f]) or "" for f in rule.group_by}
        fp = fingerprint(rule.name, group)
        alert = self._alert(rule, fp, group)
        self._last_call[rule.name, fp] = now
        alert.value = float(tokens)
        alert.detail = {
            "call_id": record.id,
            "input_tokens": record.input_tokens,
            "output_tokens": record.output_tokens,
        }
        self._advance(rule, alert, True, now)

    # -- evaluation ---------------------------------------------------------------------------

    async def _evaluate_forever(self) -> None:
        while True:
            try:
                await self.evaluate()
            except DaytwoError as exc:
                log.warning(f"alert evaluation failed: {exc.message}")
            except Exception:
                log.exception("alert evaluation failed")
            await asyncio.sleep(self.cfg.interval_s)

    async def evaluate(self) -> None:
        """One round: per-call alerts that went quiet resolve; the lease holder evaluates the
        windowed and event rules."""
        now = self.clock()
        for rule in self._per_call:
            window = rule.window_s or 0.0
            for key, alert in list(self._alerts.items()):
                if key[0] == rule.name:
                    last = self._last_call.get(key, 0.0)
                    self._advance(rule, alert, now - last < window, now)
        was, unreachable = self._leading, self._lease.unreachable
        leading = await self._lease.hold()
        if self._lease.unreachable and not unreachable:
            log.warning("alert lease store unreachable: evaluating here (duplicates possible)")
        if leading and not was:
            await self._take_over(now)
        elif was and not leading:
            shared = {r.name for r in self._shared}
            for key in [k for k in self._alerts if k[0] in shared]:
                del self._alerts[key]
        self._leading = leading
        if not leading:
            return
        history = self._history
        assert history is not None
        if any(r.kind == "budget_threshold" for r in self._shared):
            newest, events = await asyncio.to_thread(self._crossings.read_new, history.store, now)
            self._crossings.add(newest, events, now)
        statuses = await self._slo_statuses(history.store, now)
        runs = await self._reconcile_runs(history.store)
        for rule in self._shared:
            watch = self._slo_alerts.get(rule.name)
            if watch is not None:
                status = statuses.get(watch.slo.name)
                if status is not None:
                    self._judge_slo(watch, status, now)
                continue
            if rule.spec.source == "reconcile":
                self._judge_runs(rule, runs or {}, now)
                continue
            try:
                found = await self._values(rule, history, now)
            except DaytwoError as exc:
                log.warning(f"alert rule {rule.name}: evaluation failed: {exc.message}")
                continue
            self._judge(rule, found, now)

    async def _slo_statuses(self, store: LedgerStore, now: float) -> dict[str, SloStatus]:
        """Every alerting SLO evaluated once (one query each); a failed one is left out."""
        out: dict[str, SloStatus] = {}
        for slo in {w.slo.name: w.slo for w in self._slo_alerts.values()}.values():
            try:
                out[slo.name] = await asyncio.to_thread(evaluate_slo, store, slo, now)
            except DaytwoError as exc:
                log.warning(f"slo {slo.name}: evaluation failed: {exc.message}")
        return out

    async def _reconcile_runs(self, store: LedgerStore) -> dict[str, ReconcileRun] | None:
        """The newest run per provider, when a rule watches them (None: none does, or the
        read failed)."""
        if not any(r.spec.source == "reconcile" for r in self._shared):
            return None
        try:
            return await asyncio.to_thread(latest_runs, store)
        except DaytwoError as exc:
            log.warning(f"reconciliation runs: could not be read: {exc.message}")
            return None

    def _judge_runs(self, rule: AlertRule, runs: Mapping[str, ReconcileRun], now: float) -> None:
        floor = usd_to_nanos(self.config.finops.reconcile.min_gap_usd)
        for provider, run in runs.items():
            if run.error is not None:
                continue
            group = {"provider": provider}
            alert = self._alert(rule, fingerprint(rule.name, group), group)
            alert.value, alert.detail = run.remainder_pct, run.evidence()
            holds = is_gap(run.remainder_nanos, run.remainder_pct, rule.limit, floor)
            self._advance(rule, alert, holds, now)

    def _judge_slo(self, watch: SloAlert, status: SloStatus, now: float) -> None:
        rule = watch.rule
        holds, value, detail = judge_slo(watch, status)
        alert = self._alert(rule, fingerprint(rule.name, {}), {})
        alert.value, alert.detail = value, detail
        self._advance(rule, alert, holds, now)

    async def _values(
        self, rule: AlertRule, history: AlertHistory, now: float
    ) -> dict[str, tuple[dict[str, str], float | None, dict[str, Any]]]:
        """Fingerprint → (group labels, value, detail) for one shared rule."""
        if rule.kind == "budget_threshold":
            out: dict[str, tuple[dict[str, str], float | None, dict[str, Any]]] = {}
            for m in self._crossings.current(now):
                if m.percent < rule.limit:
                    continue
                if rule.budget is not None and m.budget != rule.budget:
                    continue
                group = {"budget": m.budget, "scope": m.scope, "percent": str(m.percent)}
                detail = {"spent": m.value, "cap": m.limit, "unit": m.unit, "resets_at": m.ends_at}
                out[fingerprint(rule.name, group)] = (group, float(m.percent), detail)
            return out
        if rule.spec.source == "forecast":
            found = await asyncio.to_thread(self._forecasts.values, rule, history.store, now)
            return {fingerprint(rule.name, group): (group, v, d) for group, v, d in found}
        if rule.kind == "daily_cost":
            since = window_at("day", now, self._tz).start
            window = now - since
        else:
            window = rule.window_s or 0.0
            since = now - window
        observations = await asyncio.to_thread(
            observe_window,
            history.store,
            rule,
            since=since,
            window_s=window,
            primaries=self._primaries,
        )
        result = {}
        for o in observations:
            group = group_labels(rule, o.group)
            result[fingerprint(rule.name, group)] = (group, o.value, {"calls": o.calls})
        return result

    def _judge(
        self,
        rule: AlertRule,
        found: Mapping[str, tuple[dict[str, str], float | None, dict[str, Any]]],
        now: float,
    ) -> None:
        for fp, (group, value, detail) in found.items():
            alert = self._alert(rule, fp, group)
            alert.value, alert.detail = value, detail
            # a budget crossing found is the condition (its percent is at least the threshold)
            holds = value is not None and (value > rule.limit or rule.kind == "budget_threshold")
            self._advance(rule, alert, holds, now)
        for key, alert in list(self._alerts.items()):
            if key[0] == rule.name and key[1] not in found:
                alert.value = 0.0 if rule.kind in _ZERO_WHEN_EMPTY else None
                alert.detail = {"calls": 0}
                self._advance(rule, alert, False, now)

    def _alert(self, rule: AlertRule, fp: str, group: Mapping[str, str]) -> Alert:
        alert = self._alerts.get((rule.name, fp))
        if alert is None:
            labels = {**rule.labels, **rule.scope.fields(), **group}
            alert = self._alerts[rule.name, fp] = Alert(rule.name, fp, labels)
        return alert

    def _advance(self, rule: AlertRule, alert: Alert, holds: bool, now: float) -> None:
        t = step(alert, holds, now, for_s=rule.for_, cooldown_s=rule.cooldown)
        if t is not None:
            self._transition(rule, t)
        quiet = alert.phase == "inactive" or (
            alert.phase == "resolved" and now - (alert.resolved_at or 0.0) >= rule.cooldown
        )
        if quiet:
            self._alerts.pop((rule.name, alert.fingerprint), None)
            self._last_call.pop((rule.name, alert.fingerprint), None)

    def _transition(self, rule: AlertRule, t: Transition) -> None:
        self._record(
            transition_row(t, severity=rule.severity, threshold=rule.limit, replica=self.replica)
        )
        log.debug(f"alert {rule.name} {t.to}", extra={"labels": t.alert.labels})
        if t.notifies:
            self._spawn(self._notify(rule, t))

    async def _notify(self, rule: AlertRule, t: Transition) -> None:
        a = t.alert
        action = None
        if rule.action is not None and t.to == "firing":
            action = await self._trip(rule, a)
        n = Notification(
            status="firing" if t.to == "firing" else "resolved",
            rule=rule.name,
            kind=rule.kind,
            severity=rule.severity,
            labels=dict(a.labels),
            value=a.value,
            threshold=rule.limit,
            unit=rule.spec.unit,
            started_at=t.started_at,
            at=t.at,
            fingerprint=a.fingerprint,
            window_s=rule.window_s,
            action=action,
            detail=dict(a.detail),
            runbook=self.runbook(rule),
        )
        for listener in self._listeners:
            listener(n)
        sinks = [self._sinks[name] for name in rule.sinks if name in self._sinks]
        self.dispatcher.deliver(n, sinks)

    def runbook(self, rule: AlertRule) -> str | None:
        """Where a notification of ``rule`` sends the on-call: its runbook, else its kind's,
        as a URL or the command that prints it (:func:`daytwo.config.incidents.runbook_link`)."""
        ref = rule.runbook or default_runbook(rule.kind)
        return None if ref is None else runbook_link(ref, self.config.incidents.runbook_base_url)

    async def _trip(self, rule: AlertRule, alert: Alert) -> str | None:
        """Switch the alert's scope off (``action: trip``) or put it in degraded mode
        (``action: degrade``); what was done, for the message."""
        scope = {
            _SWITCH_FIELD[f]: alert.labels[f]
            for f in ("alias", "project", "workflow", "provider")
            if alert.labels.get(f) and (f in rule.scope.fields() or f in rule.group_by)
        }
        if self._switches is None or not scope:
            log.error(f"alert {rule.name}: cannot trip: no switch board or no scope")
            return None
        unit = rule.spec.unit
        reason = f"alert {rule.name}: {fmt(alert.value, unit)} above {fmt(rule.limit, unit)}"
        if rule.kind == "daily_cost":
            reason = (
                f"alert {rule.name}: cost today {fmt(alert.value, 'usd')} "
                f"above {fmt(rule.limit, 'usd')}"
            )
        who = f"alert:{rule.name}"
        how = rule.degrade
        try:
            if how is None:
                record = await self._switches.kill(scope, reason=reason, who=who, source="alert")
            else:
                if "provider" in scope:  # a provider is killed, never degraded
                    del scope["provider"]
                    if not scope:
                        log.error(f"alert {rule.name}: cannot degrade a provider")
                        return None
                record = await self._switches.degrade(
                    scope,
                    how.mode,
                    reason=reason,
                    who=who,
                    message=how.message,
                    alias=how.alias,
                    source="alert",
                )
        except StateUnavailable as exc:
            log.error(f"alert {rule.name}: could not switch the scope: {exc.message}")
            return "could not switch the scope (spend-control state unreachable)"
        if how is None:
            return f"switched off {record.key}"
        target = f"to alias {how.alias}" if how.alias else f"({how.mode})"
        return f"degraded {record.key} {target}"

    async def _take_over(self, now: float) -> None:
        """This replica now evaluates the shared rules: pick up the alerts still firing (and
        those cooling down) from the history."""
        history = self._history
        assert history is not None
        rows = await asyncio.to_thread(history.latest_transitions, list(self.rules))
        for row in rows:
            rule = self.rules.get(row.rule)
            key = (row.rule, row.fingerprint)
            if rule is None or key in self._alerts:
                continue
            if row.state == "firing":
                alert = Alert(
                    row.rule, row.fingerprint, row.labels, "firing", row.started_at, row.value
                )
                if rule.spec.source == "call":
                    self._last_call[key] = row.at
            elif row.state == "resolved" and now - row.at < rule.cooldown:
                alert = Alert(
                    row.rule, row.fingerprint, row.labels, "resolved", None, row.value, row.at
                )
            else:
                continue
            self._alerts[key] = alert
        if rows:
            log.info("alert evaluation taken over", extra={"replica": self.replica})

    # -- history and tasks --------------------------------------------------------------------

    def _record(self, row: dict[str, Any]) -> None:
        if self._rows is not None:
            self._rows.put_nowait(row)

    async def _write_rows(self) -> None:
        rows = self._rows
        assert rows is not None
        while True:
            batch = [await rows.get()]
            while not rows.empty():
                batch.append(rows.get_nowait())
            try:
                if self._history is not None:
                    await asyncio.to_thread(self._history.write, batch)
            except DaytwoError as exc:
                log.error(f"alert history: {len(batch)} rows lost: {exc.message}")
            except Exception:  # the writer must outlive a bad batch
                log.exception(f"alert history: {len(batch)} rows lost")
            finally:
                for _ in batch:
                    rows.task_done()

    async def flush(self, timeout_s: float = 10.0) -> None:
        """Wait until every history row so far is written (tests, the CLI)."""
        if self._rows is not None:
            await asyncio.wait_for(self._rows.join(), timeout_s)

    def _spawn(self, coro: Any) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._done)

    def _done(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("alert task failed", exc_info=task.exception())

    @property
    def leading(self) -> bool:
        """Whether this replica evaluated the shared rules last time."""
        return self._leading

    def states(self) -> list[Alert]:
        """The alerts this replica tracks now (pending, firing, cooling down)."""
        return list(self._alerts.values())


def with_defaults(rule: AlertRule, config: Config) -> AlertRule:
    """A ``reconciliation_gap`` rule without a threshold takes ``finops.reconcile``'s."""
    if rule.kind == "reconciliation_gap" and rule.threshold is None:
        return rule.model_copy(update={"threshold": config.finops.reconcile.threshold_pct})
    return rule


def _identity(rule: AlertRule) -> tuple[object, ...]:
    """What a rule's alerts are: a reload that changes it starts them afresh."""
    return (rule.kind, rule.scope, rule.group_by, rule.budget)


def _in_scope(rule: AlertRule, record: CallRecord) -> bool:
    s = rule.scope
    return (
        (s.alias is None or record.alias == s.alias)
        and (s.project is None or record.project == s.project)
        and (s.workflow is None or record.workflow == s.workflow)
    )
