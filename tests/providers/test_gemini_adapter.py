"""The Gemini egress adapter against the simulator's Gemini API over real loopback HTTP."""

from __future__ import annotations

import base64
import struct
from collections.abc import Awaitable, Callable
from typing import TypeVar

import orjson
import pytest
from tests.providers.adapter_harness import (
    NOWHERE,
    USER,
    WEATHER_TOOLS,
    assert_text_completion,
    assert_text_stream,
    broken_stream,
    chat,
    embeddings,
    only_tool_call,
    sim_root_fixture,
    simulator,
    status_error,
    stream_faults,
    streamed,
    tool_call_deltas,
    with_adapter,
)

from daytwo.config.schema import GeminiProviderConfig, SimFaults, SimSettings
from daytwo.core.errors import (
    InvalidRequest,
    UpstreamProtocolError,
    UpstreamStatusError,
    UpstreamUnavailable,
)
from daytwo.core.secrets import SecretRegistry
from daytwo.providers.base import Target
from daytwo.providers.gemini import GeminiAdapter

pytestmark = pytest.mark.integration

T = TypeVar("T")
TARGET = Target(provider="gemini", model="gemini-2.5-flash", deployment="gemini/flash")
EMBED = Target(provider="gemini", model="gemini-embedding-001", deployment="gemini/embed")
sim_root = sim_root_fixture()


def call(
    root: str, fn: Callable[[GeminiAdapter], Awaitable[T]], *, api_key: str | None = None
) -> T:
    cfg = GeminiProviderConfig(type="gemini", base_url=root, api_key=api_key)
    return with_adapter(lambda: GeminiAdapter(cfg, SecretRegistry()), fn)


def test_text_completion(sim_root: str) -> None:
    resp = call(sim_root, lambda a: a.complete(chat({"messages": USER}), TARGET))
    assert_text_completion(resp, "gemini-2.5-flash")
    assert resp.upstream_request_id and resp.body["id"] == resp.upstream_request_id


def test_max_tokens_and_several_choices(sim_root: str) -> None:
    body = {"messages": USER, "max_tokens": 2, "n": 2}
    resp = call(sim_root, lambda a: a.complete(chat(body), TARGET))
    assert [c["finish_reason"] for c in resp.body["choices"]] == ["length", "length"]
    assert resp.usage.output_tokens == 4


def test_stream_reassembles_and_usage_is_exact(sim_root: str) -> None:
    body = {"messages": USER, "stream_options": {"include_usage": True}}
    s, chunks = streamed(call, sim_root, TARGET, body)
    assert_text_stream(s, chunks, "gemini-2.5-flash")
    assert not s.usage.estimated
    assert {c.data["id"] for c in chunks} == {s.upstream_request_id}


def test_tool_calls_not_streamed(sim_root: str) -> None:
    body = {"messages": USER, "tools": WEATHER_TOOLS, "tool_choice": "required"}
    tc = only_tool_call(call(sim_root, lambda a: a.complete(chat(body), TARGET)))
    assert tc["id"].startswith("call_") and tc["function"]["name"] == "get_weather"
    assert set(orjson.loads(tc["function"]["arguments"])) == {"city", "days"}


def test_tool_calls_streamed_then_the_result_goes_back(sim_root: str) -> None:
    body = {
        "messages": USER,
        "tools": WEATHER_TOOLS,
        "tool_choice": {"type": "function", "function": {"name": "get_weather"}},
    }
    _, chunks = streamed(call, sim_root, TARGET, body)
    (tc,) = tool_call_deltas(chunks)
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
        "tools": WEATHER_TOOLS,
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
    err = status_error(
        call, lambda a: a.complete(chat({"messages": USER}), TARGET), rate_429=1.0, retry_after_s=3
    )
    assert err.status_code() == 429 and err.is_retryable and err.wire_type == "rate_limit_error"
    assert err.code == "RESOURCE_EXHAUSTED" and err.headers["retry-after"] == "3"
    assert err.message.startswith("You exceeded your current quota")


@pytest.mark.parametrize(("fault", "status"), [("rate_503", 503), ("rate_500", 500)])
def test_server_errors_are_retryable_before_the_stream_opens(fault: str, status: int) -> None:
    err = status_error(
        call, lambda a: a.stream(chat({"messages": USER}, True), TARGET), **{fault: 1.0}
    )
    assert err.status_code() == status and err.is_retryable


def test_a_malformed_body_is_a_protocol_error() -> None:
    with simulator(SimSettings(faults=SimFaults(rate_malformed=1.0))) as root:
        with pytest.raises(UpstreamProtocolError):
            call(root, lambda a: a.complete(chat({"messages": USER}), TARGET))
        with pytest.raises(UpstreamProtocolError):
            call(root, lambda a: a.embed(embeddings({"input": ["a", "b"]}), EMBED))


@stream_faults
def test_cut_or_malformed_stream_is_a_protocol_error_with_usage_kept(fault: str) -> None:
    s, seen = broken_stream(call, TARGET, fault)
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
    with simulator(SimSettings(), require_key=good) as root:
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
    with pytest.raises(InvalidRequest) as info:  # nothing listens there, nothing is sent
        call(NOWHERE, lambda a: a.complete(chat(body), TARGET))
    assert info.value.param == "messages[0].content[0].image_url"
    with pytest.raises(InvalidRequest) as info:
        call(NOWHERE, lambda a: a.embed(embeddings({"input": [[1, 2]]}), EMBED))
    assert info.value.param == "input"


def test_an_unreachable_upstream_is_a_provider_error() -> None:
    with pytest.raises(UpstreamUnavailable) as info:
        call(NOWHERE, lambda a: a.complete(chat({"messages": USER}), TARGET))
    assert info.value.retryable and info.value.status == 502
