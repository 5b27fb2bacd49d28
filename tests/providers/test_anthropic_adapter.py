"""The Anthropic egress adapter against the simulator's ``/v1/messages`` over real loopback HTTP,
and one call end to end: OpenAI SDK → daytwo → (type: anthropic) → simulator."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TypeVar

import orjson
import pytest
from tests.gateway.harness import gateway_config, route, running_gateway
from tests.providers.adapter_harness import (
    NOWHERE,
    USER,
    WEATHER_TOOLS,
    assert_text_completion,
    assert_text_stream,
    broken_stream,
    chat,
    only_tool_call,
    sim_root_fixture,
    status_error,
    stream_faults,
    streamed,
    tool_call_deltas,
    with_adapter,
)

from daytwo.config.schema import AnthropicProviderConfig
from daytwo.core.errors import InvalidRequest
from daytwo.core.secrets import SecretRegistry
from daytwo.core.types import LLMRequest
from daytwo.providers.anthropic import AnthropicAdapter
from daytwo.providers.base import Target

pytestmark = pytest.mark.integration

T = TypeVar("T")
TARGET = Target(provider="claude", model="claude-sonnet-4-5", deployment="claude/sonnet")
sim_root = sim_root_fixture()


def call(root: str, fn: Callable[[AnthropicAdapter], Awaitable[T]]) -> T:
    cfg = AnthropicProviderConfig(type="anthropic", base_url=root)
    return with_adapter(lambda: AnthropicAdapter(cfg, SecretRegistry()), fn)


def test_text_completion(sim_root: str) -> None:
    resp = call(sim_root, lambda a: a.complete(chat({"messages": USER}), TARGET))
    assert_text_completion(resp, "claude-sonnet-4-5")
    assert resp.upstream_request_id and resp.upstream_request_id.startswith("req_")


def test_stream_reassembles_and_usage_is_exact(sim_root: str) -> None:
    body = {"messages": USER, "stream_options": {"include_usage": True}}
    s, chunks = streamed(call, sim_root, TARGET, body)
    assert_text_stream(s, chunks, "claude-sonnet-4-5")
    assert (s.usage.cached_input_tokens, s.usage.cache_write_tokens) == (0, 0)
    assert chunks[-1].data["usage"]["prompt_tokens"] == s.usage.input_tokens


def test_tool_use_not_streamed(sim_root: str) -> None:
    body = {"messages": USER, "tools": WEATHER_TOOLS, "tool_choice": "required"}
    tc = only_tool_call(call(sim_root, lambda a: a.complete(chat(body), TARGET)))
    assert tc["id"].startswith("toolu_") and tc["function"]["name"] == "get_weather"
    assert set(orjson.loads(tc["function"]["arguments"])) == {"city", "days"}


def test_tool_use_streamed(sim_root: str) -> None:
    body = {
        "messages": USER,
        "tools": WEATHER_TOOLS,
        "tool_choice": {"type": "function", "function": {"name": "get_weather"}},
    }
    _, chunks = streamed(call, sim_root, TARGET, body)
    calls = tool_call_deltas(chunks)
    assert calls[0]["id"].startswith("toolu_") and calls[0]["function"]["name"] == "get_weather"
    args = "".join(tc["function"]["arguments"] for tc in calls)
    assert set(orjson.loads(args)) == {"city", "days"}
    assert all(c.data["choices"] for c in chunks)  # no usage chunk: the client did not ask


def test_429_keeps_retry_after_and_is_retryable() -> None:
    err = status_error(
        call, lambda a: a.complete(chat({"messages": USER}), TARGET), rate_429=1.0, retry_after_s=3
    )
    assert err.status_code() == 429 and err.is_retryable
    assert err.upstream_type == "rate_limit_error" and err.headers["retry-after"] == "3"


def test_529_overloaded_is_retryable() -> None:
    err = status_error(
        call, lambda a: a.stream(chat({"messages": USER}, True), TARGET), rate_503=1.0
    )
    assert err.is_retryable and err.upstream_type == "overloaded_error"


@stream_faults
def test_cut_or_malformed_stream_is_a_protocol_error_with_usage_kept(fault: str) -> None:
    s, seen = broken_stream(call, TARGET, fault)
    assert seen  # some chunks arrived before the break
    assert s.usage is not None and s.usage.input_tokens > 0  # from message_start


def test_embeddings_are_refused() -> None:
    with pytest.raises(InvalidRequest):
        call(NOWHERE, lambda a: a.embed(LLMRequest("embeddings", "e", {}), TARGET))


def test_untranslatable_request_is_a_400_before_any_upstream_call() -> None:
    body = {"messages": USER, "response_format": {"type": "json_object"}}
    with pytest.raises(InvalidRequest) as info:
        call(NOWHERE, lambda a: a.complete(chat(body), TARGET))
    assert info.value.param == "response_format"


def test_openai_sdk_through_the_gateway_to_anthropic(tmp_path: Path, sim_root: str) -> None:
    config = gateway_config(
        tmp_path / "ledger.db",
        {"claude": {"type": "anthropic", "base_url": sim_root}},
        {"assistant": route("claude", "claude-sonnet-4-5")},
    )
    with running_gateway(config) as gw, gw.openai() as client:
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
