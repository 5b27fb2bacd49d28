"""Egress adapter for Anthropic's Messages API (``POST {base_url}/v1/messages``).

Requests arrive OpenAI-shaped and answers leave OpenAI-shaped; the translation lives in
:mod:`daytwo.providers.anthropic_wire`. Like the OpenAI adapter, one aiohttp session per provider
is created lazily inside the running loop.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import orjson

from daytwo.config.schema import AnthropicProviderConfig
from daytwo.core.errors import (
    InvalidRequest,
    UpstreamProtocolError,
    UpstreamTimeout,
)
from daytwo.core.secrets import SecretRegistry
from daytwo.core.tokens import estimate_input_tokens, estimate_text_tokens
from daytwo.core.types import LLMRequest, LLMResponse, StreamChunk, Usage
from daytwo.providers.anthropic_stream import StreamTranslator
from daytwo.providers.anthropic_wire import (
    error_from_anthropic,
    to_anthropic_request,
    to_openai_completion,
    usage_from_anthropic,
)
from daytwo.providers.base import Target
from daytwo.providers.http import UpstreamHTTP
from daytwo.providers.openai_wire import client_wants_usage, openai_usage, parse_json_object


class AnthropicAdapter:
    """Speaks Anthropic Messages to ``base_url``; no embeddings (Anthropic has none)."""

    def __init__(self, cfg: AnthropicProviderConfig, secrets: SecretRegistry) -> None:
        self._cfg = cfg
        self._redact = secrets.redact
        self._url = f"{str(cfg.base_url).rstrip('/')}/v1/messages"
        headers = {
            "content-type": "application/json",
            "user-agent": "daytwo",
            "anthropic-version": cfg.anthropic_version,
        }
        if cfg.api_key is not None:
            headers["x-api-key"] = secrets.resolve(cfg.api_key)
        self._http = UpstreamHTTP.for_provider(
            cfg, headers, redact=self._redact, on_error=error_from_anthropic
        )

    def _body(self, req: LLMRequest, target: Target, *, stream: bool) -> bytes:
        body = to_anthropic_request(
            req.body,
            model=target.model,
            default_max_tokens=self._cfg.default_max_tokens,
            stream=stream,
        )
        return orjson.dumps(body)

    async def complete(self, req: LLMRequest, target: Target) -> LLMResponse:
        resp = await self._http.post(self._url, self._body(req, target, stream=False))
        raw = await self._http.read(resp)
        msg = parse_json_object(raw, "message")
        body = to_openai_completion(msg)
        usage = usage_from_anthropic(msg.get("usage"))
        if usage is None:
            usage = _estimate_usage(req, body)
            body["usage"] = openai_usage(usage)
        model = msg.get("model")
        return LLMResponse(
            body=body,
            usage=usage,
            served_model=model if isinstance(model, str) else None,
            upstream_request_id=resp.headers.get("request-id"),
        )

    async def stream(self, req: LLMRequest, target: Target) -> AnthropicStream:
        resp = await self._http.post_stream(self._url, self._body(req, target, stream=True))
        translator = StreamTranslator(
            include_usage=client_wants_usage(req.body), redact=self._redact
        )
        return AnthropicStream(resp, translator)

    async def embed(self, req: LLMRequest, target: Target) -> LLMResponse:
        raise InvalidRequest(
            "Embeddings are not supported by this deployment (Anthropic has no embeddings API).",
            param="model",
        )

    async def aclose(self) -> None:
        await self._http.aclose()


class AnthropicStream:
    """An open Messages SSE stream, yielded as OpenAI chunks. ``usage`` is what the upstream
    reported so far, kept when the stream breaks."""

    def __init__(self, resp: aiohttp.ClientResponse, translator: StreamTranslator) -> None:
        self._resp = resp
        self._tr = translator
        self.upstream_request_id: str | None = resp.headers.get("request-id")
        self.usage: Usage | None = None
        self.served_model: str | None = None

    def _sync(self) -> None:
        # Before every yield: the pipeline reads usage when the client goes away mid-stream.
        self.usage = self._tr.usage_so_far()
        self.served_model = self._tr.served_model

    def __aiter__(self) -> AsyncIterator[StreamChunk]:
        return self._iterate()

    async def _iterate(self) -> AsyncIterator[StreamChunk]:
        # Raw reads, not aiohttp's line iterator: the decoder splits lines itself (aiohttp's
        # raises LineTooLong, not a ClientError, past 512 KiB) and is fuzzed on any split.
        tr = self._tr
        try:
            async for data in self._resp.content.iter_any():
                for chunk in tr.feed_bytes(data):
                    self._sync()
                    yield StreamChunk(data=chunk)
                if tr.done:
                    return
            for chunk in tr.end():
                self._sync()
                yield StreamChunk(data=chunk)
        except TimeoutError as exc:
            raise UpstreamTimeout("upstream stream timed out") from exc
        except aiohttp.ClientError as exc:
            raise UpstreamProtocolError(f"upstream stream broke: {exc}") from exc
        finally:
            self._sync()
            self._resp.release()

    async def aclose(self) -> None:
        self._resp.release()


def _estimate_usage(req: LLMRequest, body: dict[str, Any]) -> Usage:
    msg = body["choices"][0]["message"]
    out = estimate_text_tokens(msg.get("content") or "")
    for call in msg.get("tool_calls") or ():
        out += estimate_text_tokens(call["function"]["arguments"])
    return Usage(input_tokens=estimate_input_tokens(req.body), output_tokens=out, estimated=True)
