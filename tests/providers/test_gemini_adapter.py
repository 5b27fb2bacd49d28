"""The Gemini egress adapter against the simulator's Gemini API over real loopback HTTP."""

from __future__ import annotations

import asyncio
import base64
import struct
from collections.abc import Awaitable, Callable, Iterator
from typing import Any, TypeVar

import orjson
import pytest

from daytwo.config.schema import GeminiProviderConfig, SimFaults, SimSettings
from daytwo.core.errors import (
    InvalidRequest,
    UpstreamProtocolError,
    UpstreamStatusError,
    UpstreamUnavailable,
)
from daytwo.core.secrets import SecretRegistry
from daytwo.core.types import LLMRequest, StreamChunk
from daytwo.providers.base import Target
from daytwo.providers.gemini import GeminiAdapter, GeminiStream
from daytwo.providers.sim.run import running_sim_server

pytestmark = pytest.mark.integration

T = TypeVar("T")
TARGET = Target(provider="gemini", model="gemini-2.5-flash", deployment="gemini/flash")
EMBED = Target(provider="gemini", model="gemini-embedding-001", deployment="gemini/embed")
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


def call(
    root: str,
    fn: Callable[[GeminiAdapter], Awaitable[T]],
    *,
    api_key: str | None = None,
    secrets: SecretRegistry | None = None,
) -> T:
    async def run() -> T:
        cfg = GeminiProviderConfig(type="gemini", base_url=root, api_key=api_key)
        adapter = GeminiAdapter(cfg, secrets or SecretRegistry())
        try:
            return await fn(adapter)
        finally:
            await adapter.aclose()

    return asyncio.run(run())


def chat(body: dict[str, Any], stream: bool = False) -> LLMRequest:
    return LLMRequest(operation="chat", model="alias", body=body, stream=stream)


def embeddings(body: dict[str, Any]) -> LLMRequest:
    return LLMRequest(operation="embeddings", model="alias", body=body)


async def drain(stream: GeminiStream) -> list[StreamChunk]:
    return [chunk async for chunk in stream]


def tool_calls(chunks: list[StreamChunk]) -> list[dict[str, Any]]:
    return [
        tc
        for c in chunks
        if c.data["choices"]
        for tc in c.data["choices"][0]["delta"].get("tool_calls", [])
    ]


def test_text_completion(sim_root: str) -> None:
    resp = call(sim_root, lambda a: a.complete(chat({"messages": USER}), TARGET))
    assert resp.body["object"] == "chat.completion"
    choice = resp.body["choices"][0]
    assert choice["message"]["content"] and choice["finish_reason"] == "stop"
    assert resp.served_model == "gemini-2.5-flash"
    assert resp.upstream_request_id and resp.body["id"] == resp.upstream_request_id
    assert resp.usage.output_tokens == resp.body["usage"]["completion_tokens"] > 0
    assert resp.usage.input_tokens > 0 and not resp.usage.estimated


def test_max_tokens_and_several_choices(sim_root: str) -> None:
    body = {"messages": USER, "max_tokens": 2, "n": 2}
    resp = call(sim_root, lambda a: a.complete(chat(body), TARGET))
    assert [c["finish_reason"] for c in resp.body["choices"]] == ["length", "length"]
    assert resp.usage.output_tokens == 4


def test_stream_reassembles_and_usage_is_exact(sim_root: str) -> None:
    async def run(a: GeminiAdapter) -> tuple[GeminiStream, list[StreamChunk]]:
        body = {"messages": USER, "stream_options": {"include_usage": True}}
        s = await a.stream(chat(body, stream=True), TARGET)
        return s, await drain(s)

    s, chunks = call(sim_root, run)
    deltas = [c.data["choices"][0]["delta"] for c in chunks if c.data["choices"]]
    assert deltas[0] == {"role": "assistant", "content": ""}
    pieces = [d["content"] for d in deltas[1:] if d.get("content")]
    assert s.usage is not None and s.usage.output_tokens == len(pieces)  # one token per piece
    assert not s.usage.estimated
    finishes = [c.data["choices"][0]["finish_reason"] for c in chunks if c.data["choices"]]
    assert [f for f in finishes if f] == ["stop"]
    usage_chunk = chunks[-1].data
    assert usage_chunk["choices"] == [] and usage_chunk["usage"]["completion_tokens"] == len(pieces)
    assert s.served_model == "gemini-2.5-flash" and s.upstream_request_id
    assert {c.data["id"] for c in chunks} == {s.upstream_request_id}


