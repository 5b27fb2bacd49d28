"""The simulator over HTTP: a raw ASGI app (no framework) speaking the providers' APIs.

POST routes come from the doors in :mod:`daytwo.providers.sim.doors` (OpenAI Chat Completions and
Embeddings, Anthropic Messages, ...); besides them ``GET /v1/models``, ``GET /v1/models/{id}``
``GET /health`` and the providers' admin usage and cost reports
(:mod:`daytwo.providers.sim.billing`), built from what this server answered. Every answer carries
``x-request-id``. Faults and
latency come from the shared :class:`~daytwo.providers.sim.exchange.Simulator`, so this server and
the in-process :class:`~daytwo.providers.sim.adapter.SimAdapter` behave identically.

Closing a connection on purpose (a hang that ends, a reset, a cut stream) is not something ASGI
can say; under uvicorn the app closes the transport of the connection it was handed, and falls
back to raising (the server then drops or fails the response) under other servers.
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Awaitable, Callable, MutableMapping
from dataclasses import replace
from typing import Any

import orjson

from daytwo.config.schema import SimSettings
from daytwo.providers.sim.billing import ADMIN_PATHS, AdminRoutes, Api, BillingBook, Served
from daytwo.providers.sim.doors import AnthropicDoor, Door, OpenAIDoor, open_doors
from daytwo.providers.sim.exchange import Exchange, Simulator
from daytwo.providers.sim.openai_format import OpenAIFormat

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]

#: Largest request body read, in bytes (OpenAI's own limit is in this range).
MAX_BODY_BYTES = 32 * 1024 * 1024
_HEALTH = orjson.dumps({"status": "ok"})


class _TooLarge(Exception):
    pass


class ConnectionDropped(Exception):
    """Raised to make a non-uvicorn ASGI server drop a connection (see the module docstring)."""


class SimApp:
    """The ASGI application. ``require_key``: when set, only ``Authorization: Bearer <key>``
    is accepted (401 otherwise); when None any or no key is."""

    def __init__(
        self,
        settings: SimSettings,
        *,
        require_key: str | None = None,
        clock: Callable[[], float] = time.monotonic,
        wall_clock: Callable[[], float] = time.time,
    ) -> None:
        self.fmt = OpenAIFormat(settings)
        self.sim = Simulator(settings, self.fmt, clock=clock, wall_clock=wall_clock)
        # Every API shares this one engine: one request counter, fault sequence, outage clock.
        self.doors = open_doors(settings, self.sim)
        self._key = require_key.encode() if require_key else None
        self._wall_clock = wall_clock
        self.billing = BillingBook(settings.billing)
        self._admin = AdminRoutes(self.billing)
        self._closing = asyncio.Event()
        self._models = self.fmt.dumps(self.fmt.models())

    def begin_shutdown(self) -> None:
        """End hanging requests now (call from the server's event loop)."""
        self._closing.set()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        kind = scope["type"]
        if kind == "http":
            await self._http(scope, receive, send)
        elif kind == "lifespan":
            await self._lifespan(receive, send)

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                self.begin_shutdown()
                await send({"type": "lifespan.shutdown.complete"})
                return

    async def _http(self, scope: Scope, receive: Receive, send: Send) -> None:
        path: str = scope["path"]
        method: str = scope["method"]
        if path == "/health" and method in ("GET", "HEAD"):
            await _send_simple(send, 200, _HEALTH, [])
            return
        headers: list[tuple[bytes, bytes]] = scope["headers"]
        query: bytes = scope.get("query_string", b"")
        if path in ADMIN_PATHS and method == "GET":
            status, body, extra = self._admin.answer(path, query, headers, self._wall_clock())
            await _send_simple(send, status, body, _json_headers(extra))
            return
        door, route = self._door(path)
        if self._key is not None and not door.authorized(headers, query, self._key):
            await self._play(door.unauthorized(headers), receive, send)
            return
        if method == "POST" and route is not None:
            posted = await self._post(door, route, query, receive)
            if posted is None:
                return  # the client left
            ex = posted
        elif method == "GET" and path in ("/v1/models", "/models"):
            await _send_simple(send, 200, self._models, [])
            return
        elif method == "GET" and path.startswith("/v1/models/"):
            data = self.fmt.dumps(self.fmt.model(path[len("/v1/models/") :]))
            await _send_simple(send, 200, data, [])
            return
        else:
            ex = self.sim.error(404, f"Invalid URL ({method} {path})", type="invalid_request_error")
        await self._play(ex, receive, send)

    def _door(self, path: str) -> tuple[Door, Any | None]:
        for door in self.doors:
            route = door.match(path)
            if route is not None:
                return door, route
        return self.doors[0], None

    async def _post(
        self, door: Door, route: Any, query: bytes, receive: Receive
    ) -> Exchange | None:
        try:
            body = await _read_body(receive)
        except _TooLarge:
            return door.bad_body(413, f"The request body is larger than {MAX_BODY_BYTES} bytes.")
        if body is None:
            return None
        try:
            data = orjson.loads(body)
        except orjson.JSONDecodeError:
            data = None
        if not isinstance(data, dict):
            return door.bad_body(
                400,
                "We could not parse the JSON body of your request. The API expects a "
                "JSON object as the request body.",
            )
        engine = self.sim.engine
        engine.take_served()
        ex = door.answer(route, data, query)
        served = engine.take_served()
        api = _billed_api(door)
        if served is not None and api is not None:
            if api == "anthropic":
                served = _with_cache(served, ex)
            self.billing.record(api, served, self._wall_clock())
        return ex

    async def _play(self, ex: Exchange, receive: Receive, send: Send) -> None:
        if ex.status == 0:
            await self._hang(ex.delay_s, receive)
            await _drop(send, receive)
            return
        if ex.delay_s > 0:
            await asyncio.sleep(ex.delay_s)
        if not ex.stream:
            await _send_simple(send, ex.status, ex.body, ex.headers)
            return
        await send({"type": "http.response.start", "status": ex.status, "headers": ex.headers})
        loop = asyncio.get_running_loop()
        due = loop.time()
        pending: list[bytes] = []
        for frame in ex.frames:
            if frame.delay_s > 0:
                if pending:  # frames due at the same moment leave in one write
                    await send(
                        {"type": "http.response.body", "body": b"".join(pending), "more_body": True}
                    )
                    pending.clear()
                due += frame.delay_s
                wait = due - loop.time()
                if wait > 0:
                    await asyncio.sleep(wait)
            pending.append(frame.raw)
        if pending:
            await send({"type": "http.response.body", "body": b"".join(pending), "more_body": True})
        if ex.cut:
            await _drop(send, receive)
        else:
            await send({"type": "http.response.body", "body": b"", "more_body": False})

    async def _hang(self, seconds: float, receive: Receive) -> None:
        """Wait ``seconds``, or until the client leaves or the server shuts down."""
        if seconds <= 0:
            return
        left = asyncio.ensure_future(receive())
        closing = asyncio.ensure_future(self._closing.wait())
        _, pending = await asyncio.wait(
            {left, closing}, timeout=seconds, return_when=asyncio.FIRST_COMPLETED
        )
        for task in pending:
            task.cancel()


def _billed_api(door: Door) -> Api | None:
    if isinstance(door, OpenAIDoor):
        return "openai"
    if isinstance(door, AnthropicDoor):
        return "anthropic"
    return None


def _with_cache(served: Served, ex: Exchange) -> Served:
    """``served`` with the cache reads and writes an Anthropic answer reported."""
    usage: Any = None
    if ex.data is not None:
        usage = ex.data.get("usage")
    elif ex.frames and ex.frames[0].data is not None:
        usage = (ex.frames[0].data.get("message") or {}).get("usage")
    if not isinstance(usage, dict):
        return served
    read = usage.get("cache_read_input_tokens") or 0
    written = usage.get("cache_creation_input_tokens") or 0
    return replace(served, cached_input_tokens=int(read), cache_write_tokens=int(written))


def _json_headers(extra: list[tuple[bytes, bytes]]) -> list[tuple[bytes, bytes]]:
    return [
        (b"content-type", b"application/json"),
        (b"x-request-id", f"req_{os.urandom(16).hex()}".encode()),
        *extra,
    ]


async def _send_simple(
    send: Send, status: int, body: bytes, headers: list[tuple[bytes, bytes]]
) -> None:
    if not headers:
        headers = [
            (b"content-type", b"application/json"),
            (b"x-request-id", f"req_{os.urandom(16).hex()}".encode()),
        ]
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [*headers, (b"content-length", str(len(body)).encode())],
        }
    )
    await send({"type": "http.response.body", "body": body})


async def _read_body(receive: Receive) -> bytes | None:
    parts: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            return None
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > MAX_BODY_BYTES:
            raise _TooLarge
        parts.append(chunk)
        if not message.get("more_body", False):
            return parts[0] if len(parts) == 1 else b"".join(parts)


async def _drop(send: Send, receive: Receive) -> None:
    """Close the client's connection without finishing the response."""
    transport = getattr(getattr(send, "__self__", None), "transport", None)
    if transport is None or not hasattr(transport, "close"):
        raise ConnectionDropped("simulated connection drop")
    transport.close()
    # uvicorn notices the close on the next loop turns and reports a disconnect; returning
    # before that would make it log "returned without completing response".
    async with asyncio.timeout(5):
        while (await receive())["type"] != "http.disconnect":
            pass
