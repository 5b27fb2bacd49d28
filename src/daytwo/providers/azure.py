"""Egress adapter for Azure OpenAI: OpenAI's wire format at Azure's URLs and auth.

``POST {endpoint}/openai/deployments/{deployment}/chat/completions?api-version=...`` (and
``/embeddings``), key in the ``api-key`` header. A deployment's ``model`` in daytwo's config is
the Azure *deployment name*; bodies, streams, usage and errors are OpenAI's, so everything but
the URL and the header is :class:`~daytwo.providers.openai.OpenAIAdapter`'s.

Two Azure habits matter for the ledger: answers name the model actually served
(``gpt-4o-2024-08-06``, whatever the deployment is called), and streams open with a chunk that
carries only ``prompt_filter_results`` (``"model": ""``, ``"choices": []``). That chunk is
relayed as-is (OpenAI SDKs accept it) but its empty model is not taken for the served model.
Content filtering passes through untouched: ``finish_reason: "content_filter"`` in answers, and
a filtered prompt's HTTP 400 with ``code: "content_filter"``.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote, urlencode

import aiohttp

from daytwo.config.schema import AzureOpenAIProviderConfig
from daytwo.core.secrets import SecretRegistry
from daytwo.core.types import LLMRequest
from daytwo.providers.base import Target
from daytwo.providers.openai import OpenAIAdapter, OpenAIStream
from daytwo.providers.openai_wire import client_wants_usage


class AzureOpenAIAdapter(OpenAIAdapter):
    """Speaks OpenAI Chat Completions and Embeddings to an Azure OpenAI resource."""

    def __init__(self, cfg: AzureOpenAIProviderConfig, secrets: SecretRegistry) -> None:
        self._base = f"{str(cfg.endpoint).rstrip('/')}/openai/deployments"
        self._query = urlencode({"api-version": cfg.api_version})
        headers = {"content-type": "application/json", "user-agent": "daytwo"}
        if cfg.api_key is not None:
            headers["api-key"] = secrets.resolve(cfg.api_key)
        self._connect(cfg, secrets, headers, stream_usage=cfg.stream_usage)

    def _url(self, target: Target, path: str) -> str:
        # A deployment name is one path segment whatever it contains.
        return f"{self._base}/{quote(target.model, safe='')}/{path}?{self._query}"

    def _open_stream(self, resp: aiohttp.ClientResponse, req: LLMRequest) -> OpenAIStream:
        return AzureStream(
            resp, drop_usage_chunk=not client_wants_usage(req.body), redact=self._redact
        )


class AzureStream(OpenAIStream):
    """An Azure stream: the leading prompt-filter chunk's ``"model": ""`` names no model."""

    def _observe(self, data: dict[str, Any]) -> bool:
        keep = super()._observe(data)
        if not self.served_model:
            self.served_model = None
        return keep
