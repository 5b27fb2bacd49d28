"""The boundary where strings an upstream chose become daytwo's.

An upstream answers with more than tokens: an error's message, type, code and param, retry
hints, the model it says it served, response and request ids, finish reasons. Those strings go
on to the client, the ledger (calls, attempts, the hourly rollup), logs, metrics and traces. An
upstream may echo the credential daytwo sent it (a proxy reflecting request headers, a debug
endpoint, a hostile server), so every such string passes here first. :class:`GuardedAdapter`
wraps every adapter the registry builds: no adapter can forget, and a new one is covered.

The rules (:class:`UpstreamGuard`):

* **identifiers** -- served model, fingerprint, upstream request id, an answer's ``id`` and
  ``model``, its ``system_fingerprint`` and finish reasons -- must fully match :data:`SAFE_ID`
  and hold no registered secret (nor a piece of one) and no well-known key shape. Otherwise the
  served model, fingerprint and request id are dropped (the ledger falls back to the
  deployment's model and records no fingerprint), an answer's ``model`` becomes the
  deployment's, its ``id`` a fresh one (the same for every chunk of a stream), its fingerprint
  is removed and a finish reason redacted.
* **error fields** -- the message is redacted (registered secrets, their pieces, key shapes),
  then cut to :data:`MAX_MESSAGE` characters; ``type`` and ``code`` must match
  :data:`SAFE_TOKEN`, ``param`` :data:`SAFE_PARAM`, or they are dropped; of the headers only
  ``retry-after`` (delay-seconds or an HTTP date) and ``retry-after-ms`` (a number) are kept,
  and only when valid.
* **answer bytes** -- an answer (or stream chunk) holding a registered secret whole anywhere,
  content included, has every string in it redacted before it is relayed. This is a quick byte
  search, for whole values only: a secret spread over several chunks of a stream is not seen.
  Bytes relayed in another format (an Anthropic upstream's own events, to the Anthropic door)
  have the value cut out in place, since the door writes them as they are.

A call outside the adapter protocol (Anthropic's ``count_tokens``) reaches the adapter inside
with :func:`unguarded` and runs through :func:`guarded`, so its errors pass the same rules.

The fast path is a precompiled ``fullmatch`` plus one regex search per identifier, and one byte
search per registered secret over the answer (see docs/security.md for the figures).
"""

from __future__ import annotations

import re
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Mapping
from email.utils import parsedate_to_datetime
from typing import Any, TypeVar

import orjson

from daytwo.core.errors import ProviderError, UpstreamProtocolError, UpstreamStatusError
from daytwo.core.ids import new_call_id
from daytwo.core.secrets import SecretRegistry, has_key_shape
from daytwo.core.types import LLMRequest, LLMResponse, StreamChunk, Usage
from daytwo.providers.base import Adapter, Target, UpstreamStream

#: Models and ids as providers name them (``gpt-4o-2024-08-06``, ``meta-llama/Llama-3.1-8B``,
#: ``llama3.1:8b``, Bedrock ARNs, ``chatcmpl-...``, ``req_...``, uuids, base64 ids).
SAFE_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:/@+=\-]{0,255}")
#: Error types and codes (``rate_limit_error``, ``ThrottlingException``, ``RESOURCE_EXHAUSTED``).
SAFE_TOKEN = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.\-]{0,63}")
#: The request field an error names (``messages[0].content``, ``tools.0.function.name``).
SAFE_PARAM = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.\[\]\-]{0,127}")
#: ``retry-after`` as delay-seconds, ``retry-after-ms`` as a number.
_NUMBER = re.compile(r"\d{1,10}(?:\.\d{1,6})?")
#: The characters of an HTTP date (IMF-fixdate and the two obsolete forms).
_DATE_CHARS = re.compile(r"[A-Za-z0-9 ,:\-]{1,40}")
#: An upstream error message is cut to this many characters (after redaction).
MAX_MESSAGE = 1000
#: Finish reasons every format uses: no check needed.
_KNOWN_FINISH = frozenset({"stop", "length", "tool_calls", "content_filter", "function_call"})


def retry_hint(name: str, value: str) -> bool:
    """Whether ``value`` is a valid ``retry-after`` (delay-seconds or an HTTP date) or
    ``retry-after-ms`` (a number)."""
    value = value.strip()
    if _NUMBER.fullmatch(value):
        return True
    if name != "retry-after" or not _DATE_CHARS.fullmatch(value):
        return False
    try:
        parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return False
    return True


