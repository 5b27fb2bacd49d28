"""The reconciliation on a schedule: a service beside the gateway (``Gateway.add_service``,
wired by ``admin.mount.create_app``) that compares each provider of
``finops.reconcile.providers`` with its bill every ``every``, on one replica.

Every :data:`TICK_S` the service takes or renews its lease (a Redis lease when spend control's
state is on Redis, injected by the wiring: this room sits below ``alerts``) and, on the holder,
reads the newest stored run of each provider (:func:`~daytwo.finops.reconcile_runs.latest_runs`):
a provider is due when its last run is older than ``every`` (a failed run: older than
:data:`RETRY_FAILED_S`, when that is sooner) or it has none, so a restart or a new lease holder
never runs a day twice. A run compares the ``days`` complete UTC days that ended ``lag_days``
days ago (bills settle late) and is stored as an admin event. The bill is read, the ledger
queried and the two compared in a worker thread; the loop keeps renewing the lease meanwhile,
so another replica never starts the same run. The admin key is resolved from its reference at
each run, sent only to the provider, never logged.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Protocol

from daytwo.config.finops import ReconcileProvider
from daytwo.config.schema import Config
from daytwo.core.errors import DaytwoError
from daytwo.core.money import usd_to_nanos
from daytwo.core.secrets import SecretError, SecretRegistry
from daytwo.finops.provider_bills import BillError, Transport, fetch_bill, urllib_transport
from daytwo.finops.reconcile import Reconciliation, read_ledger, reconcile
from daytwo.finops.reconcile_runs import ACTION, ACTOR, ReconcileRun, latest_runs, run_of
from daytwo.ledger.store import LedgerStore, open_store
from daytwo.pricing.catalog import PriceBook

if TYPE_CHECKING:
    from daytwo.gateway.app import Gateway
    from daytwo.keys.store import KeyStore

log = logging.getLogger("daytwo.finops")

#: Seconds between two looks at the schedule (and lease renewals).
TICK_S = 60.0
#: A provider whose last run failed is tried again after this many seconds (or ``every``).
RETRY_FAILED_S = 3600.0
#: Seconds :meth:`ReconcileService.aclose` gives a run still going.
CLOSE_GRACE_S = 5.0


class Lease(Protocol):
    """Which replica runs the schedule (``daytwo.alerts.lease`` has the Redis one)."""

    async def hold(self) -> bool: ...

    async def aclose(self) -> None: ...


class _OneProcess:
    async def hold(self) -> bool:
        return True

    async def aclose(self) -> None:
        return None


def window(now: float, days: int, lag_days: int) -> tuple[datetime, datetime]:
    """The ``days`` complete UTC days that ended ``lag_days`` days before ``now``'s day."""
    today = datetime.fromtimestamp(now, UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    end = today - timedelta(days=lag_days)
    return end - timedelta(days=days), end


def compare_provider(
    config: Config,
    entry: ReconcileProvider,
    admin_key: str,
    store: LedgerStore,
    start: datetime,
    end: datetime,
    *,
    transport: Transport = urllib_transport,
    sleep: Callable[[float], None] = time.sleep,
) -> Reconciliation:
    """``entry``'s bill of [start, end) against the ledger (blocking). Raises
    :class:`~daytwo.finops.provider_bills.BillError` and the ledger's errors."""
    names = entry.ledger_providers or tuple(
        name for name, p in config.providers.items() if p.type == entry.kind
    )
    deployments = {d.id: d.model for alias in config.models.values() for d in alias.deployments}
    bill = fetch_bill(
        entry.kind,
        admin_key,
        start,
        end,
        base_url=None if entry.base_url is None else str(entry.base_url),
        transport=transport,
        sleep=sleep,
    )
    with store.connect() as conn:
        groups = read_ledger(conn, names, start, end, deployments)
    keys = None if entry.api_key_ids is None else frozenset(entry.api_key_ids)
    prices = PriceBook.from_config(config.pricing)
    return reconcile(
        bill, groups, prices, start=start, end=end, provider_type=entry.kind, key_ids=keys
    )


def _log_failure(task: asyncio.Task[list[ReconcileRun]]) -> None:
    if not task.cancelled() and task.exception() is not None:
        log.error("reconciliation run failed", exc_info=task.exception())


class ReconcileService:
    """Built with the gateway (no I/O); :meth:`start` starts the loop (the ledger is opened
    once a provider is configured); :meth:`reload` takes a new config; :meth:`aclose` stops."""

    def __init__(
        self,
        config: Config,
        secrets: SecretRegistry,
        *,
        lease: Lease | None = None,
        replica: str | None = None,
        clock: Callable[[], float] = time.time,
        tick_s: float = TICK_S,
        transport: Transport = urllib_transport,
    ) -> None:
        self.config = config
        self.secrets = secrets
        self.replica = replica
        self.clock = clock
        self.tick_s = tick_s
        self.transport = transport
        self._lease: Lease = lease or _OneProcess()
        self._events: KeyStore | None = None
        self._store: LedgerStore | None = None
        self._task: asyncio.Task[None] | None = None
        self._run: asyncio.Task[list[ReconcileRun]] | None = None
        #: Set when the service stops: a run's waits on 429s end early.
        self._stopping = threading.Event()
        #: Looks at the schedule done so far (tests wait on it).
        self.ticks = 0

    async def start(self, gateway: Gateway) -> None:
        self._events = gateway.key_store
        self._task = asyncio.get_running_loop().create_task(self._loop(), name="reconcile")

    async def reload(self, config: Config) -> None:
        self.config = config

    async def aclose(self) -> None:
        self._stopping.set()
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        run, self._run = self._run, None
        if run is not None and not run.done():
            await asyncio.wait({run}, timeout=CLOSE_GRACE_S)
            run.cancel()
            with contextlib.suppress(asyncio.CancelledError, DaytwoError):
                await run
        await self._lease.aclose()
        if self._store is not None:
            store, self._store = self._store, None
            await asyncio.to_thread(store.close)

    async def _loop(self) -> None:
        while True:
            try:
                await self.tick()
            except DaytwoError as exc:
                log.warning(f"reconciliation schedule: {exc.message}")
            except Exception:
                log.exception("reconciliation schedule failed")
            self.ticks += 1
            await asyncio.sleep(self.tick_s)

    async def tick(self) -> bool:
        """Renew the lease and, on its holder, start the runs that are due; whether one
        started."""
        if not self.config.finops.reconcile.providers:
            return False
        if self._store is None:  # opened on first need: most gateways reconcile nothing
            self._store = await asyncio.to_thread(open_store, self.config.ledger.url)
        leading = await self._lease.hold()
        if not leading or (self._run is not None and not self._run.done()):
            return False
        due = await asyncio.to_thread(self._due, self._store, self.clock())
        if not due:
            return False
        self._run = asyncio.get_running_loop().create_task(self._run_all(due))
        self._run.add_done_callback(_log_failure)
        return True

    @property
    def running(self) -> asyncio.Task[list[ReconcileRun]] | None:
        """The run going on (or the last one), for tests and the demo."""
        return self._run

    def _due(self, store: LedgerStore, now: float) -> list[ReconcileProvider]:
        cfg = self.config.finops.reconcile
        latest = latest_runs(store)
        due = []
        for entry in cfg.providers:
            last = latest.get(entry.kind)
            wait = cfg.every_s if last is None or last.error is None else RETRY_FAILED_S
            if last is None or now - last.at >= min(wait, cfg.every_s):
                due.append(entry)
        return due

    async def _run_all(self, entries: list[ReconcileProvider]) -> list[ReconcileRun]:
        out = []
        for entry in entries:
            run = await asyncio.to_thread(self._compare, entry, self.clock())
            if self._stopping.is_set():
                break
            await asyncio.to_thread(self._record, run)
            out.append(run)
        return out

    def _compare(self, entry: ReconcileProvider, now: float) -> ReconcileRun:
        """One provider's run (blocking): the comparison, or the reason there is none."""
        config = self.config
        cfg = config.finops.reconcile
        start, end = window(now, cfg.days, cfg.lag_days)
        store = self._store
        assert store is not None
        try:
            admin_key = self.secrets.resolve(entry.admin_key)
            rec = compare_provider(
                config,
                entry,
                admin_key,
                store,
                start,
                end,
                transport=self.transport,
                sleep=self._wait,
            )
        except SecretError as exc:
            return self._failed(entry, start, end, now, f"admin_key: {exc}")
        except DaytwoError as exc:
            return self._failed(entry, start, end, now, exc.message)
        return run_of(
            rec,
            at=now,
            threshold_pct=cfg.threshold_pct,
            min_nanos=usd_to_nanos(cfg.min_gap_usd),
            replica=self.replica,
        )

    def _wait(self, seconds: float) -> None:
        if self._stopping.wait(seconds):
            raise BillError("the gateway is stopping")

    def _failed(
        self, entry: ReconcileProvider, start: datetime, end: datetime, now: float, why: str
    ) -> ReconcileRun:
        return ReconcileRun(entry.kind, now, start, end, error=why, replica=self.replica)

    def _record(self, run: ReconcileRun) -> None:
        if run.error or run.gap:
            log.warning(f"reconciliation: {run.describe()}")
        else:
            log.info(f"reconciliation: {run.describe()}")
        if self._events is None:
            return
        try:
            self._events.record_event(
                actor=ACTOR, action=ACTION, target=run.provider, after=run.to_event(), at=run.at
            )
        except DaytwoError as exc:
            log.error(f"reconciliation: {run.provider}: result not stored: {exc.message}")
