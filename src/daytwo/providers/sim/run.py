"""Running the simulator server: in the foreground (``daytwo sim serve``) or on a free loopback
port in a background thread (tests, the demo)."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import uvicorn

from daytwo.config.schema import SimSettings
from daytwo.providers.sim.server import SimApp

#: Seconds a shutdown waits for in-flight answers (slow streams) before cancelling them.
SHUTDOWN_GRACE_S = 2
_STARTUP_TIMEOUT_S = 10.0
_LISTEN_BACKLOG = 2048


class _Server(uvicorn.Server):
    """uvicorn's server, ending the app's hanging requests as soon as shutdown begins (uvicorn
    would otherwise wait for them before it tells the app through the lifespan)."""

    def __init__(self, config: uvicorn.Config, app: SimApp) -> None:
        super().__init__(config)
        self.sim_app = app

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        self.sim_app.begin_shutdown()
        await super().shutdown(sockets=sockets)


def listen(host: str, port: int) -> socket.socket:
    """A listening TCP socket (port 0: a free one). Raises OSError when the address is taken."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
        sock.listen(_LISTEN_BACKLOG)
    except OSError:
        sock.close()
        raise
    return sock


def _server(app: SimApp, log_level: str, *, own_logging: bool) -> _Server:
    # In a background thread (tests, the demo) the host process owns logging configuration:
    # uvicorn's messages then propagate to the root logger instead of reconfiguring it.
    extra: dict[str, Any] = {} if own_logging else {"log_config": None}
    config = uvicorn.Config(
        app,
        loop="auto",  # uvloop when installed
        http="auto",  # httptools when installed
        ws="none",
        lifespan="on",
        access_log=False,
        log_level=log_level,
        proxy_headers=False,
        server_header=False,
        timeout_graceful_shutdown=SHUTDOWN_GRACE_S,
        backlog=_LISTEN_BACKLOG,
        **extra,
    )
    return _Server(config, app)


def serve(sock: socket.socket, app: SimApp, *, log_level: str = "warning") -> None:
    """Serve ``app`` on a listening socket until interrupted (SIGINT/SIGTERM)."""
    _server(app, log_level, own_logging=True).run(sockets=[sock])


@contextmanager
def running_sim_server(
    settings: SimSettings | None = None,
    *,
    require_key: str | None = None,
    clock: Callable[[], float] = time.monotonic,
    wall_clock: Callable[[], float] = time.time,
    host: str = "127.0.0.1",
) -> Iterator[str]:
    """Run the simulator on a free port of ``host`` in a background thread; yields its OpenAI
    base URL (``http://127.0.0.1:PORT/v1``) and shuts the server down on exit.

    The socket listens before the URL is yielded, so requests never race the start-up.
    """
    app = SimApp(
        settings or SimSettings(), require_key=require_key, clock=clock, wall_clock=wall_clock
    )
    sock = listen(host, 0)
    port = sock.getsockname()[1]
    server = _server(app, "warning", own_logging=False)
    failure: list[BaseException] = []

    def run() -> None:
        try:
            server.run(sockets=[sock])
        except BaseException as exc:  # surfaced in the caller's thread below
            failure.append(exc)

    thread = threading.Thread(target=run, name=f"daytwo-sim-{port}", daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + _STARTUP_TIMEOUT_S
        while not server.started:
            if failure or not thread.is_alive():
                cause = failure[0] if failure else None
                raise RuntimeError("the simulator server did not start") from cause
            if time.monotonic() > deadline:
                raise RuntimeError("the simulator server did not start within 10 s")
            thread.join(0.005)  # waits on the thread (wakes early if it dies), not a bare sleep
        yield f"http://{f'[{host}]' if ':' in host else host}:{port}/v1"
    finally:
        server.should_exit = True
        thread.join(SHUTDOWN_GRACE_S + 10)
        sock.close()
        if thread.is_alive():
            raise RuntimeError("the simulator server did not stop")