class UpstreamGuard:
    """The rules above over one registry of secrets. Holds a few served-model names already
    found safe (they repeat on every call); the set is bounded and rebuilt when the registry
    learns a value."""

    __slots__ = ("_ok", "_ok_version", "_secrets")

    #: Safe names remembered at most (models: a handful per provider).
    MAX_REMEMBERED = 256

    def __init__(self, secrets: SecretRegistry) -> None:
        self._secrets = secrets
        self._ok: set[str] = set()
        self._ok_version = secrets.version

    # -- identifiers ------------------------------------------------------------------------

    def safe_id(self, value: str) -> bool:
        return (
            SAFE_ID.fullmatch(value) is not None
            and not self._secrets.leaks(value)
            and not has_key_shape(value)
        )

    def name(self, value: str | None) -> str | None:
        """A served model name as kept, or None when it is not safe to keep."""
        if value is None:
            return None
        if self._secrets.version != self._ok_version:
            self._ok = set()
            self._ok_version = self._secrets.version
        if value in self._ok:
            return value
        if not self.safe_id(value):
            return None
        if len(self._ok) < self.MAX_REMEMBERED:
            self._ok.add(value)
        return value

    def ident(self, value: str | None) -> str | None:
        """A request id as kept, or None (ids are unique per call: not remembered)."""
        return value if value is not None and self.safe_id(value) else None

    # -- errors -----------------------------------------------------------------------------

    def error(self, exc: ProviderError) -> None:
        """Make ``exc`` safe to show, log and store (in place: its traceback stays)."""
        redact = self._secrets.redact
        message = redact(exc.message)
        if len(message) > MAX_MESSAGE:
            message = message[:MAX_MESSAGE] + "..."
        exc.message = message
        exc.args = (message,)
        exc.code = self._token(exc.code, SAFE_TOKEN)
        exc.param = self._token(exc.param, SAFE_PARAM)
        if isinstance(exc, UpstreamStatusError):
            exc.upstream_type = self._token(exc.upstream_type, SAFE_TOKEN)
        exc.headers = {
            name: value.strip()
            for name, value in exc.headers.items()
            if name in ("retry-after", "retry-after-ms")
            and retry_hint(name, value)
            and not self._secrets.leaks(value)
        }

    def _token(self, value: str | None, pattern: re.Pattern[str]) -> str | None:
        if value is None or pattern.fullmatch(value) is None:
            return None
        if self._secrets.leaks(value) or has_key_shape(value):
            return None
        return value

    # -- answers ----------------------------------------------------------------------------

    def _dirty(self, raw: bytes | None, body: dict[str, Any]) -> bool:
        """Whether an answer holds a registered secret whole. Its bytes are searched as they
        came unless JSON escapes (``\\u0073k-...``, ``\\/``) could hide a value in them;
        then their JSON, re-encoded without escapes, is."""
        if raw is None:
            raw = orjson.dumps(body)
        # (One memchr for a backslash first: most chunks have none.)
        elif b"\\" in raw and (b"\\u" in raw or b"\\/" in raw):
            raw = _unescaped(raw, body)
        return self._secrets.in_bytes(raw)

    def response(self, resp: LLMResponse, target: Target, *, embeddings: bool) -> LLMResponse:
        """A whole answer: its identifiers checked, its bytes searched for secrets. An answer
        that had to change loses its upstream bytes: the door encodes the checked body (an
        Anthropic answer relayed as-is is then translated back, as for any other upstream)."""
        resp.served_model = self.name(resp.served_model)
        resp.fingerprint = self.name(resp.fingerprint)
        resp.upstream_request_id = self.ident(resp.upstream_request_id)
        # Embedding vectors hold no text; a translated embeddings answer is daytwo's own.
        if (resp.raw is not None or not embeddings) and self._dirty(resp.raw, resp.body):
            resp.body = _redact_all(resp.body, self._secrets.redact)
            resp.raw = None
        if self._fix(resp.body, target, None):
            resp.raw = None
        return resp

    def chunk(self, chunk: StreamChunk, stream: GuardedStream) -> StreamChunk:
        """One chunk of a stream (``stream`` remembers what it already found safe)."""
        data = chunk.data
        raw = chunk.raw
        relayed = raw is not None and chunk.wire != "openai"
        changed = self._dirty(raw, data) or (relayed and self._dirty(None, data))
        if changed:
            data = _redact_all(data, self._secrets.redact)
        # The same id, model and fingerprint come with every chunk: checked when they change.
        ids = (data.get("id"), data.get("model"), data.get("system_fingerprint"))
        if ids != stream.last_ok or _odd_finish(data):
            if self._fix(data, stream.target, stream):
                changed = True
            else:
                stream.last_ok = ids
        if not changed:
            return chunk
        if relayed:
            # Another format's event, relayed as the upstream sent it (the door has no other
            # way to write it): cut out in place, or not relayed at all.
            assert raw is not None
            return StreamChunk(data=data, raw=self._cut_out(raw), wire=chunk.wire)
        return StreamChunk(data=data)

    def _cut_out(self, raw: bytes) -> bytes:
        text = raw.decode("utf-8", "surrogateescape")
        out = self._secrets.redact(text).encode("utf-8", "surrogateescape")
        if self._dirty(out, {}):  # hidden by escapes: nothing safe to relay
            raise UpstreamProtocolError("upstream stream event held a configured secret")
        return out

    def _fix(self, body: dict[str, Any], target: Target, stream: GuardedStream | None) -> bool:
        """Check ``body``'s identifiers and replace the unsafe ones in place; True when one was
        replaced. A stream keeps the id it put in place of an unsafe one (every chunk of a
        stream has the same id)."""
        changed = False
        for field in _CHUNK_FIELDS:
            value = body.get(field)
            if value is None:
                continue
            # Models and fingerprints repeat from call to call: remembered once found safe.
            if isinstance(value, str) and (
                self.safe_id(value) if field == "id" else self.name(value) is not None
            ):
                continue
            changed = True
            if field == "model":
                body["model"] = target.model
            elif field == "id":
                if stream is None:
                    body["id"] = f"chatcmpl-{new_call_id()}"
                else:
                    stream.new_id = stream.new_id or f"chatcmpl-{new_call_id()}"
                    body["id"] = stream.new_id
            else:
                del body[field]
        choices = body.get("choices")
        if isinstance(choices, list):
            for choice in choices:
                reason = choice.get("finish_reason") if isinstance(choice, dict) else None
                if reason is None or (type(reason) is str and reason in _KNOWN_FINISH):
                    continue
                if not (isinstance(reason, str) and self.safe_id(reason)):
                    choice["finish_reason"] = self._secrets.redact(str(reason))[:64]
                    changed = True
        return changed


