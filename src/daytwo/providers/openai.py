"""Egress adapter for OpenAI and every OpenAI-compatible server (vLLM, Ollama, Groq, Together,
Mistral, the daytwo simulator served over HTTP). The HTTP seam is :class:`UpstreamHTTP`; tests
hand in a real loopback server's URL."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import orjson

from daytwo.config.schema import OpenAIProviderConfig
from daytwo.core.errors import (
    UpstreamProtocolError,
    UpstreamTimeout,
)
from daytwo.core.secrets import SecretRegistry
from daytwo.core.tokens import estimate_input_tokens, estimate_text_tokens
from daytwo.core.types import LLMRequest, LLMResponse, StreamChunk, Usage
from daytwo.providers.base import Target
from daytwo.providers.http import UpstreamHTTP
from daytwo.providers.openai_wire import (
    ChunkStreamState,
    SSEDecoder,
    client_wants_usage,
    error_from_response,
    parse_json_object,
    usage_from_openai,
)

_DONE = b"[DONE]"


class OpenAIAdapter:
    """Speaks OpenAI Chat Completions and Embeddings to ``base_url``."""

    def __init__(self, cfg: OpenAIProviderConfig, secrets: SecretRegistry) -> None:
        self._cfg = cfg
        self._redact = secrets.redact
        base = str(cfg.base_url).rstrip("/")
        self._chat_url = f"{base}/chat/completions"
        self._embed_url = f"{base}/embeddings"
        headers = {"content-type": "application/json", "user-agent": "daytwo"}
        if cfg.api_key is not None:
            headers["authorization"] = f"Bearer {secrets.resolve(cfg.api_key)}"
        if cfg.organization:
            headers["openai-organization"] = cfg.organization
        self._http = UpstreamHTTP.for_provider(
            cfg, headers, redact=self._redact, on_error=error_from_response
        )

    def _body(self, req: LLMRequest, target: Target, *, stream: bool) -> bytes:
        body = dict(req.body)
        body["model"] = target.model
        if stream:
            body["stream"] = True
            if self._cfg.stream_usage:
                opts = dict(body.get("stream_options") or {})
                opts["include_usage"] = True
                body["stream_options"] = opts
        return orjson.dumps(body)

    async def complete(self, req: LLMRequest, target: Target) -> LLMResponse:
        resp = await self._http.post(self._chat_url, self._body(req, target, stream=False))
        raw = await self._http.read(resp)
        data = parse_json_object(raw, "completion")
        usage = usage_from_openai(data.get("usage"))
        if usage is None:
            usage = _estimate_usage(req, data)
        return _response(resp, raw, data, usage)

    async def stream(self, req: LLMRequest, target: Target) -> OpenAIStream:
        resp = await self._http.post_stream(self._chat_url, self._body(req, target, stream=True))
        return OpenAIStream(resp, drop_usage_chunk=not client_wants_usage(req.body))

    async def embed(self, req: LLMRequest, target: Target) -> LLMResponse:
        resp = await self._http.post(self._embed_url, self._body(req, target, stream=False))
        raw = await self._http.read(resp)
        data = parse_json_object(raw, "embeddings response")
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

    def __init__(self, resp: aiohttp.ClientResponse, *, drop_usage_chunk: bool) -> None:
        super().__init__(
            drop_usage_chunk=drop_usage_chunk,
            upstream_request_id=resp.headers.get("x-request-id"),
        )
        self._resp = resp

    def __aiter__(self) -> AsyncIterator[StreamChunk]:
        return self._iterate()

    async def _iterate(self) -> AsyncIterator[StreamChunk]:
        decoder = SSEDecoder()
        done = False
        try:
            async for line in self._resp.content:
                payload = decoder.feed_line(line)
                if payload is None:
                    continue
                if payload == _DONE:
                    done = True
                    break
                chunk = self._decode(payload)
                if chunk is not None:
                    yield chunk
            if not done:
                # A final event without its blank line still counts; a missing [DONE] is a cut.
                if decoder.pending():
                    payload = decoder.feed_line(b"")
                    if payload == _DONE:
                        done = True
                    elif payload is not None:
                        chunk = self._decode(payload)
                        if chunk is not None:
                            yield chunk
                if not done:
                    raise UpstreamProtocolError("upstream stream ended before [DONE]")
        except TimeoutError as exc:
            raise UpstreamTimeout("upstream stream timed out") from exc
        except aiohttp.ClientError as exc:
            raise UpstreamProtocolError(f"upstream stream broke: {exc}") from exc
        finally:
            self._resp.release()

    def _decode(self, payload: bytes) -> StreamChunk | None:
        data = parse_json_object(payload, "stream event")
        if "error" in data and "choices" not in data:
            err = data["error"]
            msg = err.get("message") if isinstance(err, dict) else str(err)
            raise UpstreamProtocolError(f"upstream stream error: {msg}")
        if not self._observe(data):
            return None
        return StreamChunk(data=data, raw=b"data: " + payload + b"\n\n")

    async def aclose(self) -> None:
        self._resp.release()


def _response(
    resp: aiohttp.ClientResponse, raw: bytes, data: dict[str, Any], usage: Usage
) -> LLMResponse:
    model = data.get("model")
    return LLMResponse(
        body=data,
        usage=usage,
        served_model=model if isinstance(model, str) else None,
        upstream_request_id=resp.headers.get("x-request-id"),
        raw=raw,
    )


def _estimate_usage(req: LLMRequest, data: dict[str, Any]) -> Usage:
    out = 0
    for choice in data.get("choices") or ():
        msg = choice.get("message") if isinstance(choice, dict) else None
        if isinstance(msg, dict):
            if isinstance(msg.get("content"), str):
                out += estimate_text_tokens(msg["content"])
            for call in msg.get("tool_calls") or ():
                fn = call.get("function", {}) if isinstance(call, dict) else {}
                out += estimate_text_tokens(str(fn.get("arguments", "")))
    return Usage(input_tokens=estimate_input_tokens(req.body), output_tokens=out, estimated=True)
