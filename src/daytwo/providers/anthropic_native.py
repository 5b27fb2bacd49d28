"""Anthropic in, Anthropic out: the Messages request relayed nearly as-is, the answer relayed
untranslated.

When a call came in by the Anthropic door (it carries a :class:`~daytwo.core.types.NativeRequest`)
and goes to an Anthropic upstream, translating it to Chat Completions and back would lose what
Chat Completions cannot say -- ``cache_control`` breakpoints, ``thinking`` and its signed blocks,
``output_config``, ``top_k`` -- and cost two re-encodings. Instead:

* the request is the client's body with only ``model`` (the deployment's), ``max_tokens`` (the
  normalized body's: a deployment's ``params`` or spend control may have lowered it) and
  ``stream`` set, plus the ``anthropic-beta`` flags the provider's ``beta_headers`` allow;
* a complete answer's bytes go back to the client as they came (``LLMResponse.wire``); the
  pipeline still gets the translated ``chat.completion`` and exact usage for the ledger;
* a stream is relayed event by event (each event's ``data`` bytes untouched, re-framed with its
  ``event:`` line), while the same :class:`StreamTranslator` reads usage and finish reasons.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import aiohttp
import orjson

from daytwo.core.errors import UpstreamProtocolError
from daytwo.core.types import LLMRequest, NativeRequest, StreamChunk
from daytwo.providers.anthropic_stream import StreamTranslator
from daytwo.providers.http import UpstreamStream
from daytwo.providers.openai_wire import SSEDecoder, parse_json_object

WIRE = "anthropic"


def native_of(req: LLMRequest) -> NativeRequest | None:
    """The client's Anthropic body when the call came in by the Anthropic door."""
    native = req.native
    return native if native is not None and native.wire == WIRE else None


def native_body(native: NativeRequest, req: LLMRequest, model: str, *, stream: bool) -> bytes:
    """The client's body for ``model``: its output cap from the normalized body (which
    adjustments and spend control may have lowered), ``stream`` as asked."""
    body = dict(native.body)
    body["model"] = model
    limit = req.body.get("max_tokens")
    if isinstance(limit, int) and not isinstance(limit, bool):
        body["max_tokens"] = limit
    if stream:
        body["stream"] = True
    else:
        body.pop("stream", None)
    return orjson.dumps(body)


def beta_headers(allowed: tuple[str, ...], asked: tuple[str, ...]) -> dict[str, str] | None:
    """The ``anthropic-beta`` header for the flags ``allowed`` lets through (``"*"``: all)."""
    if not asked or not allowed:
        return None
    passed = asked if "*" in allowed else tuple(flag for flag in asked if flag in allowed)
    return {"anthropic-beta": ",".join(passed)} if passed else None


class NativeStream(UpstreamStream):
    """An open Messages stream relayed event by event: each :class:`StreamChunk` carries one
    upstream event's bytes (``wire="anthropic"``) and the Chat Completions chunk it translates
    to (``{}`` for events with none: ``ping``, ``content_block_stop``, thinking deltas); an
    event that translates to several chunks carries its bytes on the first only."""

    def __init__(
        self, resp: aiohttp.ClientResponse, *, include_usage: bool, redact: Callable[[str], str]
    ) -> None:
        self._tr = StreamTranslator(include_usage=include_usage, redact=redact)
        self._sse = SSEDecoder()
        super().__init__(resp, self._tr, upstream_request_id=resp.headers.get("request-id"))

    def _events(self, payloads: list[bytes]) -> list[StreamChunk]:
        out: list[StreamChunk] = []
        for payload in payloads:
            if self._tr.done:
                break
            event = parse_json_object(payload, "stream event")
            kind = event.get("type")
            frame = b"event: " + str(kind).encode() + b"\ndata: " + payload + b"\n\n"
            chunks = self._tr.feed(event)
            if not chunks:
                out.append(StreamChunk(data={}, raw=frame, wire=WIRE))
                continue
            out.append(StreamChunk(data=chunks[0], raw=frame, wire=WIRE))
            out.extend(StreamChunk(data=more, raw=b"", wire=WIRE) for more in chunks[1:])
        return out

    def _from_bytes(self, data: bytes) -> list[StreamChunk]:
        return self._events(self._sse.feed(data))

    def _at_end(self) -> Iterator[StreamChunk]:
        last = self._sse.end()
        yield from self._events([last] if last is not None else [])
        if not self._tr.done:
            raise UpstreamProtocolError("upstream stream ended before message_stop")
