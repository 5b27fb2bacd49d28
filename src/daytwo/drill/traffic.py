"""The drill's clients: an open-loop stream of chat calls at a fixed rate through the gateway
over HTTP, a share of them streamed, each outcome exactly as a client saw it.

Open loop: call *n* starts at ``n / rate`` seconds whatever happened to the calls before it, as
independent users would; a slow gateway does not slow the traffic down (a closed loop would
hide an outage's latency behind fewer calls).
"""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass

import aiohttp
import orjson

#: Answers are kept short: the drill measures routing, and a real provider bills the tokens.
MAX_TOKENS = 32
#: The client gives up this long after the gateway's own deadline for the call.
CLIENT_SLACK_S = 5.0
CALL_ID_HEADER = "x-daytwo-call-id"


@dataclass(frozen=True, slots=True)
class Shot:
    """One call as its client saw it."""

    n: int
    #: When it was sent, seconds into the drill.
    at_s: float
    stream: bool
    #: The HTTP status; None when no answer came (connection failed, the client timed out).
    status: int | None
    #: None when the client got a whole answer; else what went wrong: the HTTP status,
    #: ``stream_error`` (an error event inside a 200 stream), ``timeout`` or ``connection``.
    error: str | None
    latency_ms: float
    #: The gateway's id for the call (its ledger row); None when no answer came.
    call_id: str | None


def is_streamed(n: int, share: float) -> bool:
    """Whether call ``n`` streams: spread evenly, ``share`` of any run of calls."""
    return math.floor((n + 1) * share) > math.floor(n * share)


def _body(alias: str, n: int, tag: str, stream: bool) -> bytes:
    body: dict[str, object] = {
        "model": alias,
        # A different prompt each time: a response cache must not answer for the upstream.
        "messages": [{"role": "user", "content": f"Drill {tag}, call {n}: say something short."}],
        "max_tokens": MAX_TOKENS,
    }
    if stream:
        body["stream"] = True
        body["stream_options"] = {"include_usage": True}
    return orjson.dumps(body)


def _stream_failed(raw: bytes) -> bool:
    """An error event inside a streamed answer (the stream broke after it began)."""
    for line in raw.split(b"\n"):
        if line.startswith(b"data: {") and b'"error"' in line:
            try:
                if "error" in orjson.loads(line[6:]):
                    return True
            except orjson.JSONDecodeError:
                return True
    return False


async def _shoot(
    session: aiohttp.ClientSession,
    url: str,
    headers: Mapping[str, str],
    body: bytes,
    n: int,
    at_s: float,
    stream: bool,
) -> Shot:
    t0 = time.perf_counter()
    status: int | None = None
    call_id: str | None = None
    try:
        async with session.post(url, data=body, headers=headers) as resp:
            status = resp.status
            call_id = resp.headers.get(CALL_ID_HEADER)
            raw = await resp.read()
        if status != 200:
            error: str | None = str(status)
        elif stream and _stream_failed(raw):
            error = "stream_error"
        else:
            error = None
    except TimeoutError:
        error = "timeout"
    except aiohttp.ClientError:
        error = "connection" if status is None else str(status)
    latency = (time.perf_counter() - t0) * 1000
    return Shot(n, at_s, stream, status, error, latency, call_id)


#: An action at a moment of the drill (the outage begins, ends), run before any call due then.
Mark = tuple[float, Callable[[], Awaitable[None]]]


async def _until(clock: Callable[[], float], at_s: float) -> None:
    wait = at_s - clock()
    if wait > 0:
        await asyncio.sleep(wait)


async def drive(
    base_url: str,
    alias: str,
    *,
    rate: float,
    total_s: float,
    stream_share: float,
    clock: Callable[[], float],
    headers: Mapping[str, str],
    timeout_s: float,
    tag: str,
    marks: Sequence[Mark] = (),
) -> list[Shot]:
    """Send ``rate`` calls per second for ``total_s`` seconds of ``clock`` (the drill's
    timeline, already started) and wait for every answer (at most ``timeout_s`` each).
    Each of ``marks`` runs at its time, before the first call due at or after it."""
    url = base_url.rstrip("/") + "/v1/chat/completions"
    hdrs = {"content-type": "application/json", **headers}
    count = math.ceil(total_s * rate - 1e-9)
    pending = sorted(marks, key=lambda m: m[0])
    timeout = aiohttp.ClientTimeout(total=timeout_s)
    connector = aiohttp.TCPConnector(limit=0)  # an outage piles calls up: never queue them here
    async with aiohttp.ClientSession(timeout=timeout, connector=connector) as session:
        tasks: list[asyncio.Task[Shot]] = []
        for n in range(count + 1):
            at = n / rate if n < count else math.inf
            while pending and pending[0][0] <= at:
                mark_at, action = pending.pop(0)
                await _until(clock, mark_at)
                await action()
            if n == count:
                break
            await _until(clock, at)
            stream = is_streamed(n, stream_share)
            body = _body(alias, n, tag, stream)
            tasks.append(asyncio.create_task(_shoot(session, url, hdrs, body, n, at, stream)))
        return list(await asyncio.gather(*tasks))