#: The identifiers of an answer or chunk checked against SAFE_ID.
_CHUNK_FIELDS = ("id", "model", "system_fingerprint")


def _unescaped(raw: bytes, body: dict[str, Any]) -> bytes:
    """The JSON in ``raw`` (an answer, or one SSE event) re-encoded without escapes; when it
    cannot be read, ``raw`` with ``body`` re-encoded (the search then still sees the parsed
    strings)."""
    start, end = raw.find(b"{"), raw.rfind(b"}")
    try:
        return orjson.dumps(orjson.loads(raw[start : end + 1]))
    except orjson.JSONDecodeError:
        return raw + orjson.dumps(body)


def _odd_finish(data: Mapping[str, Any]) -> bool:
    """Whether a chunk ends a choice with a reason that is not one of the known ones (only
    those need a look; a plain loop: this runs for every chunk)."""
    choices = data.get("choices")
    if type(choices) is not list:
        return False
    for c in choices:
        if type(c) is dict:
            reason = c.get("finish_reason")
            if reason is not None and (type(reason) is not str or reason not in _KNOWN_FINISH):
                return True
    return False


def _redact_all(value: Any, redact: Any) -> Any:
    """``value`` (parsed JSON) with every string, keys included, redacted."""
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, dict):
        return {redact(k): _redact_all(v, redact) for k, v in value.items()}
    if isinstance(value, list):
        return [_redact_all(v, redact) for v in value]
    return value


