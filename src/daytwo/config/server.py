"""The ``server`` section of ``daytwo.yaml``: where the gateway listens and what one connection may
cost it before it has proven anything.

::

    server:
      host: 0.0.0.0
      port: 4000
      admin_listen: 127.0.0.1:4001   # /admin/ and /metrics here only (404 on the data port)
      max_body_bytes: 4194304        # 413 above
      max_header_bytes: 65536        # request line + headers; 431 above
      header_timeout_s: 10           # from a connection's (or a request's) first byte to its
                                     # last header byte; then 408 and close
      keepalive_timeout_s: 5         # an idle keep-alive connection is closed after this
      body_timeout_s: 60             # from the end of the headers to the last body byte
      max_connections: 10000         # open connections per listener (idle ones are shed first)

The limits are enforced per connection in :mod:`daytwo.gateway.connections`; see
``docs/security.md`` for what each one protects.
"""

from __future__ import annotations

import re

from pydantic import BaseModel, ConfigDict, Field, model_validator

_LISTEN = re.compile(
    r"^(?:\[(?P<v6>[0-9A-Fa-f:.]+)\]|(?P<host>[A-Za-z0-9._-]+)):(?P<port>\d{1,5})$"
)


def parse_listen(text: str) -> tuple[str, int]:
    """``host:port`` (``[v6]:port`` for IPv6) → (host, port); ValueError naming the form."""
    m = _LISTEN.match(text)
    port = int(m.group("port")) if m else -1
    if m is None or not 0 <= port <= 65535:
        raise ValueError(f"`{text}` is not host:port (e.g. 127.0.0.1:4001 or [::1]:4001)")
    return m.group("v6") or m.group("host"), port


class ServerConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    host: str = "127.0.0.1"
    port: int = Field(4000, ge=0, le=65535)
    #: A second listener for the control plane (``/admin/`` and ``/metrics``), ``host:port``.
    #: When set, the data-plane port answers 404 for those paths. Port 0: any free port.
    admin_listen: str | None = None
    #: Largest request body accepted, in bytes (413 above it).
    max_body_bytes: int = Field(4 * 1024 * 1024, ge=1024)
    #: Largest request head (request line and headers), bytes: 431 and close above it.
    max_header_bytes: int = Field(64 * 1024, ge=4 * 1024, le=1024 * 1024)
    #: Seconds from a connection's first byte (or its opening) to the end of a request's
    #: headers: 408 (or a silent close, if nothing was sent) past it. Slowloris ends here.
    header_timeout_s: float = Field(10.0, gt=0, le=600)
    #: Seconds an idle keep-alive connection stays open between requests.
    keepalive_timeout_s: float = Field(5.0, gt=0, le=3600)
    #: Seconds from the end of the headers to the last byte of the body: 408 past it.
    body_timeout_s: float = Field(60.0, gt=0, le=3600)
    #: Open connections per listener. Past it, a new connection first sheds the longest-idle
    #: one (no request in progress); when every connection is busy it is answered 503.
    max_connections: int = Field(10_000, ge=1, le=1_000_000)
    #: Seconds a graceful shutdown waits for in-flight requests before closing them.
    shutdown_grace_s: float = Field(30.0, ge=0)
    #: Poll the config file for changes every this many seconds (0: off; SIGHUP still works).
    reload_poll_s: float = Field(2.0, ge=0)

    @model_validator(mode="after")
    def _admin_listen(self) -> ServerConfig:
        if self.admin_listen is not None:
            _, port = parse_listen(self.admin_listen)
            if port != 0 and port == self.port:
                raise ValueError(
                    f"admin_listen: port {port} is the data-plane port; pick another one"
                )
        return self

    @property
    def admin_address(self) -> tuple[str, int] | None:
        return None if self.admin_listen is None else parse_listen(self.admin_listen)
