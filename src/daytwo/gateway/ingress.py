"""The seam between client wire formats and the pipeline: one small protocol per door.

An :class:`Ingress` decodes a client's request into the normalized (OpenAI-shaped)
:class:`~daytwo.core.types.LLMRequest`, and encodes what the pipeline produced -- a complete
answer, a stream of chunks, or an error -- back into the client's own format. The pipeline never
knows which door a call came in by, so any ingress reaches any egress.

Adding a client format means one module with an ``Ingress`` and one route in ``app.py``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Protocol

import orjson

from daytwo.core.errors import DaytwoError
from daytwo.core.types import LLMRequest, LLMResponse, StreamChunk
from daytwo.gateway import openai_format as oai


class StreamEncoder(Protocol):
    """Encodes one call's stream. Built per call, so it may keep state (indexes, open blocks).

    ``chunk`` may return ``b""`` for a chunk that produces no client event yet.
    """

    def chunk(self, chunk: StreamChunk) -> bytes: ...

    def end(self) -> bytes:
        """The bytes that close a stream that ended well."""
        ...

    def error(self, exc: DaytwoError) -> bytes:
        """A final error event, sent when the stream fails after its first byte."""
        ...


class Ingress(Protocol):
    """One client wire format."""

    #: Short name, recorded on the call (``openai``, ``anthropic``, ``responses``).
    name: str
    #: The response header that carries the call id where this format's SDKs read a request id
    #: (``completion._request_id`` in openai, ``message._request_id`` in anthropic).
    request_id_header: bytes

    def parse(self, raw: bytes, headers: Mapping[bytes, bytes] | None = None) -> LLMRequest:
        """Decode and check a request body; raise :class:`InvalidRequest` naming the field.
        ``headers``: the request's (lower-case names), for formats that read some."""
        ...

    def response(self, resp: LLMResponse, req: LLMRequest | None = None) -> bytes:
        """The body of a complete answer (``req``: the request it answers, for formats that
        echo the caller's settings)."""
        ...

    def stream(self, req: LLMRequest) -> StreamEncoder:
        """A fresh encoder for one streamed answer."""
        ...

    def error(self, exc: DaytwoError) -> tuple[int, bytes]:
        """The status and body of an error answer."""
        ...


# ------------------------------------------------------------------------------- OpenAI


class _OpenAIStream:
    __slots__ = ()

    def chunk(self, chunk: StreamChunk) -> bytes:
        raw = chunk.raw
        if raw is not None and chunk.wire == "openai":
            return raw
        return b"data: " + orjson.dumps(chunk.data) + b"\n\n"

    def end(self) -> bytes:
        return oai.DONE_EVENT

    def error(self, exc: DaytwoError) -> bytes:
        return oai.error_event(exc)


_OPENAI_STREAM = _OpenAIStream()  # stateless: one shared instance


class OpenAIChatIngress:
    """OpenAI Chat Completions (``POST /v1/chat/completions``): the normalized shape itself,
    so upstream bytes from an OpenAI-compatible egress pass through untouched."""

    name = "openai"
    request_id_header = b"x-request-id"

    def parse(self, raw: bytes, headers: Mapping[bytes, bytes] | None = None) -> LLMRequest:
        return oai.parse_chat(raw)

    def response(self, resp: LLMResponse, req: LLMRequest | None = None) -> bytes:
        return (
            resp.raw if resp.raw is not None and resp.wire == "openai" else orjson.dumps(resp.body)
        )

    def stream(self, req: LLMRequest) -> StreamEncoder:
        return _OPENAI_STREAM

    def error(self, exc: DaytwoError) -> tuple[int, bytes]:
        return exc.status_code(), oai.error_body(exc)


class OpenAIEmbeddingsIngress(OpenAIChatIngress):
    """OpenAI Embeddings (``POST /v1/embeddings``)."""

    def parse(self, raw: bytes, headers: Mapping[bytes, bytes] | None = None) -> LLMRequest:
        return oai.parse_embeddings(raw)


OPENAI_CHAT = OpenAIChatIngress()
OPENAI_EMBEDDINGS = OpenAIEmbeddingsIngress()
