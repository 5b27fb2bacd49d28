"""Incidents played through a real gateway: traffic over loopback HTTP in two phases (the
baseline, then the incident window), windows marked by the test's own clock, and triage run on
the gateway's ledger over exactly those windows."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import aiohttp
from tests.gateway.harness import RunningGateway, wait_for

from daytwo.incidents.triage import Triage, triage

#: Body and headers of the i-th request of a phase.
Request = Callable[[int], tuple[dict[str, Any], dict[str, str]]]


def chat(model: str, question: str, max_tokens: int = 40, **extra: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "model": model,
        "messages": [{"role": "user", "content": question}],
        "max_tokens": max_tokens,
    }
    body.update(extra)
    return body


async def _send(url: str, requests: Sequence[tuple[dict[str, Any], dict[str, str]]]) -> list[int]:
    limit = asyncio.Semaphore(8)
    async with aiohttp.ClientSession() as session:

        async def one(body: dict[str, Any], headers: dict[str, str]) -> int:
            async with (
                limit,
                session.post(f"{url}/v1/chat/completions", json=body, headers=headers) as resp,
            ):
                await resp.read()
                return resp.status

        return list(await asyncio.gather(*(one(b, h) for b, h in requests)))


def send(gw: RunningGateway, n: int, request: Request, first: int = 0) -> list[int]:
    """``n`` requests (``request(i)`` for i from ``first``), eight at a time; their statuses."""
    return asyncio.run(_send(gw.url, [request(i) for i in range(first, first + n)]))


def send_in_order(gw: RunningGateway, n: int, request: Request, first: int = 0) -> list[int]:
    """As :func:`send`, one after the other (a session that loops goes round one call at a
    time)."""
    return [asyncio.run(_send(gw.url, [request(i)]))[0] for i in range(first, first + n)]


@dataclass
class Clock:
    """The test's marks: baseline ``[t0, t1)``, incident window ``[t1, t2)``."""

    t0: float = 0.0
    t1: float = 0.0
    t2: float = 0.0


def mark() -> float:
    """A boundary between phases: a call started before it is never after it (the ledger's
    ``started_at`` comes from the same clock)."""
    time.sleep(0.01)
    at = time.time()
    time.sleep(0.01)
    return at


def settled(gw: RunningGateway, n: int) -> None:
    """Wait until the ledger holds ``n`` calls."""
    assert gw.app.ledger is not None
    wait_for(lambda: gw.app.ledger.flush(10.0) and len(gw.records()) >= n, 20.0, f"{n} calls")  # type: ignore[union-attr]


def run_triage(gw: RunningGateway, clock: Clock, **scope: Any) -> Triage:
    assert gw.app.ledger is not None
    gw.app.ledger.flush(10.0)
    return triage(
        gw.app.ledger.store,
        window=(clock.t1, clock.t2),
        baseline=(clock.t0, clock.t1),
        **scope,
    )


def explain(result: Triage) -> str:
    """The ranking as text, for an assertion's message."""
    return "\n".join(f"#{s.rank} {s.kind} {s.score:.3f}: {s.why}" for s in result.suspects)
