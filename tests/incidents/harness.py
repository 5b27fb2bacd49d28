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


async def _send(
    url: str, requests: Sequence[tuple[dict[str, Any], dict[str, str]]], per_s: float | None
) -> list[int]:
    limit = asyncio.Semaphore(8 if per_s is None else len(requests) or 1)
    loop = asyncio.get_running_loop()
    start = loop.time()
    async with aiohttp.ClientSession() as session:

        async def one(i: int, body: dict[str, Any], headers: dict[str, str]) -> int:
            if per_s is not None:
                await asyncio.sleep(max(0.0, start + i / per_s - loop.time()))
            async with (
                limit,
                session.post(f"{url}/v1/chat/completions", json=body, headers=headers) as resp,
            ):
                await resp.read()
                return resp.status

        return list(await asyncio.gather(*(one(i, b, h) for i, (b, h) in enumerate(requests))))


def send(
    gw: RunningGateway, n: int, request: Request, first: int = 0, *, per_s: float | None = None
) -> list[int]:
    """``n`` requests (``request(i)`` for i from ``first``); their statuses. Eight at a time
    (each sent when one is answered), or with ``per_s`` at that steady rate whatever the
    answers take: users arrive on their own clock, so calls per minute stay what they were
    when the gateway answers faster or slower."""
    requests = [request(i) for i in range(first, first + n)]
    return asyncio.run(_send(gw.url, requests, per_s))


def send_in_order(gw: RunningGateway, n: int, request: Request, first: int = 0) -> list[int]:
    """As :func:`send`, one after the other (a session that loops goes round one call at a
    time)."""
    return [asyncio.run(_send(gw.url, [request(i)], None))[0] for i in range(first, first + n)]


@dataclass
class Clock:
    """The test's marks: baseline ``[t0, t1)``, incident window ``[t1, t2)`` -- or
    ``[resumed, t2)`` when the test does something between the phases that is neither (a
    server stopped takes 0.1-0.2 s to go: in a window of a few tenths of a second, that pause
    alone would read as the calls per minute falling by half)."""

    t0: float = 0.0
    t1: float = 0.0
    t2: float = 0.0
    resumed: float | None = None

    @property
    def window(self) -> tuple[float, float]:
        return (self.t1 if self.resumed is None else self.resumed, self.t2)


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
        window=clock.window,
        baseline=(clock.t0, clock.t1),
        **scope,
    )


def explain(result: Triage) -> str:
    """The ranking as text, for an assertion's message."""
    return "\n".join(f"#{s.rank} {s.kind} {s.score:.3f}: {s.why}" for s in result.suspects)
