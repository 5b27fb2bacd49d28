"""The HTTP seam every upstream adapter shares: one aiohttp session per provider, and the one
place where aiohttp's exceptions become daytwo's.

aiohttp was chosen by measurement: on this class of machine its pool held ~20x the concurrency
of httpx's (see bench/README.md).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Protocol

import aiohttp

from daytwo.core.errors import (
    ProviderError,
    UpstreamProtocolError,
    UpstreamTimeout,
    UpstreamUnavailable,
)

#: (status, body, lower-cased headers, redact) → the provider's error, in daytwo's tree
ErrorMapper = Callable[[int, bytes, dict[str, str], Callable[[str], str]], ProviderError]


class ConnectionSettings(Protocol):
    """The connection knobs every HTTP provider config has (read-only: configs are frozen)."""

    @property
    def timeout_s(self) -> float: ...

    @property
    def connect_timeout_s(self) -> float: ...

    @property
    def max_connections(self) -> int: ...


class UpstreamHTTP:
    """A lazily created aiohttp session with the provider's fixed headers and timeouts."""

    @classmethod
    def for_provider(
        cls,
        cfg: ConnectionSettings,
        headers: dict[str, str],
        *,
        redact: Callable[[str], str],
        on_error: ErrorMapper,
        middlewares: Sequence[aiohttp.ClientMiddlewareType] = (),
    ) -> UpstreamHTTP:
        return cls(
            headers,
            timeout_s=cfg.timeout_s,
            connect_timeout_s=cfg.connect_timeout_s,
            max_connections=cfg.max_connections,
            redact=redact,
            on_error=on_error,
            middlewares=middlewares,
        )

    def __init__(
        self,
        headers: dict[str, str],
        *,
        timeout_s: float,
        connect_timeout_s: float,
        max_connections: int,
        redact: Callable[[str], str],
        on_error: ErrorMapper,
        middlewares: Sequence[aiohttp.ClientMiddlewareType] = (),
    ) -> None:
        """``middlewares`` are aiohttp client middlewares, run on every request just before it
        leaves (Bedrock signs requests in one: a signature covers the exact bytes sent)."""
        self._headers = headers
        self._middlewares = tuple(middlewares)
        self._timeout = aiohttp.ClientTimeout(total=timeout_s, sock_connect=connect_timeout_s)
        self._max_connections = max_connections
        self._redact = redact
        self._on_error = on_error
        self._session: aiohttp.ClientSession | None = None

    def _client(self) -> aiohttp.ClientSession:
        # Created inside the running loop (aiohttp binds sessions to a loop).
        if self._session is None:
            connector = aiohttp.TCPConnector(
                limit=self._max_connections, ttl_dns_cache=300, keepalive_timeout=60
            )
            self._session = aiohttp.ClientSession(
                connector=connector,
                headers=self._headers,
                timeout=self._timeout,
                middlewares=self._middlewares,
            )
        return self._session

    async def post(self, url: str, data: bytes) -> aiohttp.ClientResponse:
        """POST and return the open response; any error status is raised, mapped."""
        try:
            resp = await self._client().post(url, data=data)
        except TimeoutError as exc:
            raise UpstreamTimeout("upstream timed out before answering") from exc
        except aiohttp.ClientConnectorError as exc:
            raise UpstreamUnavailable(f"cannot connect to upstream: {exc.strerror or exc}") from exc
        except aiohttp.ClientError as exc:
            raise UpstreamUnavailable(self._redact(f"upstream connection failed: {exc}")) from exc
        if resp.status >= 400:
            try:
                body = await resp.read()
            except (TimeoutError, aiohttp.ClientError):
                body = b""
            finally:
                resp.release()
            headers = {k.lower(): v for k, v in resp.headers.items()}
            raise self._on_error(resp.status, body, headers, self._redact)
        return resp

    async def post_stream(self, url: str, data: bytes) -> aiohttp.ClientResponse:
        """POST a streaming request; the response must be Server-Sent Events. Some servers
        ignore ``stream`` on errors or misconfiguration: that is a protocol error here."""
        resp = await self.post(url, data)
        ctype = resp.headers.get("content-type", "")
        if not ctype.startswith("text/event-stream"):
            raw = await self.read_quietly(resp)
            raise UpstreamProtocolError(
                f"upstream answered a stream request with {ctype or 'no content type'}: "
                + self._redact(raw[:200].decode("utf-8", "replace"))
            )
        return resp

    async def read(self, resp: aiohttp.ClientResponse) -> bytes:
        """The whole body of an open response, then release the connection."""
        try:
            return await resp.read()
        except TimeoutError as exc:
            raise UpstreamTimeout("upstream timed out while sending the answer") from exc
        except aiohttp.ClientError as exc:
            raise UpstreamProtocolError(f"upstream connection broke mid-answer: {exc}") from exc
        finally:
            resp.release()

    async def read_quietly(self, resp: aiohttp.ClientResponse) -> bytes:
        """Best effort, for error messages: never raises."""
        try:
            return await resp.read()
        except (TimeoutError, aiohttp.ClientError):
            return b""
        finally:
            resp.release()

    async def aclose(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None
