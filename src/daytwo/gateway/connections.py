"""What one HTTP connection may cost the gateway before it has proven anything.

uvicorn's httptools protocol has no cap on the request head and no clock on it: ten connections
sending 150 MB of headers each, or a thousand sending one byte now and then, held memory and
file descriptors for as long as they liked. :class:`GuardedHttp` is that protocol with limits
(``server`` section, :class:`~daytwo.config.server.ServerConfig`):

* **head size** -- the request line and headers may hold ``max_header_bytes``: past it the
  client gets ``431`` and the connection closes. Bytes are counted as they arrive (httptools
  buffers a header until it is complete, so counting completed headers would be too late), so
  at most one read (≤ 256 KiB) beyond the cap is ever held;
* **head clock** -- from a connection's opening (or, on a kept-alive connection, the next byte)
  to the end of the headers: ``header_timeout_s``; then ``408`` (or a silent close when nothing
  came) -- slowloris ends here, however slowly it trickles;
* **body clock** -- from the end of the headers to the last body byte: ``body_timeout_s``;
* **idle keep-alive** -- ``keepalive_timeout_s`` between requests;
* **connections** -- at most ``max_connections`` per listener. A connection past the cap first
  sheds the longest-idle connection (one with no request in progress: never used, kept alive,
  or still sending its head); only when every connection is serving a request is the newcomer
  answered ``503 overloaded`` (with ``retry-after: 1``) once its head is read.

Refusals are written here, in the OpenAI error shape, with ``connection: close``, and the
connection closes lingering (see :meth:`GuardedHttp._refuse`). Hot-path
cost: a few attribute reads and one ``loop.time()`` per request; no timer beyond the keep-alive
one uvicorn already sets (its handler also runs the head clock), a body timer only for a body
longer than one read, and no per-header work unless a single read is larger than the cap.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from typing import Any, ClassVar

import httptools
from uvicorn.protocols.http.httptools_impl import STATUS_LINE, HttpToolsProtocol

from daytwo.config.server import ServerConfig
from daytwo.core.errors import DaytwoError, HeadersTooLarge, Overloaded, RequestTimeout
from daytwo.gateway.openai_format import error_body

log = logging.getLogger("daytwo.gateway")


@dataclass(frozen=True, slots=True)
class Limits:
    max_header_bytes: int
    header_timeout_s: float
    keepalive_timeout_s: float
    body_timeout_s: float
    max_connections: int

    @classmethod
    def of(cls, server: ServerConfig, max_connections: int | None = None) -> Limits:
        return cls(
            max_header_bytes=server.max_header_bytes,
            header_timeout_s=server.header_timeout_s,
            keepalive_timeout_s=server.keepalive_timeout_s,
            body_timeout_s=server.body_timeout_s,
            max_connections=max_connections or server.max_connections,
        )


#: After a refusal, how long and how much the connection is still read (and dropped) before it
#: closes, so that the client reads the answer rather than a reset.
LINGER_S = 1.0
LINGER_BYTES = 64 * 1024


class Guard:
    """What one listener's connections share: the limits, the open count, the idle queue (oldest
    first) and a tally of what was refused (shown by /metrics)."""

    __slots__ = ("idle", "limits", "open", "tally")

    def __init__(self, limits: Limits) -> None:
        self.limits = limits
        self.open = 0
        # insertion-ordered: the first key is the connection idle the longest
        self.idle: dict[GuardedHttp, None] = {}
        self.tally: dict[str, int] = dict.fromkeys(
            ("header_too_large", "header_timeout", "body_timeout", "shed_idle", "overloaded"), 0
        )


class _Refused(Exception):
    """Raised from a parser callback to stop parsing; ``data_received`` answers with ``error``."""

    def __init__(self, error: DaytwoError) -> None:
        self.error = error


def _too_large(limit: int) -> DaytwoError:
    return HeadersTooLarge(
        f"The request line and headers exceed the limit of {limit} bytes.",
        code="request_header_fields_too_large",
    )


_Http = HttpToolsProtocol


class GuardedHttp(HttpToolsProtocol):
    """uvicorn's httptools protocol with the limits above. Use :func:`protocol_for` to get a
    class bound to one listener's :class:`Guard`."""

    guard: ClassVar[Guard]
    # copies of the guard's limits read on every request (one attribute lookup each)
    _cap: ClassVar[int]
    _rearm: ClassVar[bool]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._head = 0  # bytes of the current request head read so far (whole reads)
        self._chunk = 0  # size of the read being parsed
        #: When the head clock started (the opening, or the first byte after an answer);
        #: None while no head is awaited.
        self._head_t0: float | None = None
        self._body_timer: asyncio.TimerHandle | None = None
        self._overloaded = False
        #: After a refusal: bytes still read (and dropped) before the close.
        self._linger: int | None = None

    # -- connection ---------------------------------------------------------------------------

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        guard = self.guard
        guard.open += 1
        if guard.open > guard.limits.max_connections:
            victim = next(iter(guard.idle), None)
            if victim is None:
                self._overloaded = True
            else:
                guard.tally["shed_idle"] += 1
                del guard.idle[victim]
                victim.transport.close()
        guard.idle[self] = None
        # One timer per connection serves every clock between requests: uvicorn's keep-alive
        # slot, whose handler (below) also judges the head clock. A request then costs no
        # timer beyond the one uvicorn already sets when the answer ends.
        self._head_t0 = self.loop.time()
        self.timeout_keep_alive_task = self.loop.call_later(
            guard.limits.header_timeout_s, self.timeout_keep_alive_handler
        )

    def connection_lost(self, exc: Exception | None) -> None:
        super().connection_lost(exc)
        self.guard.open -= 1
        self.guard.idle.pop(self, None)
        self._stop_body_clock()

    def data_received(self, data: bytes) -> None:
        # uvicorn's, except: the keep-alive timer is not cancelled by any byte (it now also
        # runs the head clock), and refusals raised from parser callbacks are answered here
        if self._linger is not None:  # refused: drop what still comes, then close
            self._linger -= len(data)
            if self._linger <= 0:
                self.transport.close()
            return
        cycle = self.cycle
        if self._head_t0 is None and (cycle is None or cycle.response_complete):
            self._head_t0 = self.loop.time()  # bytes after an answer: the head clock starts
            if self._rearm:  # the pending keep-alive timer would fire after the head's deadline
                self._unset_keepalive_if_required()
                self.timeout_keep_alive_task = self.loop.call_later(
                    self.guard.limits.header_timeout_s, self.timeout_keep_alive_handler
                )
        self._chunk = len(data)
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserError as exc:
            refused = exc.__context__
            if isinstance(refused, _Refused):
                self._refuse(refused.error)
                return
            msg = "Invalid HTTP request received."
            self.logger.warning(msg)
            self.send_400_response(msg)
            return
        except httptools.HttpParserUpgrade:
            self._unsupported_upgrade_warning()
            return
        scope, cycle = self.scope, self.cycle
        if scope is not None and (cycle is None or cycle.scope is not scope):  # _reading_head()
            self._head += self._chunk
            if self._head > self._cap:
                self.guard.tally["header_too_large"] += 1
                self._refuse(_too_large(self.guard.limits.max_header_bytes))
            return
        if (
            self._body_timer is None
            and cycle is not None
            and cycle.more_body
            and not cycle.response_complete
        ):  # a body longer than one read: its clock runs until the last byte
            self._body_timer = self.loop.call_later(
                self.guard.limits.body_timeout_s, self._body_expired
            )

    # -- parser callbacks ---------------------------------------------------------------------

    def _reading_head(self) -> bool:
        """A request has begun and its headers are not complete. (uvicorn makes a new scope at
        each message's first byte and gives it to the cycle once the headers are complete: no
        callback of our own is needed per request.)"""
        scope, cycle = self.scope, self.cycle
        return scope is not None and (cycle is None or cycle.scope is not scope)

    def on_headers_complete(self) -> None:
        self._head_t0 = None
        guard = self.guard
        guard.idle.pop(self, None)
        cap = self._cap
        head, self._head = self._head, 0
        if head + self._chunk > cap and self._exact_head() > cap:
            guard.tally["header_too_large"] += 1
            raise _Refused(_too_large(cap))
        if self._overloaded and guard.open > guard.limits.max_connections:
            guard.tally["overloaded"] += 1
            raise _Refused(
                Overloaded(
                    "The gateway is at its connection limit and every connection is busy; "
                    "retry shortly.",
                    headers={"retry-after": "1"},
                )
            )
        _Http.on_headers_complete(self)  # (direct calls: these run once per request)

    def on_response_complete(self) -> None:
        _Http.on_response_complete(self)
        if self._body_timer is not None:  # (a body clock that outlived its body does nothing)
            self._stop_body_clock()
        if self.timeout_keep_alive_task is not None:  # uvicorn armed it: open, nothing queued
            self.guard.idle[self] = None  # idle again: sheddable, at the back of the queue
            scope = self.scope
            if scope is not None and self.cycle.scope is not scope and self._head_t0 is None:
                self._head_t0 = self.loop.time()  # the next head began during the answer

    def _exact_head(self) -> int:
        """The head's size as parsed (only computed when one read was larger than the cap)."""
        return len(self.url) + sum(len(n) + len(v) + 4 for n, v in self.headers)

    # -- clocks and refusals ------------------------------------------------------------------

    def timeout_keep_alive_handler(self) -> None:
        """The connection's one timer between requests: the keep-alive clock, or the head clock
        once a head has started (or from the opening)."""
        self.timeout_keep_alive_task = None
        if self.transport.is_closing() or self._linger is not None:
            return
        cycle = self.cycle
        if cycle is not None and not cycle.response_complete:
            return  # a request is being answered; its end arms the timer again
        t0 = self._head_t0
        if t0 is None:  # kept alive and idle: close
            self.transport.close()
            return
        left = t0 + self.guard.limits.header_timeout_s - self.loop.time()
        if left > 0:
            self.timeout_keep_alive_task = self.loop.call_later(
                left, self.timeout_keep_alive_handler
            )
            return
        if not self._reading_head():  # nothing of a request came: just close
            self.transport.close()
            return
        self.guard.tally["header_timeout"] += 1
        limit = self.guard.limits.header_timeout_s
        self._refuse(
            RequestTimeout(
                f"The request headers did not arrive within {limit:g} seconds.",
                code="request_timeout",
            )
        )

    def _stop_body_clock(self) -> None:
        if self._body_timer is not None:
            self._body_timer.cancel()
            self._body_timer = None

    def _body_expired(self) -> None:
        self._body_timer = None
        cycle = self.cycle
        if self.transport.is_closing() or self._linger is not None:
            return
        if cycle is None or not cycle.more_body:
            return
        self.guard.tally["body_timeout"] += 1
        if cycle.response_started:
            self.transport.close()
            return
        limit = self.guard.limits.body_timeout_s
        # the answer goes out from here; the app's receive() then reports a disconnect
        self._refuse(
            RequestTimeout(
                f"The request body did not arrive within {limit:g} seconds.",
                code="request_timeout",
            )
        )

    def _refuse(self, error: DaytwoError) -> None:
        """Answer ``error`` in the OpenAI shape and close the connection, lingering: closing a
        socket with unread bytes in it sends a reset, and the client may then lose the answer.
        So the write side is shut first (FIN after the answer), and whatever still comes is
        read and dropped, up to :data:`LINGER_BYTES` or :data:`LINGER_S`, before the close."""
        if self._linger is not None:
            return  # refused already
        self._linger = LINGER_BYTES
        cycle = self.cycle
        if cycle is not None and not cycle.response_complete:  # the app sees a disconnect
            cycle.disconnected = True
            cycle.message_event.set()
        body = error_body(error)
        head = [STATUS_LINE[error.status_code()]]
        headers = [
            (b"content-type", b"application/json"),
            (b"content-length", str(len(body)).encode()),
            (b"connection", b"close"),
            *((k.encode(), v.encode()) for k, v in error.wire_headers().items()),
        ]
        head += [name + b": " + value + b"\r\n" for name, value in headers]
        transport = self.transport
        transport.write(b"".join([*head, b"\r\n", body]))
        if transport.can_write_eof():
            transport.write_eof()
            self.loop.call_later(LINGER_S, transport.close)
        else:
            transport.close()


def protocol_for(guard: Guard) -> type[GuardedHttp]:
    """A :class:`GuardedHttp` subclass whose connections share ``guard`` (one per listener)."""
    limits = guard.limits
    return type(
        "GuardedHttp",
        (GuardedHttp,),
        {
            "guard": guard,
            "_cap": limits.max_header_bytes,
            "_rearm": limits.keepalive_timeout_s > limits.header_timeout_s,
        },
    )
