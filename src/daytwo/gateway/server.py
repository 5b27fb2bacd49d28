"""Running the gateway under uvicorn: in the foreground (``daytwo serve``) or in a background
thread (the demo and the tests talk to it over real loopback HTTP).

One process, one event loop, up to two listeners: the data plane (``server.host:port``: the LLM
doors, ``/v1/models``, health) and, with ``server.admin_listen``, the control plane (``/admin/``
and ``/metrics``). Each listener has its own connection guard
(:mod:`daytwo.gateway.connections`), so a flood on the data port cannot take the admin port's
connection slots.
"""

from __future__ import annotations

import asyncio
import logging
import resource
import socket
import sys
import threading
import time
from dataclasses import dataclass
from typing import Any, Literal

import uvicorn
from uvicorn.config import STARTUP_FAILURE

from daytwo.config.server import ServerConfig
from daytwo.gateway.connections import Guard, Limits, protocol_for

log = logging.getLogger("daytwo.gateway")

#: File descriptors kept back from the connection cap for everything else a gateway opens:
#: the ledger, logs, Redis, and the upstream connections' idle pool.
FD_RESERVE = 256
#: Highest soft limit asked for when the hard limit is unlimited.
FD_WANTED = 1 << 20


def raise_fd_limit() -> int:
    """Raise the soft open-files limit to the hard one where the OS allows; return the soft
    limit in force afterwards."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = FD_WANTED if hard == resource.RLIM_INFINITY else hard
    if soft != resource.RLIM_INFINITY and soft < target:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
            soft = target
        except (ValueError, OSError) as exc:
            log.warning(f"could not raise the open-files limit from {soft} to {target}: {exc}")
    return FD_WANTED if soft == resource.RLIM_INFINITY else soft


def connection_cap(server: ServerConfig, fd_limit: int) -> int:
    """``server.max_connections``, lowered when the open-files limit cannot hold it (a client
    connection can need a second descriptor upstream); logged when lowered."""
    fits = max(16, (fd_limit - FD_RESERVE) // 2)
    if server.max_connections <= fits:
        return server.max_connections
    # loud when the operator asked for the number, or when the limit is a small one
    chosen = "max_connections" in server.model_fields_set or fits < 1024
    log.log(
        logging.WARNING if chosen else logging.INFO,
        f"server.max_connections {server.max_connections} does not fit the open-files limit "
        f"({fd_limit}): using {fits}; raise `ulimit -n` (LimitNOFILE=) to allow more",
    )
    return fits


def uvicorn_config(
    app: Any,
    host: str,
    port: int,
    *,
    server: ServerConfig | None = None,
    guard: Guard | None = None,
    lifespan: Literal["on", "off"] = "on",
) -> uvicorn.Config:
    server = server or ServerConfig()
    guard = guard or Guard(Limits.of(server))
    config = uvicorn.Config(
        app,
        host=host,
        port=port,
        loop="uvloop",
        http=protocol_for(guard),
        ws="none",
        lifespan=lifespan,
        interface="asgi3",
        access_log=False,
        log_config=None,
        timeout_graceful_shutdown=int(server.shutdown_grace_s),
        backlog=4096,
        server_header=False,
        date_header=False,
        # daytwo does not use the client's address; skip uvicorn's X-Forwarded-* rewriting
        proxy_headers=False,
    )
    # uvicorn annotates int; the value goes to loop.call_later, which takes seconds as a float
    config.timeout_keep_alive = server.keepalive_timeout_s  # type: ignore[assignment]
    return config


class GatewayServer(uvicorn.Server):
    """uvicorn's server plus the optional control-plane listener (``admin_app`` on
    ``admin_address``), opened after the data listener and closed with it."""

    def __init__(
        self,
        config: uvicorn.Config,
        admin: uvicorn.Config | None = None,
        admin_address: tuple[str, int] | None = None,
    ) -> None:
        super().__init__(config)
        self._admin = admin
        self._admin_address = admin_address
        #: The control-plane listener's port once it listens (0 in the config: chosen here).
        self.admin_port: int | None = None

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets)
        admin, where = self._admin, self._admin_address
        if not self.started or admin is None or where is None:
            return
        self.started = False  # until the second listener listens too
        admin.load()

        def create_protocol() -> asyncio.Protocol:
            return admin.http_protocol_class(  # type: ignore[call-arg]  # uvicorn's protocol
                config=admin, server_state=self.server_state, app_state=self.lifespan.state
            )

        loop = asyncio.get_running_loop()
        try:
            listener = await loop.create_server(
                create_protocol, host=where[0], port=where[1], backlog=admin.backlog
            )
        except OSError as exc:
            log.error(f"cannot listen on server.admin_listen {where[0]}:{where[1]}: {exc}")
            for s in self.servers:
                s.close()
            await self.lifespan.shutdown()
            sys.exit(STARTUP_FAILURE)
        self.servers.append(listener)
        assert listener.sockets
        self.admin_port = listener.sockets[0].getsockname()[1]
        log.info(f"admin and metrics listening on {where[0]}:{self.admin_port}")
        self.started = True


def build_server(
    app: Any, server: ServerConfig, host: str | None = None, port: int | None = None
) -> GatewayServer:
    """The uvicorn server for ``app`` (a Gateway) with ``server``'s limits and listeners."""
    limits = Limits.of(server, connection_cap(server, raise_fd_limit()))
    listeners: dict[str, Guard] = app.listeners
    listeners["data"] = Guard(limits)
    data = uvicorn_config(
        app,
        host or server.host,
        server.port if port is None else port,
        server=server,
        guard=listeners["data"],
    )
    where = server.admin_address
    admin = None
    if where is not None:
        listeners["admin"] = Guard(limits)
        admin = uvicorn_config(
            app.control, where[0], where[1], server=server, guard=listeners["admin"], lifespan="off"
        )
    return GatewayServer(data, admin, where)


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

    @property
    def admin_url(self) -> str | None:
        """The control-plane listener's URL (None without ``server.admin_listen``)."""
        port = getattr(self.server, "admin_port", None)
        return None if port is None else f"http://{self.host}:{port}"

    def stop(self, timeout_s: float = 30.0) -> None:
        self.server.should_exit = True
        self.thread.join(timeout_s)
        if self.thread.is_alive():
            raise RuntimeError("server thread did not stop in time")


def serve_in_thread(
    app: Any, host: str = "127.0.0.1", port: int = 0, *, timeout_s: float = 15.0
) -> ServerHandle:
    """Start uvicorn on a background thread with its own event loop; return once it accepts.
    A Gateway brings its ``server`` section (limits, admin listener); other apps get the
    defaults."""
    port = port or free_port(host)
    config = getattr(app, "config", None)
    server_cfg = getattr(config, "server", None)
    if isinstance(server_cfg, ServerConfig):
        server: uvicorn.Server = build_server(app, server_cfg, host, port)
    else:
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
