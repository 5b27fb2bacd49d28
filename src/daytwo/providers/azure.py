"""Egress adapter for Azure OpenAI: OpenAI's wire format at Azure's URLs and auth.

``POST {endpoint}/openai/deployments/{deployment}/chat/completions?api-version=...`` (and
``/embeddings``), key in the ``api-key`` header. A deployment's ``model`` in daytwo's config is
the Azure *deployment name*; bodies, streams, usage and errors are OpenAI's, so everything but
the URL and the header is :class:`~daytwo.providers.openai.OpenAIAdapter`'s.

Two Azure habits matter for the ledger: answers name the model actually served
(``gpt-4o-2024-08-06``, whatever the deployment is called), and streams open with a chunk that
carries only ``prompt_filter_results`` (``"model": ""``, ``"choices": []``). That chunk is
relayed as-is (OpenAI SDKs accept it); its empty model is not taken for the served model (the
shared :class:`~daytwo.providers.openai_wire.ChunkStreamState` ignores empty models).
Content filtering passes through untouched: ``finish_reason: "content_filter"`` in answers,
and a filtered prompt's HTTP 400 with ``code: "content_filter"``. ``top_k`` (which only the
Anthropic door sets) is dropped: Azure's OpenAI models have no such parameter.
"""

from __future__ import annotations

import dataclasses
from urllib.parse import quote, urlencode

from daytwo.config.schema import AzureOpenAIProviderConfig
from daytwo.core.secrets import SecretRegistry
from daytwo.core.types import LLMRequest
from daytwo.providers.base import Target
from daytwo.providers.http import json_headers
from daytwo.providers.openai import OpenAIAdapter


class AzureOpenAIAdapter(OpenAIAdapter):
    """Speaks OpenAI Chat Completions and Embeddings to an Azure OpenAI resource."""

    def __init__(self, cfg: AzureOpenAIProviderConfig, secrets: SecretRegistry) -> None:
        self._base = f"{str(cfg.endpoint).rstrip('/')}/openai/deployments"
        self._query = urlencode({"api-version": cfg.api_version})
        headers = json_headers(secrets, cfg.api_key, "api-key")
        self._connect(cfg, secrets, headers, stream_usage=cfg.stream_usage)

    def _url(self, target: Target, path: str) -> str:
        # A deployment name is one path segment whatever it contains.
        return f"{self._base}/{quote(target.model, safe='')}/{path}?{self._query}"

    def _body(self, req: LLMRequest, target: Target, *, stream: bool) -> bytes:
        # `top_k` (Anthropic's sampling knob, carried from /v1/messages) is a parameter Azure's
        # OpenAI models do not have; the `openai` type passes it on, as vLLM and other
        # OpenAI-compatible servers honour it.
        if "top_k" in req.body:
            body = {k: v for k, v in req.body.items() if k != "top_k"}
            req = dataclasses.replace(req, body=body)
        return super()._body(req, target, stream=stream)