def test_tool_calls_not_streamed(sim_root: str) -> None:
    body = {"messages": USER, "tools": TOOLS, "tool_choice": "required"}
    resp = call(sim_root, lambda a: a.complete(chat(body), TARGET))
    choice = resp.body["choices"][0]
    assert choice["finish_reason"] == "tool_calls" and choice["message"]["content"] is None
    (tc,) = choice["message"]["tool_calls"]
    assert tc["id"].startswith("call_") and tc["function"]["name"] == "get_weather"
    assert set(orjson.loads(tc["function"]["arguments"])) == {"city", "days"}


def test_tool_calls_streamed_then_the_result_goes_back(sim_root: str) -> None:
    body = {
        "messages": USER,
        "tools": TOOLS,
        "tool_choice": {"type": "function", "function": {"name": "get_weather"}},
    }

    async def run(a: GeminiAdapter) -> list[StreamChunk]:
        return await drain(await a.stream(chat(body, stream=True), TARGET))

    chunks = call(sim_root, run)
    (tc,) = tool_calls(chunks)
    assert tc["index"] == 0 and tc["id"].startswith("call_") and tc["type"] == "function"
    assert tc["function"]["name"] == "get_weather"
    assert set(orjson.loads(tc["function"]["arguments"])) == {"city", "days"}
    assert chunks[-1].data["choices"][0]["finish_reason"] == "tool_calls"
    assert all(c.data["choices"] for c in chunks)  # no usage chunk: the client did not ask
    # the next turn: the call and its result travel back as functionCall / functionResponse
    follow = {
        "messages": [
            *USER,
            {"role": "assistant", "content": None, "tool_calls": [tc]},
            {"role": "tool", "tool_call_id": tc["id"], "content": '{"temp": 15}'},
        ],
        "tools": TOOLS,
    }
    resp = call(sim_root, lambda a: a.complete(chat(follow), TARGET))
    assert resp.body["choices"][0]["message"]["content"]
    assert resp.body["choices"][0]["finish_reason"] == "stop"


def test_json_schema_mode(sim_root: str) -> None:
    schema = {
        "type": "object",
        "properties": {"answer": {"type": "string"}, "score": {"type": "integer"}},
        "required": ["answer", "score"],
        "additionalProperties": False,
    }
    body = {
        "messages": USER,
        "response_format": {"type": "json_schema", "json_schema": {"name": "r", "schema": schema}},
    }
    resp = call(sim_root, lambda a: a.complete(chat(body), TARGET))
    value = orjson.loads(resp.body["choices"][0]["message"]["content"])
    assert set(value) == {"answer", "score"} and isinstance(value["score"], int)


def test_embeddings_one_many_dimensions_and_base64(sim_root: str) -> None:
    one = call(sim_root, lambda a: a.embed(embeddings({"input": "hello"}), EMBED))
    (item,) = one.body["data"]
    assert len(item["embedding"]) == 3072 and one.usage.estimated and one.usage.input_tokens > 0
    assert (
        one.served_model == "gemini-embedding-001" and one.body["model"] == "gemini-embedding-001"
    )
    many = call(
        sim_root,
        lambda a: a.embed(embeddings({"input": ["hello", "world"], "dimensions": 4}), EMBED),
    )
    floats = [d["embedding"] for d in many.body["data"]]
    assert [len(v) for v in floats] == [4, 4] and [d["index"] for d in many.body["data"]] == [0, 1]
    b64 = call(
        sim_root,
        lambda a: a.embed(
            embeddings({"input": ["hello", "world"], "dimensions": 4, "encoding_format": "base64"}),
            EMBED,
        ),
    )
    decoded = [struct.unpack("<4f", base64.b64decode(d["embedding"])) for d in b64.body["data"]]
    assert decoded == [pytest.approx(v, rel=1e-6) for v in floats]
    assert b64.body["usage"]["prompt_tokens"] == b64.usage.input_tokens


def test_429_takes_retry_after_from_retry_info_and_is_retryable() -> None:
    settings = SimSettings(faults=SimFaults(rate_429=1.0, retry_after_s=3))
    with running_sim_server(settings) as url, pytest.raises(UpstreamStatusError) as info:
        call(url.removesuffix("/v1"), lambda a: a.complete(chat({"messages": USER}), TARGET))
    err = info.value
    assert err.status_code() == 429 and err.is_retryable and err.wire_type == "rate_limit_error"
    assert err.code == "RESOURCE_EXHAUSTED" and err.headers["retry-after"] == "3"
    assert err.message.startswith("You exceeded your current quota")


