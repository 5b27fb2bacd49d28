"""Running the gateway under uvicorn: in the foreground (``daytwo serve``) or in a background
thread (the demo and the tests talk to it over real loopback HTTP)."""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from dataclasses import dataclass
from typing import Any

import uvicorn


def uvicorn_config(app: Any, host: str, port: int, *, grace_s: float = 30.0) -> uvicorn.Config:
    return uvicorn.Config(
        app,
        host=host,
        port=port,
        loop="uvloop",
        http="httptools",
        lifespan="on",
        access_log=False,
        log_config=None,
        timeout_graceful_shutdown=int(grace_s),
        backlog=4096,
        server_header=False,
        date_header=False,
        # daytwo does not use the client's address; skip uvicorn's X-Forwarded-* rewriting
        proxy_headers=False,
    )


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as s:
        s.bind((host, 0))
        port: int = s.getsockname()[1]
        return port


@dataclass
class ServerHandle:
    server: uvicorn.Server
    thread: threading.Thread
    host: str
    port: int

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def stop(self, timeout_s: float = 30.0) -> None:
        self.server.should_exit = True
        self.thread.join(timeout_s)
        if self.thread.is_alive():
            raise RuntimeError("server thread did not stop in time")


def serve_in_thread(
    app: Any, host: str = "127.0.0.1", port: int = 0, *, timeout_s: float = 15.0
) -> ServerHandle:
    """Start uvicorn on a background thread with its own event loop; return once it accepts."""
    port = port or free_port(host)
    server = uvicorn.Server(uvicorn_config(app, host, port))
    errors: list[BaseException] = []

    def run() -> None:
        try:
            asyncio.run(server.serve())
        except BaseException as exc:  # surfaced to the caller below
            errors.append(exc)

    thread = threading.Thread(target=run, name=f"daytwo-server-{port}", daemon=True)
    thread.start()
    deadline = time.monotonic() + timeout_s
    while not server.started:
        if errors or not thread.is_alive():
            raise RuntimeError(f"server failed to start: {errors[0] if errors else 'exited'}")
        if time.monotonic() > deadline:
            server.should_exit = True
            raise RuntimeError("server did not start in time")
        time.sleep(0.01)
    return ServerHandle(server, thread, host, port)
