"""The HTTP seam every upstream adapter shares: one aiohttp session per provider, and the one
place where aiohttp's exceptions become daytwo's -- for whole answers (:class:`UpstreamHTTP`)
and for streams (:func:`reading`; :class:`UpstreamStream`, the base of every stream read
through a translator, and :class:`TranslatedStream` for the adapters that translate another
wire format to OpenAI chunks). Also the headers every JSON call carries
(:func:`json_headers`).

Redirects are never followed (``allow_redirects=False`` on the one request call below, which
every chat, stream and embeddings call of every adapter goes through): the key headers would go
to wherever ``Location`` points. A 3xx is :class:`~daytwo.core.errors.UpstreamRedirect`. An
error body is scrubbed of the registered secrets before the adapter's error mapper reads it, so
that a mapper cutting it short cannot leave a piece of a key behind.

aiohttp was chosen by measurement: on this class of machine its pool held ~20x the concurrency
of httpx's (see bench/README.md).
"""

from __future__ import annotations

from collections.abc import (
    AsyncGenerator,
    AsyncIterator,
    Callable,
    Iterable,
    Iterator,
    Mapping,
    Sequence,
)
from contextlib import contextmanager
from typing import Any, Protocol

import aiohttp

from daytwo.core.errors import (
    ProviderError,
    UpstreamProtocolError,
    UpstreamRedirect,
    UpstreamTimeout,
    UpstreamUnavailable,
)
from daytwo.core.secrets import SecretRegistry
from daytwo.core.types import StreamChunk, Usage
from daytwo.providers.openai_wire import parse_json_object

#: (status, body, lower-cased headers, redact) → the provider's error, in daytwo's tree
ErrorMapper = Callable[[int, bytes, dict[str, str], Callable[[str], str]], ProviderError]


#: The most of an error answer's body read (and redacted): real error bodies are a few hundred
#: bytes, and what is shown of one is cut far shorter. A longer body is read no further.
MAX_ERROR_BODY = 64 * 1024

#: Answer headers that report an upstream's remaining quota (lower-case prefixes).
_QUOTA_PREFIXES = ("x-ratelimit-", "anthropic-ratelimit-")


def quota_headers(headers: Mapping[str, str]) -> dict[str, str] | None:
    """The rate-limit headers of an answer, lower-cased (None when it sent none)."""
    found = {k.lower(): v for k, v in headers.items() if k.lower().startswith(_QUOTA_PREFIXES)}
    return found or None


def json_headers(
    secrets: SecretRegistry,
    api_key: str | None = None,
    key_header: str = "",
    *,
    scheme: str = "",
    fixed: Mapping[str, str] | None = None,
) -> dict[str, str]:
    """The headers of every call to a JSON API: content type, user agent, the provider's
    ``fixed`` ones, and the key (resolved from its reference, after ``scheme``) in
    ``key_header`` when the provider has one."""
    headers = {"content-type": "application/json", "user-agent": "daytwo", **(fixed or {})}
    if api_key is not None:
        headers[key_header] = scheme + secrets.resolve(api_key)
    return headers


@contextmanager
def reading(
    resp: aiohttp.ClientResponse,
    *,
    timed_out: str = "upstream stream timed out",
    broke: str = "upstream stream broke",
) -> Iterator[aiohttp.StreamReader]:
    """Around the reads of an answer's body (a stream's, unless the messages say otherwise):
    aiohttp's errors become daytwo's, and the connection is released however reading ends."""
    try:
        yield resp.content
    except TimeoutError as exc:
        raise UpstreamTimeout(timed_out) from exc
    except aiohttp.ClientError as exc:
        raise UpstreamProtocolError(f"{broke}: {exc}") from exc
    finally:
        resp.release()


class StreamProgress(Protocol):
    """What a stream translator reports as it goes: whether the upstream's stream is complete,
    and the usage and model it has reported so far."""

    done: bool
    served_model: str | None

    def usage_so_far(self) -> Usage | None: ...


class ChunkTranslator(StreamProgress, Protocol):
    """Another wire format's stream events in, ``chat.completion.chunk`` dicts out (the
    ``StreamTranslator`` of ``anthropic_stream`` and ``gemini_stream``)."""

    def feed_bytes(self, data: bytes) -> Iterator[dict[str, Any]]: ...

    def end(self) -> Iterator[dict[str, Any]]: ...


