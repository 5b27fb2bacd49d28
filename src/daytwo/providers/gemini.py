"""Egress adapter for Google's Gemini API: ``POST {base_url}/{api_version}/models/{model}:``
``generateContent``, ``:streamGenerateContent?alt=sse``, ``:embedContent`` and
``:batchEmbedContents``, the key in the ``x-goog-api-key`` header (never in the URL, where
client errors and access logs would show it).

Requests arrive OpenAI-shaped and answers leave OpenAI-shaped; the translation lives in
:mod:`~daytwo.providers.gemini_wire`, :mod:`~daytwo.providers.gemini_stream` and
:mod:`~daytwo.providers.gemini_embed`.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import aiohttp
import orjson

from daytwo.config.schema import GeminiProviderConfig
from daytwo.core.secrets import SecretRegistry
from daytwo.core.tokens import estimate_input_tokens
from daytwo.core.types import LLMRequest, LLMResponse, StreamChunk, Usage
from daytwo.providers.base import Target
from daytwo.providers.chat_answers import usage_or_estimate
from daytwo.providers.gemini_embed import resource_name, to_gemini_embed, to_openai_embeddings
from daytwo.providers.gemini_stream import StreamTranslator
from daytwo.providers.gemini_wire import (
    error_from_event,
    error_from_gemini,
    to_gemini_request,
    to_openai_completion,
    usage_from_gemini,
)
from daytwo.providers.http import TranslatedStream, UpstreamHTTP, json_headers
from daytwo.providers.openai_wire import client_wants_usage


class GeminiAdapter:
    """Speaks the Gemini API (generativelanguage.googleapis.com) to ``base_url``."""

    def __init__(self, cfg: GeminiProviderConfig, secrets: SecretRegistry) -> None:
        self._cfg = cfg
        self._redact = secrets.redact
        self._root = f"{str(cfg.base_url).rstrip('/')}/{cfg.api_version}/"
        headers = json_headers(secrets, cfg.api_key, "x-goog-api-key")
        self._http = UpstreamHTTP.for_provider(
            cfg, headers, redact=self._redact, on_error=error_from_gemini
        )

    def _url(self, model: str, method: str) -> str:
        return f"{self._root}{resource_name(model)}:{method}"

    async def complete(self, req: LLMRequest, target: Target) -> LLMResponse:
        body = orjson.dumps(to_gemini_request(req.body))
        url = self._url(target.model, "generateContent")
        _, data = await self._http.post_json(url, body, "GenerateContentResponse")
        if "error" in data and "candidates" not in data:
            raise error_from_event(data, self._redact)
        out = to_openai_completion(data, model=target.model)
        usage = usage_or_estimate(req.body, out, usage_from_gemini(data.get("usageMetadata")))
        # The served model is `modelVersion`; Gemini reports no fingerprint (`responseId` names
        # the response, not the system).
        version, rid = data.get("modelVersion"), data.get("responseId")
        return LLMResponse(
            body=out,
            usage=usage,
            served_model=version if isinstance(version, str) and version else None,
            upstream_request_id=rid if isinstance(rid, str) and rid else None,
        )

    async def stream(self, req: LLMRequest, target: Target) -> GeminiStream:
        body = orjson.dumps(to_gemini_request(req.body))
        url = self._url(target.model, "streamGenerateContent") + "?alt=sse"
        resp = await self._http.post_stream(url, body)
        translator = StreamTranslator(
            include_usage=client_wants_usage(req.body), redact=self._redact, model=target.model
        )
        stream = GeminiStream(resp, translator)
        # The first event names the response (its id goes to the ledger) and may be an error:
        # read it here, where a failure can still fail over to another deployment.
        await stream.prime()
        return stream

    async def embed(self, req: LLMRequest, target: Target) -> LLMResponse:
        call = to_gemini_embed(req.body, model=target.model)
        url = self._url(target.model, call.method)
        _, data = await self._http.post_json(url, orjson.dumps(call.body), "embeddings response")
        usage = Usage(input_tokens=estimate_input_tokens(req.body), estimated=True)
        model = target.model.rpartition("/")[2]
        out = to_openai_embeddings(data, call, model=model, input_tokens=usage.input_tokens)
        return LLMResponse(body=out, usage=usage, served_model=model)

    async def aclose(self) -> None:
        await self._http.aclose()


class GeminiStream(TranslatedStream):
    """An open ``alt=sse`` stream, yielded as OpenAI chunks; its first chunk is read by
    :meth:`prime`, before the adapter hands the stream on."""

    def __init__(self, resp: aiohttp.ClientResponse, translator: StreamTranslator) -> None:
        super().__init__(resp, translator)
        self._gemini = translator
        self._chunks = self._iterate()
        self._first: StreamChunk | None = None

    async def prime(self) -> None:
        """Read up to the first chunk (raising what the first event raises)."""
        try:
            self._first = await anext(self._chunks)
        except StopAsyncIteration:  # finish() yields or raises; kept for the type checker
            self._first = None

    def _sync(self) -> None:
        super()._sync()
        self.upstream_request_id = self._gemini.response_id  # named by the first event

    def __aiter__(self) -> AsyncIterator[StreamChunk]:
        return self._relay()

    async def _relay(self) -> AsyncIterator[StreamChunk]:
        if self._first is not None:
            first, self._first = self._first, None
            yield first
        async for chunk in self._chunks:
            yield chunk

    async def aclose(self) -> None:
        await super().aclose()
        await self._chunks.aclose()
