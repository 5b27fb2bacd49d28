"""The gateway with its admin API mounted, without loading FastAPI until the admin API is used.

Importing FastAPI and building the admin app costs ~0.4 s of CPU and ~8 MB (measured on the
bench machine) -- most of the gateway's one-second cold-start budget. :class:`LazyAdmin` is what
the gateway mounts: the first ``/admin/`` request builds the app in a worker thread (the event
loop keeps serving LLM calls meanwhile; that one request waits), every later one goes straight
to it. A gateway that never gets an admin call never loads the framework.
"""

from __future__ import annotations

import asyncio
import gc
import logging.handlers
from collections.abc import Awaitable, Callable, MutableMapping
from pathlib import Path
from typing import Any

from daytwo.alerts.engine import default_replica
from daytwo.alerts.lease import RedisLease
from daytwo.config.schema import Config
from daytwo.core.secrets import SecretRegistry
from daytwo.drift.service import attach as attach_drift
from daytwo.finops.reconcile_schedule import TICK_S, ReconcileService
from daytwo.gateway.app import Gateway
from daytwo.gateway.http import Receive, Send

App = Callable[[MutableMapping[str, Any], Receive, Send], Awaitable[None]]


class LazyAdmin:
    """The admin API's ASGI callable, built on first use."""

    def __init__(self, gateway: Gateway) -> None:
        self._gateway = gateway
        self._app: App | None = None
        self._building: asyncio.Future[App] | None = None

    async def __call__(self, scope: MutableMapping[str, Any], receive: Receive, send: Send) -> None:
        app = self._app or await self._build()
        await app(scope, receive, send)

    async def _build(self) -> App:
        if self._building is None:  # one build, however many requests arrive meanwhile
            self._building = asyncio.ensure_future(asyncio.to_thread(_admin_api, self._gateway))
        self._app = await asyncio.shield(self._building)
        return self._app


def _admin_api(gateway: Gateway) -> App:
    from daytwo.admin.app import AdminAPI  # FastAPI: loaded here, on first use

    app = AdminAPI(gateway)
    # As the gateway does with its start-up objects (gateway/app.py _settle_gc): the modules
    # and schemas just built live as long as the process, out of the collector's full passes.
    gc.freeze()
    return app


def create_app(
    config: Config,
    *,
    config_path: str | Path | None = None,
    secrets: SecretRegistry | None = None,
    log_listener: logging.handlers.QueueListener | None = None,
) -> Gateway:
    """The gateway with its admin API mounted and the drift room and the scheduled
    reconciliation beside it: what ``daytwo serve`` runs."""
    gateway = Gateway(config, config_path=config_path, secrets=secrets, log_listener=log_listener)
    gateway.mount_admin(LazyAdmin(gateway))
    attach_drift(gateway)
    gateway.add_service(reconcile_service(gateway))
    return gateway


def reconcile_service(gateway: Gateway) -> ReconcileService:
    """The scheduled reconciliation, with a Redis lease of its own when spend control's state
    is on Redis (finops sits below alerts, so the lease is handed in)."""
    state = gateway.config.spend_control.state
    replica = default_replica()
    lease = None
    if state.backend == "redis":
        prefix = f"{state.prefix}finops:reconcile:"
        lease = RedisLease(state.url, prefix=prefix, replica=replica, interval_s=TICK_S)
    return ReconcileService(gateway.config, gateway.secrets, lease=lease, replica=replica)