class GuardedStream:
    """An upstream stream whose chunks, identifiers and errors passed the guard."""

    def __init__(self, inner: UpstreamStream, guard: UpstreamGuard, target: Target) -> None:
        self._inner = inner
        self._guard = guard
        self.target = target
        #: The (id, model, fingerprint) of the last chunk, found safe.
        self.last_ok: tuple[Any, Any, Any] = (None, None, None)
        #: The id put in place of an unsafe one.
        self.new_id: str | None = None

    # The attributes fill in while the upstream stream is read: read through, checked.

    @property
    def usage(self) -> Usage | None:
        return self._inner.usage

    @usage.setter
    def usage(self, value: Usage | None) -> None:
        self._inner.usage = value

    @property
    def served_model(self) -> str | None:
        return self._guard.name(self._inner.served_model)

    @served_model.setter
    def served_model(self, value: str | None) -> None:
        self._inner.served_model = value

    @property
    def fingerprint(self) -> str | None:
        return self._guard.name(self._inner.fingerprint)

    @fingerprint.setter
    def fingerprint(self, value: str | None) -> None:
        self._inner.fingerprint = value

    @property
    def upstream_request_id(self) -> str | None:
        return self._guard.ident(self._inner.upstream_request_id)

    @upstream_request_id.setter
    def upstream_request_id(self, value: str | None) -> None:
        self._inner.upstream_request_id = value

    @property
    def rate_headers(self) -> dict[str, str] | None:
        # Read only as numbers and dates by resilience/ratelimit.py; never shown or stored.
        return self._inner.rate_headers

    @rate_headers.setter
    def rate_headers(self, value: dict[str, str] | None) -> None:
        self._inner.rate_headers = value

    def __aiter__(self) -> AsyncIterator[StreamChunk]:
        return self._iterate()

    async def _iterate(self) -> AsyncGenerator[StreamChunk, None]:
        chunks = aiter(self._inner)
        try:
            async for chunk in chunks:
                yield self._guard.chunk(chunk, self)
        except ProviderError as exc:
            self._guard.error(exc)
            raise
        finally:
            close = getattr(chunks, "aclose", None)
            if close is not None:
                await close()

    async def aclose(self) -> None:
        await self._inner.aclose()

    def __getattr__(self, name: str) -> Any:
        # What a particular stream class offers beyond the protocol stays reachable.
        if name == "_inner":  # not set yet: no recursion
            raise AttributeError(name)
        return getattr(self._inner, name)


_T = TypeVar("_T")


def unguarded(adapter: Adapter) -> Adapter:
    """The adapter inside the guard, for a caller that needs its own type (an Anthropic-only
    call); run such a call through :func:`guarded`."""
    return adapter.inner if isinstance(adapter, GuardedAdapter) else adapter


async def guarded(adapter: Adapter, work: Awaitable[_T]) -> _T:
    """Await ``work`` (a call on :func:`unguarded` ``adapter``), its errors through the guard."""
    try:
        return await work
    except ProviderError as exc:
        if isinstance(adapter, GuardedAdapter):
            adapter.guard.error(exc)
        raise


class GuardedAdapter:
    """Any :class:`~daytwo.providers.base.Adapter`, with the guard between it and daytwo."""

    def __init__(self, inner: Adapter, secrets: SecretRegistry) -> None:
        self.inner = inner
        self.guard = UpstreamGuard(secrets)

    async def complete(self, req: LLMRequest, target: Target) -> LLMResponse:
        try:
            resp = await self.inner.complete(req, target)
        except ProviderError as exc:
            self.guard.error(exc)
            raise
        return self.guard.response(resp, target, embeddings=False)

    async def stream(self, req: LLMRequest, target: Target) -> GuardedStream:
        try:
            up = await self.inner.stream(req, target)
        except ProviderError as exc:
            self.guard.error(exc)
            raise
        return GuardedStream(up, self.guard, target)

    async def embed(self, req: LLMRequest, target: Target) -> LLMResponse:
        try:
            resp = await self.inner.embed(req, target)
        except ProviderError as exc:
            self.guard.error(exc)
            raise
        return self.guard.response(resp, target, embeddings=True)

    async def aclose(self) -> None:
        await self.inner.aclose()

    def __getattr__(self, name: str) -> Any:
        # What a particular adapter offers beyond the protocol (the simulator's settings, a
        # door-specific call) stays reachable through the wrapper.
        if name == "inner":  # not set yet: no recursion
            raise AttributeError(name)
        return getattr(self.inner, name)
