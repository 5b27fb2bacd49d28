"""The Azure OpenAI egress adapter against the simulator's Azure door over real loopback HTTP:
Azure URLs and ``api-key``, the served model recorded, content filtering passed through."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import orjson
import pytest
from tests.providers.adapter_harness import (
    USER,
    chat,
    sim_root_fixture,
    status_error,
    streamed,
    with_adapter,
)

from daytwo.config.schema import AzureOpenAIProviderConfig, SimSettings
from daytwo.core.errors import UpstreamStatusError
from daytwo.core.secrets import SecretRegistry
from daytwo.core.types import LLMRequest
from daytwo.providers.azure import AzureOpenAIAdapter
from daytwo.providers.base import Target
from daytwo.providers.sim.azure_format import CONTENT_FILTER_TRIGGER

pytestmark = pytest.mark.integration

T = TypeVar("T")
KEY = "azure-test-key-0123456789abcdef"
DEPLOYMENT = Target(provider="azure", model="prod-gpt-4o-mini", deployment="azure/prod")
sim_root = sim_root_fixture(SimSettings(seed=21), require_key=KEY)


@pytest.fixture(autouse=True)
def azure_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DAYTWO_TEST_AZURE_KEY", KEY)


def call(root: str, fn: Callable[[AzureOpenAIAdapter], Awaitable[T]], **extra: Any) -> T:
    cfg = AzureOpenAIProviderConfig(
        type="azure_openai", endpoint=root, api_key="env:DAYTWO_TEST_AZURE_KEY", **extra
    )
    return with_adapter(lambda: AzureOpenAIAdapter(cfg, SecretRegistry()), fn)


def test_completion_records_the_model_azure_served(sim_root: str) -> None:
    resp = call(sim_root, lambda a: a.complete(chat({"messages": USER}), DEPLOYMENT))
    assert resp.served_model == "gpt-4o-mini-2024-07-18"  # not the deployment's name
    assert resp.body["choices"][0]["content_filter_results"]["violence"]["filtered"] is False
    assert resp.usage.output_tokens == resp.body["usage"]["completion_tokens"] > 0
    assert resp.upstream_request_id and not resp.usage.estimated


def test_stream_skips_the_prompt_filter_chunks_empty_model(sim_root: str) -> None:
    s, chunks = streamed(call, sim_root, DEPLOYMENT, {"messages": USER})
    assert chunks[0].data["choices"] == [] and chunks[0].data["model"] == ""  # relayed as-is
    assert s.served_model == "gpt-4o-mini-2024-07-18"
    assert s.usage is not None and s.usage.output_tokens > 0  # asked for (stream_usage)
    assert all(c.data.get("usage") is None for c in chunks)  # ...but hidden from this client


def test_embeddings(sim_root: str) -> None:
    target = Target(provider="azure", model="text-embedding-3-small", deployment="e")
    body = {"input": ["a", "b"]}
    resp = call(sim_root, lambda a: a.embed(LLMRequest("embeddings", "e", body), target))
    assert len(resp.body["data"]) == 2 and resp.usage.input_tokens > 0
    assert resp.served_model == "text-embedding-3-small"


def test_deployment_names_are_one_path_segment(sim_root: str) -> None:
    odd = Target(provider="azure", model="gpt-4o#blue?x", deployment="d")
    # encoded, `#` and `?` stay in the deployment name instead of cutting the URL short
    resp = call(sim_root, lambda a: a.complete(chat({"messages": USER}), odd))
    assert resp.served_model == "gpt-4o-2024-11-20"


def test_filtered_prompt_passes_through_as_a_400(sim_root: str) -> None:
    body = {"messages": [{"role": "user", "content": f"hi {CONTENT_FILTER_TRIGGER}"}]}
    with pytest.raises(UpstreamStatusError) as info:
        call(sim_root, lambda a: a.complete(chat(body), DEPLOYMENT))
    err = info.value
    assert err.status_code() == 400 and not err.is_retryable
    assert err.code == "content_filter" and err.param == "prompt"


def test_wrong_key_is_a_401_without_the_key(monkeypatch: pytest.MonkeyPatch, sim_root: str) -> None:
    monkeypatch.setenv("DAYTWO_TEST_AZURE_KEY", "not-the-key-at-all")
    with pytest.raises(UpstreamStatusError) as info:
        call(sim_root, lambda a: a.complete(chat({"messages": USER}), DEPLOYMENT))
    assert info.value.status_code() == 401 and "not-the-key" not in info.value.message


def test_429_keeps_retry_after_and_is_retryable() -> None:
    err = status_error(
        call,
        lambda a: a.complete(chat({"messages": USER}), DEPLOYMENT),
        rate_429=1.0,
        retry_after_s=3,
    )
    assert err.status_code() == 429 and err.is_retryable
    assert err.headers == {"retry-after": "3", "retry-after-ms": "3000"}


def test_api_version_goes_in_the_query(sim_root: str) -> None:
    # The sim answers 404 without api-version; an explicit (old) version still reaches it.
    resp = call(
        sim_root,
        lambda a: a.complete(chat({"messages": USER}), DEPLOYMENT),
        api_version="2024-02-01",
    )
    assert resp.body["object"] == "chat.completion"


def test_top_k_is_not_sent_to_azure() -> None:
    # The Anthropic door carries Anthropic's top_k; Azure's OpenAI models have no such parameter.
    cfg = AzureOpenAIProviderConfig(
        type="azure_openai", endpoint="https://example.openai.azure.com"
    )
    adapter = AzureOpenAIAdapter(cfg, SecretRegistry())
    req = chat({"messages": USER, "top_k": 40, "top_p": 0.5})
    sent = orjson.loads(adapter._body(req, DEPLOYMENT, stream=False))
    assert sent == {"messages": USER, "top_p": 0.5, "model": "prod-gpt-4o-mini"}
    assert req.body["top_k"] == 40  # the request itself is left as it was (failover reuses it)