class UpstreamStream:
    """An open upstream stream read through a translator. ``usage`` and ``served_model`` are
    what the upstream reported so far (kept when the stream breaks: the pipeline reads them
    when the client goes away mid-stream). Subclasses say how read bytes become chunks
    (:meth:`_from_bytes`) and what is left when the body ends (:meth:`_at_end`)."""

    def __init__(
        self,
        resp: aiohttp.ClientResponse,
        translator: StreamProgress,
        *,
        upstream_request_id: str | None = None,
    ) -> None:
        self._resp = resp
        self._progress = translator
        self.upstream_request_id = upstream_request_id
        self.rate_headers = quota_headers(resp.headers)
        self.usage: Usage | None = None
        self.served_model: str | None = None
        #: The formats read through translators (Anthropic Messages, Gemini) report none.
        self.fingerprint: str | None = None

    def _from_bytes(self, data: bytes) -> Iterable[StreamChunk]:
        raise NotImplementedError

    def _at_end(self) -> Iterable[StreamChunk]:
        raise NotImplementedError

    def _sync(self) -> None:
        # Before every yield, and at the end however it comes.
        self.usage = self._progress.usage_so_far()
        self.served_model = self._progress.served_model

    def __aiter__(self) -> AsyncIterator[StreamChunk]:
        return self._iterate()

    async def _iterate(self) -> AsyncGenerator[StreamChunk, None]:
        # Raw reads, not aiohttp's line iterator: the translators split lines themselves
        # (aiohttp's raises LineTooLong, not a ClientError, past 512 KiB) and are fuzzed on any
        # split.
        with reading(self._resp) as body:
            try:
                async for data in body.iter_any():
                    for chunk in self._from_bytes(data):
                        self._sync()
                        yield chunk
                    if self._progress.done:
                        return
                for chunk in self._at_end():
                    self._sync()
                    yield chunk
            finally:
                self._sync()

    async def aclose(self) -> None:
        self._resp.release()


class TranslatedStream(UpstreamStream):
    """An open stream in another wire format, yielded as OpenAI chunks by its translator."""

    def __init__(
        self,
        resp: aiohttp.ClientResponse,
        translator: ChunkTranslator,
        *,
        upstream_request_id: str | None = None,
    ) -> None:
        super().__init__(resp, translator, upstream_request_id=upstream_request_id)
        self._tr = translator

    def _from_bytes(self, data: bytes) -> Iterable[StreamChunk]:
        return (StreamChunk(data=chunk) for chunk in self._tr.feed_bytes(data))

    def _at_end(self) -> Iterable[StreamChunk]:
        return (StreamChunk(data=chunk) for chunk in self._tr.end())


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

    async def post(
        self, url: str, data: bytes, headers: Mapping[str, str] | None = None
    ) -> aiohttp.ClientResponse:
        """POST and return the open response; any error status is raised, mapped.
        ``headers``: this request's own, beside the provider's fixed ones."""
        try:
            resp = await self._client().post(url, data=data, headers=headers, allow_redirects=False)
        except TimeoutError as exc:
            raise UpstreamTimeout("upstream timed out before answering") from exc
        except aiohttp.ClientConnectorError as exc:
            raise UpstreamUnavailable(f"cannot connect to upstream: {exc.strerror or exc}") from exc
        except aiohttp.ClientError as exc:
            raise UpstreamUnavailable(self._redact(f"upstream connection failed: {exc}")) from exc
        if resp.status >= 300:
            if resp.status < 400:
                resp.release()  # its body is of no use: not read
                raise UpstreamRedirect(resp.status)
            body = await self.read_quietly(resp, MAX_ERROR_BODY)
            # Redacted whole, before any mapper cuts the text short.
            body = self._redact(body.decode("utf-8", "surrogateescape")).encode(
                "utf-8", "surrogateescape"
            )
            answered = {k.lower(): v for k, v in resp.headers.items()}
            raise self._on_error(resp.status, body, answered, self._redact)
        return resp

    async def post_stream(
        self,
        url: str,
        data: bytes,
        content_type: str = "text/event-stream",
        headers: Mapping[str, str] | None = None,
    ) -> aiohttp.ClientResponse:
        """POST a streaming request; the response must be a stream of ``content_type``
        (Server-Sent Events unless said otherwise). Some servers ignore ``stream`` on errors or
        misconfiguration: that is a protocol error here."""
        resp = await self.post(url, data, headers)
        ctype = resp.headers.get("content-type", "")
        if not ctype.startswith(content_type):
            raw = await self.read_quietly(resp, MAX_ERROR_BODY)
            raise UpstreamProtocolError(
                f"upstream answered a stream request with {ctype or 'no content type'}: "
                + self._redact(raw.decode("utf-8", "replace"))[:200]
            )
        return resp

    async def read(self, resp: aiohttp.ClientResponse) -> bytes:
        """The whole body of an open response, then release the connection."""
        with reading(
            resp,
            timed_out="upstream timed out while sending the answer",
            broke="upstream connection broke mid-answer",
        ):
            return await resp.read()

    async def post_json(
        self, url: str, data: bytes, what: str
    ) -> tuple[aiohttp.ClientResponse, dict[str, Any]]:
        """POST and read the whole answer, a JSON object (``what`` names it in errors); the
        response is returned for its headers, its connection already released."""
        resp = await self.post(url, data)
        return resp, parse_json_object(await self.read(resp), what)

    async def read_quietly(self, resp: aiohttp.ClientResponse, limit: int | None = None) -> bytes:
        """Best effort, for error messages: never raises. With ``limit``, at most that many
        bytes are read (the connection is then closed, not reused)."""
        try:
            if limit is None:
                return await resp.read()
            parts: list[bytes] = []
            size = 0
            while size < limit:
                part = await resp.content.read(limit - size)
                if not part:
                    break
                parts.append(part)
                size += len(part)
            return b"".join(parts)
        except (TimeoutError, aiohttp.ClientError):
            return b""
        finally:
            resp.release()

    async def aclose(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None
