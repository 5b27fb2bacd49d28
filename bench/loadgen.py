"""Open-loop and closed-loop HTTP/1.1 load generator for the gateway benches.

``wrk`` is closed-loop: each connection waits for its answer before sending the next request,
so a stalled server is asked less and its stall hides from the percentiles (coordinated
omission). ``wrk2`` is not in Debian, so the open loop lives here:

* ``open``: requests are *scheduled* at fixed intervals (``1/rate``) by a timer thread
  (``time.sleep`` is precise to ~0.1 ms here; event-loop timers tick in whole milliseconds) and
  written on the event loop from a pool of keep-alive connections. Latency is measured from the
  *scheduled* send time, so a late server is charged for the queue it causes. The time between
  scheduled and actual write (``send_lag``) is reported so the generator can vouch for itself.
* ``closed``: N workers, each sending its next request when the previous answer is complete
  (the time-to-first-chunk probe at concurrency 1).

Responses are parsed with ``httptools`` (a dependency of daytwo) on a raw ``asyncio.Protocol``:
a few microseconds per response, so one process sustains well over 1,000 req/s here.
Prints one JSON object. Run it in its own process, e.g.::

    python bench/loadgen.py open --url http://127.0.0.1:4000/v1/chat/completions --rate 500 -d 10
    python bench/loadgen.py closed --url ... --conc 1 -d 5 --stream
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import sys
import threading
import time
from array import array
from collections import Counter, deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, cast
from urllib.parse import urlsplit

import httptools

try:
    import uvloop
except ImportError:  # pragma: no cover - the bench venv has it
    uvloop = None  # type: ignore[assignment]

DRAIN_TIMEOUT_S = 10.0
PREOPEN_CONNECTIONS = 16
SYSTEM = "You are a helpful assistant."
USER = "Write one short sentence saying hello to the benchmark."


def chat_body(model: str, stream: bool) -> bytes:
    """The same request body as ``/work/shared/bench/tools/chat.lua``."""
    body: dict[str, Any] = {
        "model": model,
        "messages": [{"role": "system", "content": SYSTEM}, {"role": "user", "content": USER}],
        "max_tokens": 64,
        "temperature": 0,
    }
    if stream:
        body["stream"] = True
        body["stream_options"] = {"include_usage": True}
    return json.dumps(body, separators=(",", ":")).encode()


def build_request(url: str, body: bytes, key: str) -> bytes:
    parts = urlsplit(url)
    head = (
        f"POST {parts.path or '/'} HTTP/1.1\r\n"
        f"Host: {parts.netloc}\r\n"
        "Content-Type: application/json\r\n"
        f"Authorization: Bearer {key}\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    )
    return head.encode() + body


@dataclass(slots=True)
class Pending:
    scheduled: float
    sent: float = 0.0
    first: float = 0.0
    on_done: Callable[[Pending, int, str | None], None] | None = None


@dataclass
class Results:
    """Latencies in seconds; counts of outcomes."""

    latency: array[float] = field(default_factory=lambda: array("d"))  # from scheduled
    service: array[float] = field(default_factory=lambda: array("d"))  # from actual write
    ttft: array[float] = field(default_factory=lambda: array("d"))  # first body byte, scheduled
    send_lag: array[float] = field(default_factory=lambda: array("d"))
    statuses: Counter[str] = field(default_factory=Counter)
    written: int = 0
    completed: int = 0
    last_done: float = 0.0

    def record(self, p: Pending, status: int, error: str | None) -> None:
        now = time.perf_counter()
        if error is not None:
            self.statuses[error] += 1
            return
        self.statuses[str(status)] += 1
        self.completed += 1
        self.last_done = now
        self.latency.append(now - p.scheduled)
        self.service.append(now - p.sent)
        if p.first:
            self.ttft.append(p.first - p.scheduled)


class Conn(asyncio.Protocol):
    """One keep-alive connection carrying one request at a time."""

    def __init__(self, pool: Pool) -> None:
        self.pool = pool
        self.parser = httptools.HttpResponseParser(self)
        self.transport: asyncio.Transport | None = None
        self.current: Pending | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's is not a subclass

    def send(self, p: Pending) -> None:
        assert self.transport is not None
        self.current = p
        p.sent = time.perf_counter()
        self.pool.results.written += 1
        self.transport.write(self.pool.request)

    def data_received(self, data: bytes) -> None:
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserError:
            self._fail("bad_response")
            self.close()

    def on_body(self, body: bytes) -> None:
        if self.current is not None and not self.current.first and body:
            self.current.first = time.perf_counter()

    def on_message_complete(self) -> None:
        p, self.current = self.current, None
        if p is not None:
            self.pool.finish(p, self.parser.get_status_code(), None)
        if self.parser.should_keep_alive():
            self.pool.release(self)
        else:
            self.close()

    def connection_lost(self, exc: Exception | None) -> None:
        self._fail("conn_lost")
        self.pool.discard(self)

    def _fail(self, reason: str) -> None:
        p, self.current = self.current, None
        if p is not None:
            self.pool.finish(p, 0, reason)

    def close(self) -> None:
        if self.transport is not None:
            self.transport.close()


class Pool:
    """Keep-alive connections to one host; requests wait in a FIFO when all are busy."""

    def __init__(self, url: str, request: bytes, max_conns: int) -> None:
        parts = urlsplit(url)
        self.host = parts.hostname or "127.0.0.1"
        self.port = parts.port or 80
        self.request = request
        self.max_conns = max_conns
        self.results = Results()
        self.idle: list[Conn] = []
        self.waiting: deque[Pending] = deque()
        self.conns: set[Conn] = set()
        self.opening = 0
        self.outstanding = 0
        self.drained = asyncio.Event()

    async def preopen(self, n: int) -> None:
        conns = await asyncio.gather(*(self._connect() for _ in range(n)))
        self.idle.extend(conns)

    async def _connect(self) -> Conn:
        loop = asyncio.get_running_loop()
        _, proto = await loop.create_connection(lambda: Conn(self), self.host, self.port)
        self.conns.add(proto)
        return proto

    def submit(self, p: Pending) -> None:
        self.outstanding += 1
        self.drained.clear()
        if self.idle:
            self.idle.pop().send(p)
        elif len(self.conns) + self.opening < self.max_conns:
            self.opening += 1
            asyncio.get_running_loop().create_task(self._open_and_send(p))
        else:
            self.waiting.append(p)

    async def _open_and_send(self, p: Pending) -> None:
        try:
            conn = await self._connect()
        except OSError as exc:
            self.opening -= 1
            self.finish(p, 0, f"connect:{type(exc).__name__}")
            return
        self.opening -= 1
        conn.send(p)

    def release(self, conn: Conn) -> None:
        if self.waiting:
            conn.send(self.waiting.popleft())
        else:
            self.idle.append(conn)

    def discard(self, conn: Conn) -> None:
        self.conns.discard(conn)
        if conn in self.idle:
            self.idle.remove(conn)
        if self.waiting and len(self.conns) + self.opening < self.max_conns:
            self.opening += 1
            asyncio.get_running_loop().create_task(self._open_and_send(self.waiting.popleft()))

    def finish(self, p: Pending, status: int, error: str | None) -> None:
        self.results.record(p, status, error)
        if p.on_done is not None:
            p.on_done(p, status, error)
        self.outstanding -= 1
        if self.outstanding == 0:
            self.drained.set()

    async def drain(self, timeout_s: float) -> None:
        if self.outstanding:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.drained.wait(), timeout_s)
        timed_out = self.outstanding
        if timed_out:
            self.results.statuses["timeout"] += timed_out
        unsent = len(self.waiting)
        if unsent:
            self.results.statuses["unsent"] += unsent
        for conn in list(self.conns):
            conn.current = None
            conn.close()


# ---------------------------------------------------------------- open loop


def _schedule(
    loop: asyncio.AbstractEventLoop,
    fire: Callable[[list[float]], None],
    t0: float,
    rate: float,
    n: int,
) -> None:
    """Timer thread: hand each scheduled time to the loop when it is due (late ones batched)."""
    interval = 1.0 / rate
    i = 0
    while i < n:
        now = time.perf_counter()
        due = t0 + i * interval
        if due > now:
            time.sleep(due - now)
            now = time.perf_counter()
        batch = []
        while i < n and t0 + i * interval <= now:
            batch.append(t0 + i * interval)
            i += 1
        loop.call_soon_threadsafe(fire, batch)


async def open_loop(
    url: str, request: bytes, rate: float, duration: float, max_conns: int
) -> dict[str, Any]:
    pool = Pool(url, request, max_conns)
    await pool.preopen(min(PREOPEN_CONNECTIONS, max_conns))
    loop = asyncio.get_running_loop()
    n = max(1, int(rate * duration))
    finished = asyncio.Event()
    res = pool.results

    def fire(batch: list[float]) -> None:
        for due in batch:
            pool.submit(Pending(due))
            res.send_lag.append(time.perf_counter() - due)
        if len(res.send_lag) >= n:
            finished.set()

    t0 = time.perf_counter() + 0.05
    thread = threading.Thread(target=_schedule, args=(loop, fire, t0, rate, n), daemon=True)
    thread.start()
    await finished.wait()
    await pool.drain(DRAIN_TIMEOUT_S)
    thread.join()
    elapsed = max(res.last_done, t0 + n / rate) - t0
    out = summarize(res, elapsed)
    out.update(mode="open", rate=rate, scheduled=n, duration_s=round(duration, 3))
    return out


# ---------------------------------------------------------------- closed loop


async def closed_loop(url: str, request: bytes, conc: int, duration: float) -> dict[str, Any]:
    pool = Pool(url, request, conc)
    await pool.preopen(conc)
    loop = asyncio.get_running_loop()
    t0 = time.perf_counter()
    stop_at = t0 + duration

    async def worker() -> None:
        while time.perf_counter() < stop_at:
            done: asyncio.Future[None] = loop.create_future()
            p = Pending(time.perf_counter(), on_done=lambda *_a, f=done: f.set_result(None))
            pool.submit(p)
            await done

    await asyncio.gather(*(worker() for _ in range(conc)))
    elapsed = time.perf_counter() - t0
    await pool.drain(DRAIN_TIMEOUT_S)
    out = summarize(pool.results, elapsed)
    out.update(mode="closed", concurrency=conc, duration_s=round(duration, 3))
    return out


# ---------------------------------------------------------------- summary


def pct_ms(xs: array[float], q: float) -> float | None:
    if not xs:
        return None
    s = sorted(xs)
    return round(s[min(len(s) - 1, int(q * len(s)))] * 1000, 3)


def summarize(res: Results, elapsed: float) -> dict[str, Any]:
    ok = res.statuses.get("200", 0)
    return {
        "written": res.written,
        "completed": res.completed,
        "ok": ok,
        "errors": sum(res.statuses.values()) - ok,
        "statuses": dict(res.statuses),
        "achieved_rps": round(ok / elapsed, 1) if elapsed > 0 else 0.0,
        "lat_p50_ms": pct_ms(res.latency, 0.50),
        "lat_p90_ms": pct_ms(res.latency, 0.90),
        "lat_p99_ms": pct_ms(res.latency, 0.99),
        "lat_max_ms": pct_ms(res.latency, 1.0),
        "service_p50_ms": pct_ms(res.service, 0.50),
        "service_p99_ms": pct_ms(res.service, 0.99),
        "ttft_p50_ms": pct_ms(res.ttft, 0.50),
        "ttft_p99_ms": pct_ms(res.ttft, 0.99),
        "send_lag_p50_ms": pct_ms(res.send_lag, 0.50),
        "send_lag_p99_ms": pct_ms(res.send_lag, 0.99),
    }


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    sub = ap.add_subparsers(dest="cmd", required=True)
    for name in ("open", "closed"):
        p = sub.add_parser(name)
        p.add_argument("--url", required=True)
        p.add_argument("--model", default="gpt-4o-mini")
        p.add_argument("--key", default="sk-fake")
        p.add_argument("--stream", action="store_true")
        p.add_argument("-d", "--duration", type=float, default=10.0)
        if name == "open":
            p.add_argument("--rate", type=float, required=True, help="offered requests/s")
            p.add_argument("--max-conns", type=int, default=512)
        else:
            p.add_argument("--conc", type=int, default=1)
    a = ap.parse_args(argv)
    # The timer thread must get the GIL back quickly when a request is due.
    sys.setswitchinterval(0.0005)
    request = build_request(a.url, chat_body(a.model, a.stream), a.key)
    if a.cmd == "open":
        coro = open_loop(a.url, request, a.rate, a.duration, a.max_conns)
    else:
        coro = closed_loop(a.url, request, a.conc, a.duration)
    out = uvloop.run(coro) if uvloop is not None else asyncio.run(coro)
    out["stream"] = a.stream
    print(json.dumps(out), flush=True)


if __name__ == "__main__":
    main()
