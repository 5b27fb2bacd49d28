"""Egress adapter for OpenAI and every OpenAI-compatible server (vLLM, Ollama, Groq, Together,
Mistral, the daytwo simulator served over HTTP). The HTTP seam is :class:`UpstreamHTTP`; tests
hand in a real loopback server's URL."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Any

import aiohttp
import orjson

from daytwo.config.schema import OpenAIProviderConfig
from daytwo.core.secrets import SecretRegistry
from daytwo.core.tokens import estimate_input_tokens
from daytwo.core.types import LLMRequest, LLMResponse, StreamChunk, Usage
from daytwo.providers.base import Target
from daytwo.providers.chat_answers import estimate_usage
from daytwo.providers.http import (
    ConnectionSettings,
    UpstreamHTTP,
    json_headers,
    quota_headers,
    reading,
)
from daytwo.providers.openai_wire import (
    ChunkStreamState,
    client_wants_usage,
    error_from_response,
    parse_completion,
    parse_embeddings,
    served_by,
    usage_from_openai,
)


class OpenAIAdapter:
    """Speaks OpenAI Chat Completions and Embeddings to ``base_url``."""

    def __init__(self, cfg: OpenAIProviderConfig, secrets: SecretRegistry) -> None:
        self._base = str(cfg.base_url).rstrip("/")
        fixed = {"openai-organization": cfg.organization} if cfg.organization else None
        headers = json_headers(secrets, cfg.api_key, "authorization", scheme="Bearer ", fixed=fixed)
        self._connect(cfg, secrets, headers, stream_usage=cfg.stream_usage)

    def _connect(
        self,
        cfg: ConnectionSettings,
        secrets: SecretRegistry,
        headers: dict[str, str],
        *,
        stream_usage: bool,
    ) -> None:
        """The state every OpenAI-wire adapter shares (subclasses with other URLs and auth
        headers, such as Azure's, call this instead of ``__init__``)."""
        self._stream_usage = stream_usage
        self._redact = secrets.redact
        self._http = UpstreamHTTP.for_provider(
            cfg, headers, redact=self._redact, on_error=error_from_response
        )

    def _url(self, target: Target, path: str) -> str:
        """Where ``path`` (``chat/completions`` or ``embeddings``) is served for ``target``."""
        return f"{self._base}/{path}"

    def _open_stream(self, resp: aiohttp.ClientResponse, req: LLMRequest) -> OpenAIStream:
        return OpenAIStream(
            resp, drop_usage_chunk=not client_wants_usage(req.body), redact=self._redact
        )

    def _body(self, req: LLMRequest, target: Target, *, stream: bool) -> bytes:
        body = dict(req.body)
        body["model"] = target.model
        if stream:
            body["stream"] = True
            if self._stream_usage:
                opts = dict(body.get("stream_options") or {})
                opts["include_usage"] = True
                body["stream_options"] = opts
        return orjson.dumps(body)

    async def complete(self, req: LLMRequest, target: Target) -> LLMResponse:
        url = self._url(target, "chat/completions")
        resp = await self._http.post(url, self._body(req, target, stream=False))
        raw = await self._http.read(resp)
        data = parse_completion(raw)
        usage = usage_from_openai(data.get("usage"))
        if usage is None:  # the answer is relayed as it came: the estimate stays out of it
            usage = estimate_usage(req.body, data)
        return _response(resp, raw, data, usage)

    async def stream(self, req: LLMRequest, target: Target) -> OpenAIStream:
        url = self._url(target, "chat/completions")
        resp = await self._http.post_stream(url, self._body(req, target, stream=True))
        return self._open_stream(resp, req)

    async def embed(self, req: LLMRequest, target: Target) -> LLMResponse:
        url = self._url(target, "embeddings")
        resp = await self._http.post(url, self._body(req, target, stream=False))
        raw = await self._http.read(resp)
        data = parse_embeddings(raw)
        usage = usage_from_openai(
            {"completion_tokens": 0, **data["usage"]}
            if isinstance(data.get("usage"), dict)
            else None
        )
        if usage is None:
            usage = Usage(input_tokens=estimate_input_tokens(req.body), estimated=True)
        return _response(resp, raw, data, usage)

    async def aclose(self) -> None:
        await self._http.aclose()


class OpenAIStream(ChunkStreamState):
    """An open SSE stream of ``chat.completion.chunk`` events."""

    def __init__(
        self,
        resp: aiohttp.ClientResponse,
        *,
        drop_usage_chunk: bool,
        redact: Callable[[str], str],
    ) -> None:
        super().__init__(
            drop_usage_chunk=drop_usage_chunk,
            upstream_request_id=resp.headers.get("x-request-id"),
            redact=redact,
        )
        self._resp = resp
        self.rate_headers = quota_headers(resp.headers)

    def __aiter__(self) -> AsyncIterator[StreamChunk]:
        return self._iterate()

    async def _iterate(self) -> AsyncIterator[StreamChunk]:
        # Raw reads, not aiohttp's line iterator: the decoder splits lines itself (aiohttp's
        # raises LineTooLong, not a ClientError, past 512 KiB) and is fuzzed on any split.
        with reading(self._resp) as body:
            async for data in body.iter_any():
                for chunk in self.feed(data):
                    yield chunk
                if self.done:
                    return
            for chunk in self.end():
                yield chunk

    async def aclose(self) -> None:
        self._resp.release()


def _response(
    resp: aiohttp.ClientResponse, raw: bytes, data: dict[str, Any], usage: Usage
) -> LLMResponse:
    model, fingerprint = served_by(data)
    return LLMResponse(
        body=data,
        usage=usage,
        served_model=model,
        fingerprint=fingerprint,
        upstream_request_id=resp.headers.get("x-request-id"),
        raw=raw,
        rate_headers=quota_headers(resp.headers),
    )
