"""A loopback HTTP server that records what it receives (webhooks, Slack, PagerDuty), with
answers a test scripts (a status per request, then 200)."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import orjson


@dataclass(frozen=True)
class Received:
    path: str
    headers: dict[str, str]
    body: bytes
    at: float

    def json(self) -> Any:
        return orjson.loads(self.body)


@dataclass
class Receiver:
    url: str
    received: list[Received] = field(default_factory=list)
    #: Statuses to answer, in order; once used up, 200 (or ``default_status``).
    statuses: list[int] = field(default_factory=list)
    default_status: int = 200
    lock: threading.Lock = field(default_factory=threading.Lock)

    def bodies(self, path: str | None = None) -> list[Any]:
        """The JSON bodies received (at ``path`` only, when given), oldest first."""
        with self.lock:
            return [r.json() for r in self.received if path is None or r.path == path]

    def requests(self, path: str) -> list[Received]:
        with self.lock:
            return [r for r in self.received if r.path == path]

    def wait(
        self,
        predicate: Callable[[list[Any]], bool],
        *,
        path: str | None = None,
        timeout_s: float = 15.0,
        what: str = "",
    ) -> list[Any]:
        """The bodies once ``predicate`` holds for them (fails the test after ``timeout_s``)."""
        deadline = time.monotonic() + timeout_s
        while True:
            bodies = self.bodies(path)
            if predicate(bodies):
                return bodies
            if time.monotonic() > deadline:
                raise AssertionError(f"timed out waiting for {what or 'deliveries'}: {bodies}")
            time.sleep(0.02)


@contextmanager
def receiving(host: str = "127.0.0.1") -> Iterator[Receiver]:
    state: dict[str, Receiver] = {}

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            recv = state["r"]
            length = int(self.headers.get("content-length", "0"))
            body = self.rfile.read(length)
            with recv.lock:
                recv.received.append(
                    Received(
                        self.path,
                        {k.lower(): v for k, v in self.headers.items()},
                        body,
                        time.time(),
                    )
                )
                status = recv.statuses.pop(0) if recv.statuses else recv.default_status
            self.send_response(status)
            self.send_header("content-type", "application/json")
            self.send_header("content-length", "2")
            self.end_headers()
            self.wfile.write(b"{}")

        def log_message(self, format: str, *args: Any) -> None:
            return None

    class Server(ThreadingHTTPServer):
        address_family = socket.AF_INET6 if ":" in host else socket.AF_INET

    server = Server((host, 0), Handler)
    port = server.server_address[1]
    shown = f"[{host}]" if ":" in host else host
    state["r"] = Receiver(f"http://{shown}:{port}")
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield state["r"]
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)