@pytest.mark.parametrize(("fault", "status"), [("rate_503", 503), ("rate_500", 500)])
def test_server_errors_are_retryable_before_the_stream_opens(fault: str, status: int) -> None:
    settings = SimSettings(faults=SimFaults(**{fault: 1.0}))
    with running_sim_server(settings) as url, pytest.raises(UpstreamStatusError) as info:
        call(url.removesuffix("/v1"), lambda a: a.stream(chat({"messages": USER}, True), TARGET))
    assert info.value.status_code() == status and info.value.is_retryable


def test_a_malformed_body_is_a_protocol_error() -> None:
    settings = SimSettings(faults=SimFaults(rate_malformed=1.0))
    with running_sim_server(settings) as url:
        root = url.removesuffix("/v1")
        with pytest.raises(UpstreamProtocolError):
            call(root, lambda a: a.complete(chat({"messages": USER}), TARGET))
        with pytest.raises(UpstreamProtocolError):
            call(root, lambda a: a.embed(embeddings({"input": ["a", "b"]}), EMBED))


@pytest.mark.parametrize("fault", ["reset", "malformed"])
def test_cut_or_malformed_stream_is_a_protocol_error_with_usage_kept(fault: str) -> None:
    faults = SimFaults(rate_reset=1.0) if fault == "reset" else SimFaults(rate_malformed=1.0)
    settings = SimSettings(faults=faults, min_output_tokens=20, max_output_tokens=20)
    seen: list[StreamChunk] = []

    async def consume(s: GeminiStream) -> None:
        async for chunk in s:
            seen.append(chunk)

    async def run(a: GeminiAdapter) -> GeminiStream:
        s = await a.stream(chat({"messages": USER}, stream=True), TARGET)
        with pytest.raises(UpstreamProtocolError):
            await consume(s)
        return s

    with running_sim_server(settings) as url:
        s = call(url.removesuffix("/v1"), run)
    texts = [c.data["choices"][0]["delta"].get("content") for c in seen if c.data["choices"]]
    assert len([t for t in texts if t]) >= 5  # some of the answer arrived before the break
    assert not any(c.data["choices"][0]["finish_reason"] for c in seen if c.data["choices"])
    # the input and the output reported so far are kept for billing
    assert s.usage is not None and s.usage.input_tokens > 0 and s.usage.output_tokens >= 5


def test_the_key_is_sent_in_a_header_and_redacted_from_errors(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    good, wrong = "gem-test-key-correct-0001", "gem-test-key-wrong-0002"
    monkeypatch.setenv("DT_TEST_GEMINI_KEY", good)
    with running_sim_server(require_key=good) as url:
        root = url.removesuffix("/v1")
        resp = call(
            root,
            lambda a: a.complete(chat({"messages": USER}), TARGET),
            api_key="env:DT_TEST_GEMINI_KEY",
        )
        assert resp.body["choices"][0]["message"]["content"]
        monkeypatch.setenv("DT_TEST_GEMINI_KEY", wrong)
        with pytest.raises(UpstreamStatusError) as info:
            call(
                root,
                lambda a: a.complete(chat({"messages": USER}), TARGET),
                api_key="env:DT_TEST_GEMINI_KEY",
            )
    err = info.value
    assert err.status_code() == 400 and err.code == "INVALID_ARGUMENT" and not err.is_retryable
    # the simulator echoes the key it was given; it must not travel on
    assert "API key not valid" in err.message and "[REDACTED]" in err.message
    assert wrong not in str(err) and wrong not in repr(err.headers)


def test_untranslatable_request_is_a_400_before_any_upstream_call() -> None:
    body = {
        "messages": [
            {
                "role": "user",
                "content": [{"type": "image_url", "image_url": {"url": "https://x.test/a.png"}}],
            }
        ]
    }
    with pytest.raises(InvalidRequest) as info:  # port 9: nothing listens, nothing is sent
        call("http://127.0.0.1:9", lambda a: a.complete(chat(body), TARGET))
    assert info.value.param == "messages[0].content[0].image_url"
    with pytest.raises(InvalidRequest) as info:
        call("http://127.0.0.1:9", lambda a: a.embed(embeddings({"input": [[1, 2]]}), EMBED))
    assert info.value.param == "input"


def test_an_unreachable_upstream_is_a_provider_error() -> None:
    with pytest.raises(UpstreamUnavailable) as info:
        call("http://127.0.0.1:9", lambda a: a.complete(chat({"messages": USER}), TARGET))
    assert info.value.retryable and info.value.status == 502
