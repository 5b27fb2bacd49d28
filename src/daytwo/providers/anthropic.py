"""Egress adapter for Anthropic's Messages API (``POST {base_url}/v1/messages``, and
``/v1/messages/count_tokens`` for the Anthropic door's token counts).

Requests arrive OpenAI-shaped and answers leave OpenAI-shaped; the translation lives in
:mod:`daytwo.providers.anthropic_wire`. A call that came in by the Anthropic door is relayed
instead (:mod:`daytwo.providers.anthropic_native`). Like the OpenAI adapter, one aiohttp session
per provider is created lazily inside the running loop.
"""

from __future__ import annotations

import aiohttp
import orjson

from daytwo.config.schema import AnthropicProviderConfig
from daytwo.core.errors import InvalidRequest, UpstreamProtocolError
from daytwo.core.secrets import SecretRegistry
from daytwo.core.types import LLMRequest, LLMResponse
from daytwo.providers.anthropic_native import (
    WIRE,
    NativeStream,
    beta_headers,
    native_body,
    native_of,
)
from daytwo.providers.anthropic_stream import StreamTranslator
from daytwo.providers.anthropic_wire import (
    error_from_anthropic,
    to_anthropic_request,
    to_openai_completion,
    usage_from_anthropic,
)
from daytwo.providers.base import Target
from daytwo.providers.chat_answers import usage_or_estimate
from daytwo.providers.http import TranslatedStream, UpstreamHTTP, json_headers, quota_headers
from daytwo.providers.openai_wire import client_wants_usage, parse_json_object, token_count


class AnthropicAdapter:
    """Speaks Anthropic Messages to ``base_url``; no embeddings (Anthropic has none)."""

    def __init__(self, cfg: AnthropicProviderConfig, secrets: SecretRegistry) -> None:
        self._cfg = cfg
        self._redact = secrets.redact
        self._url = f"{str(cfg.base_url).rstrip('/')}/v1/messages"
        self._count_url = self._url + "/count_tokens"
        fixed = {"anthropic-version": cfg.anthropic_version}
        headers = json_headers(secrets, cfg.api_key, "x-api-key", fixed=fixed)
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
        native = native_of(req)
        if native is not None:
            data = native_body(native, req, target.model, stream=False)
            headers = beta_headers(self._cfg.beta_headers, native.beta)
            resp = await self._http.post(self._url, data, headers)
            raw = await self._http.read(resp)
            msg = parse_json_object(raw, "message")
        else:
            data, raw = self._body(req, target, stream=False), None
            resp, msg = await self._http.post_json(self._url, data, "message")
        body = to_openai_completion(msg)
        usage = usage_or_estimate(req.body, body, usage_from_anthropic(msg.get("usage")))
        model = msg.get("model")
        # Messages answers name the model but carry no fingerprint of the system serving it.
        return LLMResponse(
            body=body,
            usage=usage,
            served_model=model if isinstance(model, str) else None,
            upstream_request_id=resp.headers.get("request-id"),
            rate_headers=quota_headers(resp.headers),
            raw=raw,
            wire=WIRE,
        )

    async def stream(self, req: LLMRequest, target: Target) -> AnthropicStream | NativeStream:
        include_usage = client_wants_usage(req.body)
        native = native_of(req)
        if native is not None:
            data = native_body(native, req, target.model, stream=True)
            headers = beta_headers(self._cfg.beta_headers, native.beta)
            resp = await self._http.post_stream(self._url, data, headers=headers)
            return NativeStream(resp, include_usage=include_usage, redact=self._redact)
        resp = await self._http.post_stream(self._url, self._body(req, target, stream=True))
        translator = StreamTranslator(include_usage=include_usage, redact=self._redact)
        return AnthropicStream(resp, translator)

    async def count_tokens(self, req: LLMRequest, target: Target) -> int:
        """The upstream's own count of a Messages request's input (``native`` required: only
        the Anthropic door counts tokens)."""
        native = native_of(req)
        if native is None:
            raise InvalidRequest("token counting needs an Anthropic Messages request")
        body = dict(native.body)
        body["model"] = target.model
        headers = beta_headers(self._cfg.beta_headers, native.beta)
        resp = await self._http.post(self._count_url, orjson.dumps(body), headers)
        answer = parse_json_object(await self._http.read(resp), "token count")
        count = token_count(answer.get("input_tokens"))
        if count is None:
            raise UpstreamProtocolError("upstream token count carries no input_tokens")
        return count

    async def embed(self, req: LLMRequest, target: Target) -> LLMResponse:
        raise InvalidRequest(
            "Embeddings are not supported by this deployment (Anthropic has no embeddings API).",
            param="model",
        )

    async def aclose(self) -> None:
        await self._http.aclose()


class AnthropicStream(TranslatedStream):
    """An open Messages SSE stream, yielded as OpenAI chunks."""

    def __init__(self, resp: aiohttp.ClientResponse, translator: StreamTranslator) -> None:
        super().__init__(resp, translator, upstream_request_id=resp.headers.get("request-id"))
