"""The Anthropic egress adapter against the simulator's ``/v1/messages`` over real loopback HTTP,
and one call end to end: OpenAI SDK → daytwo → (type: anthropic) → simulator."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import openai
import orjson
import pytest
from tests.gateway.harness import running_gateway

from daytwo.config.schema import AnthropicProviderConfig, SimFaults, SimSettings
from daytwo.core.errors import InvalidRequest, UpstreamProtocolError, UpstreamStatusError
from daytwo.core.secrets import SecretRegistry
from daytwo.core.types import LLMRequest, StreamChunk
from daytwo.providers.anthropic import AnthropicAdapter, AnthropicStream
from daytwo.providers.base import Target
from daytwo.providers.sim.run import running_sim_server

pytestmark = pytest.mark.integration

T = TypeVar("T")
TARGET = Target(provider="claude", model="claude-sonnet-4-5", deployment="claude/sonnet")
USER = [{"role": "user", "content": "Say something."}]
TOOLS = [
    {
        "type": "function",
        "function": {
            "name": "get_weather",
            "description": "Weather for a city",
            "parameters": {
                "type": "object",
                "properties": {"city": {"type": "string"}, "days": {"type": "integer"}},
                "required": ["city", "days"],
            },
        },
    }
]


@pytest.fixture(scope="module")
def sim_root() -> Iterator[str]:
    with running_sim_server(SimSettings(seed=5)) as url:
        yield url.removesuffix("/v1")


def call(root: str, fn: Callable[[AnthropicAdapter], Awaitable[T]]) -> T:
    async def run() -> T:
        cfg = AnthropicProviderConfig(type="anthropic", base_url=root)
        adapter = AnthropicAdapter(cfg, SecretRegistry())
        try:
            return await fn(adapter)
        finally:
            await adapter.aclose()

    return asyncio.run(run())


def chat(body: dict[str, Any], stream: bool = False) -> LLMRequest:
    return LLMRequest(operation="chat", model="alias", body=body, stream=stream)


async def drain(stream: AnthropicStream) -> list[StreamChunk]:
    return [chunk async for chunk in stream]


def test_text_completion(sim_root: str) -> None:
    resp = call(sim_root, lambda a: a.complete(chat({"messages": USER}), TARGET))
    assert resp.body["object"] == "chat.completion"
    choice = resp.body["choices"][0]
    assert choice["message"]["content"] and choice["finish_reason"] == "stop"
    assert resp.served_model == "claude-sonnet-4-5"
    assert resp.upstream_request_id and resp.upstream_request_id.startswith("req_")
    assert resp.usage.output_tokens == resp.body["usage"]["completion_tokens"] > 0
    assert resp.usage.input_tokens > 0 and not resp.usage.estimated


def test_stream_reassembles_and_usage_is_exact(sim_root: str) -> None:
    async def run(a: AnthropicAdapter) -> tuple[AnthropicStream, list[StreamChunk]]:
        body = {"messages": USER, "stream_options": {"include_usage": True}}
        s = await a.stream(chat(body, stream=True), TARGET)
        return s, await drain(s)

    s, chunks = call(sim_root, run)
    deltas = [c.data["choices"][0]["delta"] for c in chunks if c.data["choices"]]
    assert deltas[0] == {"role": "assistant", "content": ""}
    pieces = [d["content"] for d in deltas[1:] if d.get("content")]
    assert s.usage is not None and s.usage.output_tokens == len(pieces)  # one token per piece
    assert (s.usage.cached_input_tokens, s.usage.cache_write_tokens) == (0, 0)
    finishes = [c.data["choices"][0]["finish_reason"] for c in chunks if c.data["choices"]]
    assert [f for f in finishes if f] == ["stop"]
    usage_chunk = chunks[-1].data
    assert usage_chunk["choices"] == [] and usage_chunk["usage"]["completion_tokens"] == len(pieces)
    assert usage_chunk["usage"]["prompt_tokens"] == s.usage.input_tokens
    assert s.served_model == "claude-sonnet-4-5" and s.upstream_request_id


def test_tool_use_not_streamed(sim_root: str) -> None:
    body = {"messages": USER, "tools": TOOLS, "tool_choice": "required"}
    resp = call(sim_root, lambda a: a.complete(chat(body), TARGET))
    choice = resp.body["choices"][0]
    assert choice["finish_reason"] == "tool_calls" and choice["message"]["content"] is None
    (tc,) = choice["message"]["tool_calls"]
    assert tc["id"].startswith("toolu_") and tc["function"]["name"] == "get_weather"
    assert set(orjson.loads(tc["function"]["arguments"])) == {"city", "days"}


def test_tool_use_streamed(sim_root: str) -> None:
    body = {
        "messages": USER,
        "tools": TOOLS,
        "tool_choice": {"type": "function", "function": {"name": "get_weather"}},
    }

    async def run(a: AnthropicAdapter) -> list[StreamChunk]:
        return await drain(await a.stream(chat(body, stream=True), TARGET))

    chunks = call(sim_root, run)
    calls = [
        tc
        for c in chunks
        if c.data["choices"]
        for tc in c.data["choices"][0]["delta"].get("tool_calls", [])
    ]
    assert calls[0]["id"].startswith("toolu_") and calls[0]["function"]["name"] == "get_weather"
    args = "".join(tc["function"]["arguments"] for tc in calls)
    assert set(orjson.loads(args)) == {"city", "days"}
    assert all(c.data["choices"] for c in chunks)  # no usage chunk: the client did not ask


def test_429_keeps_retry_after_and_is_retryable() -> None:
    settings = SimSettings(faults=SimFaults(rate_429=1.0, retry_after_s=3))
    with running_sim_server(settings) as url, pytest.raises(UpstreamStatusError) as info:
        call(url.removesuffix("/v1"), lambda a: a.complete(chat({"messages": USER}), TARGET))
    err = info.value
    assert err.status_code() == 429 and err.is_retryable
    assert err.upstream_type == "rate_limit_error" and err.headers["retry-after"] == "3"


def test_529_overloaded_is_retryable() -> None:
    settings = SimSettings(faults=SimFaults(rate_503=1.0))
    with running_sim_server(settings) as url, pytest.raises(UpstreamStatusError) as info:
        call(url.removesuffix("/v1"), lambda a: a.stream(chat({"messages": USER}, True), TARGET))
    assert info.value.is_retryable and info.value.upstream_type == "overloaded_error"


@pytest.mark.parametrize("fault", ["reset", "malformed"])
def test_cut_or_malformed_stream_is_a_protocol_error_with_usage_kept(fault: str) -> None:
    faults = SimFaults(rate_reset=1.0) if fault == "reset" else SimFaults(rate_malformed=1.0)
    settings = SimSettings(faults=faults, min_output_tokens=20, max_output_tokens=20)
    seen: list[StreamChunk] = []

    async def consume(s: AnthropicStream) -> None:
        async for chunk in s:
            seen.append(chunk)

    async def run(a: AnthropicAdapter) -> AnthropicStream:
        s = await a.stream(chat({"messages": USER}, stream=True), TARGET)
        with pytest.raises(UpstreamProtocolError):
            await consume(s)
        return s

    with running_sim_server(settings) as url:
        s = call(url.removesuffix("/v1"), run)
    assert seen  # some chunks arrived before the break
    assert s.usage is not None and s.usage.input_tokens > 0  # from message_start


def test_embeddings_are_refused() -> None:
    with pytest.raises(InvalidRequest):
        call("http://127.0.0.1:9", lambda a: a.embed(LLMRequest("embeddings", "e", {}), TARGET))


def test_untranslatable_request_is_a_400_before_any_upstream_call() -> None:
    body = {"messages": USER, "response_format": {"type": "json_object"}}
    with pytest.raises(InvalidRequest) as info:
        call("http://127.0.0.1:9", lambda a: a.complete(chat(body), TARGET))
    assert info.value.param == "response_format"


def test_openai_sdk_through_the_gateway_to_anthropic(tmp_path: Path, sim_root: str) -> None:
    config = {
        "gateway": {"require_keys": False},
        "logging": {"level": "warning", "access_log": False},
        "providers": {"claude": {"type": "anthropic", "base_url": sim_root}},
        "models": {
            "assistant": {"deployments": [{"provider": "claude", "model": "claude-sonnet-4-5"}]}
        },
        "ledger": {"url": f"sqlite:///{tmp_path / 'ledger.db'}", "flush_interval_ms": 5},
    }
    with (
        running_gateway(config) as gw,
        openai.OpenAI(base_url=gw.base_url, api_key="unused", max_retries=0) as client,
    ):
        raw = client.chat.completions.with_raw_response.create(
            model="assistant", messages=[{"role": "user", "content": "Say hello"}]
        )
        completion = raw.parse()
        stream = client.chat.completions.create(
            model="assistant",
            messages=[{"role": "user", "content": "tell me a story"}],
            stream=True,
            stream_options={"include_usage": True},
        )
        chunks = list(stream)
        row = gw.record(raw.headers["x-daytwo-call-id"])
        rows = gw.records()
    assert completion.choices[0].message.content and completion.usage is not None
    assert row["provider"] == "claude" and row["status"] == "ok"
    assert row["served_model"] == "claude-sonnet-4-5"
    assert row["output_tokens"] == completion.usage.completion_tokens
    assert row["input_tokens"] == completion.usage.prompt_tokens and row["tokens_estimated"] == 0
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    usage = chunks[-1].usage
    assert text and usage is not None
    (srow,) = [r for r in rows if r["stream"]]
    assert (srow["output_tokens"], srow["input_tokens"], srow["tokens_estimated"]) == (
        usage.completion_tokens,
        usage.prompt_tokens,
        0,
    )
