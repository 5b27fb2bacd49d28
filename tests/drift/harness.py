"""Drift test helpers: a gateway's drift service, waiting for what it started."""

from __future__ import annotations

import asyncio

from tests.gateway.harness import RunningGateway

from daytwo.drift.service import DriftService


def drift_of(gw: RunningGateway) -> DriftService:
    (service,) = [s for s in gw.app.services if isinstance(s, DriftService)]
    return service


def settle(gw: RunningGateway) -> None:
    """Wait (on the gateway's loop) until the model watch's decisions and the notifications
    they made are delivered and recorded."""
    service, loop = drift_of(gw), gw.app.loop
    assert loop is not None

    async def both() -> None:
        await service.watch.settle()
        if service.announcer is not None:
            await service.announcer.flush()

    asyncio.run_coroutine_threadsafe(both(), loop).result(30)
