"""Translation between OpenAI Chat Completions and Anthropic Messages, both ways, on wire
fixtures taken from Anthropic's SDK test suite and API reference."""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from daytwo.core.errors import InvalidRequest, UpstreamProtocolError, UpstreamStatusError
from daytwo.core.types import Usage
from daytwo.providers.anthropic_stream import StreamTranslator
from daytwo.providers.anthropic_wire import (
    error_from_anthropic,
    openai_request_from_anthropic,
    to_anthropic_request,
    to_openai_completion,
    usage_from_anthropic,
)
from daytwo.providers.bedrock_wire import to_converse_request
from daytwo.providers.gemini_wire import to_gemini_request
from daytwo.providers.openai_wire import usage_from_openai

# anthropics/anthropic-sdk-python tests/lib/streaming/fixtures/basic_response.txt
BASIC_STREAM = b"""event: message_start
data: {"type":"message_start","message":{"id":"msg_4QpJur2dWWDjF6C758FbBw5vm12BaVipnK","type":"message","role":"assistant","content":[],"model":"claude-3-opus-latest","stop_reason":null,"stop_sequence":null,"usage":{"input_tokens":11,"output_tokens":1}}}

event: content_block_start
data: {"type":"content_block_start","index":0,"content_block":{"type":"text","text":""}}

event: ping
data: {"type": "ping"}

event: content_block_delta
data: {"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"Hello"}}

event: content_block_delta
data: {"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":" there"}}

event: content_block_delta
data: {"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"!"}}

event: content_block_stop
data: {"type":"content_block_stop","index":0}

event: message_delta
data: {"type":"message_delta","delta":{"stop_reason":"end_turn","stop_sequence":null},"usage":{"output_tokens":6}}

event: message_stop
data: {"type":"message_stop"}
"""  # noqa: E501 -- copied verbatim from the SDK's fixture

# anthropics/anthropic-sdk-python tests/lib/streaming/fixtures/tool_use_response.txt
TOOL_STREAM = b"""event: message_start
data: {"type":"message_start","message":{"id":"msg_019Q1hrJbZG26Fb9BQhrkHEr","type":"message","role":"assistant","model":"claude-sonnet-4-20250514","content":[],"stop_reason":null,"stop_sequence":null,"usage":{"input_tokens":377,"cache_creation_input_tokens":0,"cache_read_input_tokens":0,"output_tokens":1,"service_tier":"standard"}}}

event: content_block_start
data: {"type":"content_block_start","index":0,"content_block":{"type":"text","text":""}}

event: ping
data: {"type": "ping"}

event: content_block_delta
data: {"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"I"}}

event: content_block_delta
data: {"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"'ll check the current weather in Paris for you."}}

event: content_block_stop
data: {"type":"content_block_stop","index":0}

event: content_block_start
data: {"type":"content_block_start","index":1,"content_block":{"type":"tool_use","id":"toolu_01NRLabsLyVHZPKxbKvkfSMn","name":"get_weather","caller":{"type":"direct"},"input":{}}}

event: content_block_delta
data: {"type":"content_block_delta","index":1,"delta":{"type":"input_json_delta","partial_json":""}}

event: content_block_delta
data: {"type":"content_block_delta","index":1,"delta":{"type":"input_json_delta","partial_json":"{\\"locati"}}

event: content_block_delta
data: {"type":"content_block_delta","index":1,"delta":{"type":"input_json_delta","partial_json":"on\\": \\"P"}}

event: content_block_delta
data: {"type":"content_block_delta","index":1,"delta":{"type":"input_json_delta","partial_json":"ar"}}

event: content_block_delta
data: {"type":"content_block_delta","index":1,"delta":{"type":"input_json_delta","partial_json":"is\\"}"}}

event: content_block_stop
data: {"type":"content_block_stop","index":1}

event: message_delta
data: {"type":"message_delta","delta":{"stop_reason":"tool_use","stop_sequence":null},"usage":{"output_tokens":65}}

event: message_stop
data: {"type":"message_stop"}
"""  # noqa: E501 -- copied verbatim from the SDK's fixture

# The Messages API reference's example response, and its tool-use guide's.
TEXT_MESSAGE: dict[str, Any] = {
    "id": "msg_013Zva2CMHLNnXjNJJKqJ2EF",
    "type": "message",
    "role": "assistant",
    "model": "claude-sonnet-4-5-20250929",
    "content": [{"type": "text", "text": "Hi! My name is Claude."}],
    "stop_reason": "end_turn",
    "stop_sequence": None,
    "usage": {
        "input_tokens": 2095,
        "output_tokens": 503,
        "cache_creation_input_tokens": 2051,
        "cache_read_input_tokens": 2051,
    },
}
TOOL_MESSAGE: dict[str, Any] = {
    "id": "msg_01Aq9w938a90dw8q",
    "type": "message",
    "role": "assistant",
    "model": "claude-sonnet-4-5",
    "content": [
        {"type": "text", "text": "I'll check the current weather in San Francisco for you."},
        {
            "type": "tool_use",
            "id": "toolu_01A09q90qw90lq917835lq9",
            "name": "get_weather",
            "input": {"location": "San Francisco, CA", "unit": "celsius"},
        },
    ],
    "stop_reason": "tool_use",
    "stop_sequence": None,
    "usage": {"input_tokens": 384, "output_tokens": 89},
}
WEATHER_TOOL_OPENAI: dict[str, Any] = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Get the current weather in a given location",
        "parameters": {
            "type": "object",
            "properties": {"location": {"type": "string"}},
            "required": ["location"],
        },
    },
}


def _events(raw: bytes) -> list[dict[str, Any]]:
    return [
        orjson.loads(line[len(b"data: ") :])
        for line in raw.splitlines()
        if line.startswith(b"data: ")
    ]


def _translate(raw: bytes, *, include_usage: bool = True) -> tuple[StreamTranslator, list[Any]]:
    tr = StreamTranslator(include_usage=include_usage, redact=str, created=1)
    chunks = [c for event in _events(raw) for c in tr.feed(event)]
    return tr, chunks


# ---------------------------------------------------------------- streams


def test_text_stream_translates_to_openai_chunks() -> None:
    tr, chunks = _translate(BASIC_STREAM)
    assert chunks[0]["choices"][0]["delta"] == {"role": "assistant", "content": ""}
    text = "".join(c["choices"][0]["delta"].get("content") or "" for c in chunks if c["choices"])
    assert text == "Hello there!"
    finish = [c["choices"][0]["finish_reason"] for c in chunks if c["choices"]]
    assert finish[-1] == "stop" and finish.count("stop") == 1
    assert chunks[-1]["choices"] == []
    assert chunks[-1]["usage"]["prompt_tokens"] == 11
    assert chunks[-1]["usage"]["completion_tokens"] == 6
    assert {c["id"] for c in chunks} == {"msg_4QpJur2dWWDjF6C758FbBw5vm12BaVipnK"}
    assert {c["object"] for c in chunks} == {"chat.completion.chunk"}
    assert tr.done and tr.served_model == "claude-3-opus-latest"
    assert tr.usage == Usage(input_tokens=11, output_tokens=6)


def test_stream_without_include_usage_sends_no_usage_chunk_but_keeps_usage() -> None:
    tr, chunks = _translate(BASIC_STREAM, include_usage=False)
    assert all(c["choices"] for c in chunks)
    assert tr.usage == Usage(input_tokens=11, output_tokens=6)


def test_tool_use_stream_translates_to_tool_call_deltas() -> None:
    _, chunks = _translate(TOOL_STREAM)
    calls = [
        call
        for c in chunks
        if c["choices"]
        for call in c["choices"][0]["delta"].get("tool_calls", [])
    ]
    assert calls[0] == {
        "index": 0,
        "id": "toolu_01NRLabsLyVHZPKxbKvkfSMn",
        "type": "function",
        "function": {"name": "get_weather", "arguments": ""},
    }
    assert all(call["index"] == 0 for call in calls)
    args = "".join(call["function"]["arguments"] for call in calls)
    assert orjson.loads(args) == {"location": "Paris"}
    text = "".join(c["choices"][0]["delta"].get("content") or "" for c in chunks if c["choices"])
    assert text == "I'll check the current weather in Paris for you."
    finishes = [c["choices"][0]["finish_reason"] for c in chunks if c["choices"]]
    assert [f for f in finishes if f] == ["tool_calls"]


def test_cut_stream_keeps_usage_known_so_far() -> None:
    events = _events(TOOL_STREAM)[:6]
    tr = StreamTranslator(include_usage=False, redact=str)
    for event in events:
        tr.feed(event)
    assert not tr.done
    assert tr.usage == Usage(input_tokens=377, output_tokens=1)


def test_cache_fields_are_added_to_input_in_stream() -> None:
    start = {
        "type": "message_start",
        "message": {
            "id": "msg_1",
            "type": "message",
            "role": "assistant",
            "model": "claude-sonnet-4-5",
            "content": [],
            "usage": {
                "input_tokens": 10,
                "cache_read_input_tokens": 1000,
                "cache_creation_input_tokens": 200,
                "output_tokens": 1,
            },
        },
    }
    tr = StreamTranslator(include_usage=True, redact=str)
    tr.feed(start)
    tr.feed(
        {
            "type": "message_delta",
            "delta": {"stop_reason": "max_tokens"},
            "usage": {"output_tokens": 7},
        }
    )
    (usage_chunk,) = tr.feed({"type": "message_stop"})
    assert tr.usage == Usage(
        input_tokens=1210, output_tokens=7, cached_input_tokens=1000, cache_write_tokens=200
    )
    assert usage_chunk["usage"]["prompt_tokens"] == 1210
    # the cache writes travel in the usage chunk too (the pipeline and the other doors read it)
    details = usage_chunk["usage"]["prompt_tokens_details"]
    assert details == {"cached_tokens": 1000, "cache_write_tokens": 200}
    assert usage_from_openai(usage_chunk["usage"]) == tr.usage


def test_error_event_keeps_its_class() -> None:
    tr, _ = _translate(b"\n".join(BASIC_STREAM.split(b"\n")[:2]))
    with pytest.raises(UpstreamStatusError) as info:
        tr.feed({"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}})
    assert info.value.status_code() == 503 and info.value.is_retryable
    assert info.value.upstream_type == "overloaded_error"


def test_unknown_events_are_skipped_and_a_stream_must_start_with_message_start() -> None:
    tr, _ = _translate(b"\n".join(BASIC_STREAM.split(b"\n")[:2]))
    assert tr.feed({"type": "some_future_event", "x": 1}) == []
    assert (
        tr.feed(
            {
                "type": "content_block_delta",
                "index": 0,
                "delta": {"type": "thinking_delta", "thinking": "hm"},
            }
        )
        == []
    )
    fresh = StreamTranslator(include_usage=False, redact=str)
    with pytest.raises(UpstreamProtocolError):
        fresh.feed(
            {
                "type": "content_block_delta",
                "index": 0,
                "delta": {"type": "text_delta", "text": "x"},
            }
        )


# ---------------------------------------------------------------- non-streamed answers


def test_text_message_to_chat_completion_with_cache_usage() -> None:
    out = to_openai_completion(TEXT_MESSAGE, created=5)
    assert out["object"] == "chat.completion" and out["model"] == "claude-sonnet-4-5-20250929"
    choice = out["choices"][0]
    assert choice["message"]["content"] == "Hi! My name is Claude."
    assert choice["finish_reason"] == "stop"
    assert out["usage"]["prompt_tokens"] == 2095 + 2051 + 2051
    assert out["usage"]["completion_tokens"] == 503
    assert out["usage"]["prompt_tokens_details"]["cached_tokens"] == 2051
    assert usage_from_anthropic(TEXT_MESSAGE["usage"]) == Usage(
        input_tokens=6197, output_tokens=503, cached_input_tokens=2051, cache_write_tokens=2051
    )


def test_tool_use_message_to_tool_calls() -> None:
    out = to_openai_completion(TOOL_MESSAGE)
    choice = out["choices"][0]
    assert choice["finish_reason"] == "tool_calls"
    (call,) = choice["message"]["tool_calls"]
    assert call["id"] == "toolu_01A09q90qw90lq917835lq9" and call["type"] == "function"
    assert call["function"]["name"] == "get_weather"
    assert orjson.loads(call["function"]["arguments"]) == {
        "location": "San Francisco, CA",
        "unit": "celsius",
    }


@pytest.mark.parametrize(
    ("stop_reason", "finish"),
    [
        ("end_turn", "stop"),
        ("max_tokens", "length"),
        ("stop_sequence", "stop"),
        ("tool_use", "tool_calls"),
    ],
)
def test_stop_reason_mapping(stop_reason: str, finish: str) -> None:
    msg = {**TEXT_MESSAGE, "stop_reason": stop_reason}
    assert to_openai_completion(msg)["choices"][0]["finish_reason"] == finish


def test_a_body_that_is_not_a_message_is_a_protocol_error() -> None:
    with pytest.raises(UpstreamProtocolError):
        to_openai_completion({"type": "error", "error": {}})


# ---------------------------------------------------------------- errors


def test_429_keeps_retry_after() -> None:
    body = orjson.dumps(
        {
            "type": "error",
            "error": {
                "type": "rate_limit_error",
                "message": "Number of requests has exceeded your rate limit",
            },
        }
    )
    err = error_from_anthropic(429, body, {"retry-after": "7", "request-id": "req_1"}, str)
    assert err.status_code() == 429 and err.is_retryable
    assert err.upstream_type == "rate_limit_error" and err.headers == {"retry-after": "7"}
    assert err.message == "Number of requests has exceeded your rate limit"


def test_529_overloaded_becomes_a_retryable_503() -> None:
    body = b'{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}'
    err = error_from_anthropic(529, body, {}, str)
    assert err.status_code() == 503 and err.is_retryable and err.upstream_type == "overloaded_error"


@pytest.mark.parametrize(
    ("status", "kind"),
    [(400, "invalid_request_error"), (401, "authentication_error"), (404, "not_found_error")],
)
def test_caller_errors_are_not_retryable(status: int, kind: str) -> None:
    body = orjson.dumps({"type": "error", "error": {"type": kind, "message": "no"}})
    err = error_from_anthropic(status, body, {}, str)
    assert (err.status_code(), err.upstream_type, err.is_retryable) == (status, kind, False)


def test_error_messages_are_redacted() -> None:
    body = (
        b'{"type":"error","error":{"type":"authentication_error",'
        b'"message":"invalid x-api-key sk-ant-secret"}}'
    )
    err = error_from_anthropic(401, body, {}, lambda s: s.replace("sk-ant-secret", "[redacted]"))
    assert "sk-ant-secret" not in err.message


# ---------------------------------------------------------------- OpenAI → Anthropic request


def test_request_translation_system_tools_and_params() -> None:
    body = {
        "model": "claude",
        "messages": [
            {"role": "system", "content": "You are terse."},
            {"role": "developer", "content": [{"type": "text", "text": "Use metric."}]},
            {"role": "user", "content": "Weather in SF?"},
            {
                "role": "assistant",
                "content": None,
                "tool_calls": [
                    {
                        "id": "toolu_01A09q90qw90lq917835lq9",
                        "type": "function",
                        "function": {"name": "get_weather", "arguments": '{"location": "SF"}'},
                    },
                    {
                        "id": "toolu_02",
                        "type": "function",
                        "function": {"name": "get_weather", "arguments": '{"location": "LA"}'},
                    },
                ],
            },
            {
                "role": "tool",
                "tool_call_id": "toolu_01A09q90qw90lq917835lq9",
                "content": "15 degrees",
            },
            {"role": "tool", "tool_call_id": "toolu_02", "content": "25 degrees"},
        ],
        "tools": [WEATHER_TOOL_OPENAI],
        "tool_choice": "required",
        "stop": "END",
        "temperature": 0.5,
        "top_p": 0.9,
        "max_completion_tokens": 300,
        "user": "u-1",
    }
    out = to_anthropic_request(
        body, model="claude-sonnet-4-5", default_max_tokens=4096, stream=True
    )
    assert out["model"] == "claude-sonnet-4-5" and out["stream"] is True
    assert out["system"] == [
        {"type": "text", "text": "You are terse."},
        {"type": "text", "text": "Use metric."},
    ]
    assert out["messages"][0] == {"role": "user", "content": "Weather in SF?"}
    assistant = out["messages"][1]
    assert assistant["role"] == "assistant"
    assert assistant["content"][0] == {
        "type": "tool_use",
        "id": "toolu_01A09q90qw90lq917835lq9",
        "name": "get_weather",
        "input": {"location": "SF"},
    }
    # consecutive tool messages merge into one user turn of tool_result blocks
    assert out["messages"][2] == {
        "role": "user",
        "content": [
            {
                "type": "tool_result",
                "tool_use_id": "toolu_01A09q90qw90lq917835lq9",
                "content": "15 degrees",
            },
            {"type": "tool_result", "tool_use_id": "toolu_02", "content": "25 degrees"},
        ],
    }
    assert len(out["messages"]) == 3
    assert out["tools"] == [
        {
            "name": "get_weather",
            "description": "Get the current weather in a given location",
            "input_schema": WEATHER_TOOL_OPENAI["function"]["parameters"],
        }
    ]
    assert out["tool_choice"] == {"type": "any"}
    assert out["stop_sequences"] == ["END"]
    assert (out["temperature"], out["top_p"], out["max_tokens"]) == (0.5, 0.9, 300)
    assert out["metadata"] == {"user_id": "u-1"}


def test_single_system_prompt_is_a_string_and_max_tokens_defaults() -> None:
    body = {
        "messages": [{"role": "system", "content": "Be kind."}, {"role": "user", "content": "hi"}]
    }
    out = to_anthropic_request(body, model="m", default_max_tokens=1234)
    assert out["system"] == "Be kind." and out["max_tokens"] == 1234 and "stream" not in out


@pytest.mark.parametrize(
    ("choice", "expected"),
    [
        ("auto", {"type": "auto"}),
        ("none", {"type": "none"}),
        (
            {"type": "function", "function": {"name": "get_weather"}},
            {"type": "tool", "name": "get_weather"},
        ),
    ],
)
def test_tool_choice_mapping(choice: Any, expected: dict[str, Any]) -> None:
    body = {
        "messages": [{"role": "user", "content": "x"}],
        "tools": [WEATHER_TOOL_OPENAI],
        "tool_choice": choice,
    }
    assert to_anthropic_request(body, model="m", default_max_tokens=1)["tool_choice"] == expected


def test_parallel_tool_calls_false_disables_parallel_use() -> None:
    body = {
        "messages": [{"role": "user", "content": "x"}],
        "tools": [WEATHER_TOOL_OPENAI],
        "parallel_tool_calls": False,
    }
    out = to_anthropic_request(body, model="m", default_max_tokens=1)
    assert out["tool_choice"] == {"type": "auto", "disable_parallel_tool_use": True}


def test_image_parts() -> None:
    body = {
        "messages": [
            {
                "role": "user",
                "content": [
                    {"type": "text", "text": "What is in these images?"},
                    {
                        "type": "image_url",
                        "image_url": {"url": "data:image/jpeg;base64,/9j/4AAQSkZJRg=="},
                    },
                    {
                        "type": "image_url",
                        "image_url": {"url": "https://upload.wikimedia.org/a.jpg"},
                    },
                ],
            }
        ]
    }
    (msg,) = to_anthropic_request(body, model="m", default_max_tokens=1)["messages"]
    assert msg["content"] == [
        {"type": "text", "text": "What is in these images?"},
        {
            "type": "image",
            "source": {"type": "base64", "media_type": "image/jpeg", "data": "/9j/4AAQSkZJRg=="},
        },
        {"type": "image", "source": {"type": "url", "url": "https://upload.wikimedia.org/a.jpg"}},
    ]


@pytest.mark.parametrize(
    ("extra", "param"),
    [
        ({"n": 2}, "n"),
        ({"response_format": {"type": "json_object"}}, "response_format"),
        (
            {
                "response_format": {"type": "json_schema", "json_schema": {"name": "x"}},
            },
            "response_format",
        ),
        ({"logprobs": True}, "logprobs"),
        ({"temperature": 1.5}, "temperature"),
        ({"tools": [{"type": "custom", "custom": {"name": "x"}}]}, "tools[0]"),
        (
            {
                "messages": [
                    {"role": "user", "content": [{"type": "input_audio", "input_audio": {}}]}
                ]
            },
            "messages[0].content[0]",
        ),
        ({"messages": [{"role": "function", "name": "f", "content": "x"}]}, "messages[0]"),
        ({"messages": []}, "messages"),
    ],
)
def test_what_anthropic_cannot_honour_is_a_400_naming_the_parameter(
    extra: dict[str, Any], param: str
) -> None:
    body = {"messages": [{"role": "user", "content": "x"}], **extra}
    with pytest.raises(InvalidRequest) as info:
        to_anthropic_request(body, model="m", default_max_tokens=1)
    assert info.value.status == 400 and info.value.param == param


def test_text_response_format_is_accepted() -> None:
    body = {"messages": [{"role": "user", "content": "x"}], "response_format": {"type": "text"}}
    assert "response_format" not in to_anthropic_request(body, model="m", default_max_tokens=1)


SCHEMA = {
    "type": "object",
    "properties": {"city": {"type": "string"}},
    "required": ["city"],
    "additionalProperties": False,
}


def test_json_schema_crosses_both_ways_as_structured_outputs() -> None:
    fmt = {"type": "json_schema", "json_schema": {"name": "city", "schema": SCHEMA, "strict": True}}
    body = {"messages": [{"role": "user", "content": "x"}], "response_format": fmt}
    out = to_anthropic_request(body, model="m", default_max_tokens=1)
    assert out["output_config"] == {"format": {"type": "json_schema", "schema": SCHEMA}}
    anthropic = {
        "model": "m",
        "max_tokens": 5,
        "messages": [{"role": "user", "content": "x"}],
        "output_config": out["output_config"],
    }
    back = openai_request_from_anthropic(anthropic)
    assert back["response_format"] == {
        "type": "json_schema",
        "json_schema": {"name": "output", "schema": SCHEMA, "strict": True},
    }


@pytest.mark.parametrize(
    ("config", "param"),
    [
        ("json", "output_config"),
        ({"format": "json"}, "output_config.format"),
        ({"format": {"type": "json_object"}}, "output_config.format.type"),
        ({"format": {"type": "json_schema"}}, "output_config.format.schema"),
    ],
)
def test_a_bad_output_config_is_a_400_naming_the_field(config: Any, param: str) -> None:
    body = {"model": "m", "max_tokens": 5, "messages": [{"role": "user", "content": "x"}]}
    with pytest.raises(InvalidRequest) as info:
        openai_request_from_anthropic({**body, "output_config": config})
    assert info.value.param == param


def test_thinking_tokens_are_reasoning_tokens() -> None:
    usage = usage_from_anthropic(
        {"input_tokens": 10, "output_tokens": 90, "output_tokens_details": {"thinking_tokens": 60}}
    )
    assert usage is not None
    assert (usage.output_tokens, usage.reasoning_tokens) == (90, 60)


# ---------------------------------------------------------------- Anthropic → OpenAI request


def test_anthropic_request_to_openai_round_trip() -> None:
    anthropic_body = {
        "model": "claude-sonnet-4-5",
        "max_tokens": 1024,
        "system": "You are a weather bot.",
        "stop_sequences": ["END"],
        "temperature": 0.2,
        "stream": True,
        "tools": [
            {
                "name": "get_weather",
                "description": "Get the current weather in a given location",
                "input_schema": {"type": "object", "properties": {"location": {"type": "string"}}},
            }
        ],
        "tool_choice": {"type": "tool", "name": "get_weather"},
        "messages": [
            {"role": "user", "content": "What's the weather like in San Francisco?"},
            {"role": "assistant", "content": TOOL_MESSAGE["content"]},
            {
                "role": "user",
                "content": [
                    {
                        "type": "tool_result",
                        "tool_use_id": "toolu_01A09q90qw90lq917835lq9",
                        "content": "15 degrees",
                    },
                    {"type": "text", "text": "And tomorrow?"},
                ],
            },
        ],
    }
    out = openai_request_from_anthropic(anthropic_body)
    assert out["messages"][0] == {"role": "system", "content": "You are a weather bot."}
    assert out["messages"][2]["tool_calls"][0]["function"] == {
        "name": "get_weather",
        "arguments": '{"location":"San Francisco, CA","unit":"celsius"}',
    }
    assert out["messages"][3] == {
        "role": "tool",
        "tool_call_id": "toolu_01A09q90qw90lq917835lq9",
        "content": "15 degrees",
    }
    assert out["messages"][4] == {"role": "user", "content": "And tomorrow?"}
    assert out["tool_choice"] == {"type": "function", "function": {"name": "get_weather"}}
    assert (out["max_tokens"], out["stop"], out["temperature"]) == (1024, ["END"], 0.2)
    assert out["stream"] is True and out["stream_options"] == {"include_usage": True}
    # and back again: the Anthropic body the egress adapter would send is the original's
    back = to_anthropic_request(out, model="claude-sonnet-4-5", default_max_tokens=1)
    assert back["system"] == anthropic_body["system"]
    assert back["tools"] == anthropic_body["tools"]
    assert back["messages"][1]["content"] == TOOL_MESSAGE["content"]
    assert back["messages"][2]["content"][0]["type"] == "tool_result"


def test_anthropic_image_blocks_become_image_url_parts() -> None:
    body = {
        "model": "m",
        "max_tokens": 10,
        "messages": [
            {
                "role": "user",
                "content": [
                    {
                        "type": "image",
                        "source": {
                            "type": "base64",
                            "media_type": "image/png",
                            "data": "iVBORw0KGgo=",
                        },
                    },
                    {"type": "text", "text": "Describe this image."},
                ],
            }
        ],
    }
    (msg,) = openai_request_from_anthropic(body)["messages"]
    assert msg["content"][0] == {
        "type": "image_url",
        "image_url": {"url": "data:image/png;base64,iVBORw0KGgo="},
    }


@pytest.mark.parametrize("missing", ["model", "max_tokens", "messages"])
def test_anthropic_request_requires_model_max_tokens_messages(missing: str) -> None:
    body: dict[str, Any] = {
        "model": "m",
        "max_tokens": 5,
        "messages": [{"role": "user", "content": "x"}],
    }
    del body[missing]
    with pytest.raises(InvalidRequest) as info:
        openai_request_from_anthropic(body)
    assert info.value.param == missing


def _messages_body(**extra: Any) -> dict[str, Any]:
    return {"model": "m", "max_tokens": 5, "messages": [{"role": "user", "content": "x"}], **extra}


@pytest.mark.parametrize(
    ("extra", "param"),
    [
        # Anthropic requires an array: a string must not become list("END") = three stops
        ({"stop_sequences": "END"}, "stop_sequences"),
        ({"stop_sequences": ["END", 7]}, "stop_sequences"),
        ({"tool_choice": "auto"}, "tool_choice"),
        ({"tool_choice": ["any"]}, "tool_choice"),
        ({"tool_choice": {"type": "sometimes"}}, "tool_choice"),
    ],
)
def test_anthropic_request_fields_of_the_wrong_shape_are_400s(
    extra: dict[str, Any], param: str
) -> None:
    with pytest.raises(InvalidRequest) as info:
        openai_request_from_anthropic(_messages_body(**extra))
    assert info.value.status == 400 and info.value.param == param
    assert info.value.message.startswith(param)


def test_anthropic_stop_sequences_become_stop() -> None:
    assert openai_request_from_anthropic(_messages_body(stop_sequences=["END", "\n\n"]))[
        "stop"
    ] == ["END", "\n\n"]
    assert "stop" not in openai_request_from_anthropic(_messages_body(stop_sequences=[]))


def test_tool_result_errors_reach_the_model_in_the_content() -> None:
    # The failed tool call of Anthropic's tool-use guide ("Handling tool use errors",
    # https://docs.anthropic.com/en/docs/agents-and-tools/tool-use/implement-tool-use): Chat
    # Completions' tool message has no error flag, so the content says it.
    body = _messages_body(
        messages=[
            {"role": "user", "content": "What's the weather like in San Francisco?"},
            {"role": "assistant", "content": TOOL_MESSAGE["content"]},
            {
                "role": "user",
                "content": [
                    {
                        "type": "tool_result",
                        "tool_use_id": "toolu_01A09q90qw90lq917835lq9",
                        "content": "ConnectionError: the weather service API is not available "
                        "(HTTP 500)",
                        "is_error": True,
                    },
                    {
                        "type": "tool_result",
                        "tool_use_id": "toolu_02",
                        "content": [{"type": "text", "text": "15 degrees"}],
                        "is_error": False,
                    },
                ],
            },
        ]
    )
    failed, fine = openai_request_from_anthropic(body)["messages"][2:]
    assert failed == {
        "role": "tool",
        "tool_call_id": "toolu_01A09q90qw90lq917835lq9",
        "content": "Error: ConnectionError: the weather service API is not available (HTTP 500)",
    }
    assert fine == {"role": "tool", "tool_call_id": "toolu_02", "content": "15 degrees"}


def test_top_k_reaches_anthropic_upstreams_only() -> None:
    chat = openai_request_from_anthropic(_messages_body(top_k=40, top_p=0.9))
    assert (chat["top_k"], chat["top_p"]) == (40, 0.9)
    assert to_anthropic_request(chat, model="claude", default_max_tokens=1)["top_k"] == 40
    # Gemini and Bedrock translate the parameters they know, by name: top_k is not among them
    gemini = to_gemini_request(chat)
    assert gemini["generationConfig"] == {"maxOutputTokens": 5, "topP": 0.9}
    converse = to_converse_request(chat).body
    assert converse["inferenceConfig"] == {"maxTokens": 5, "topP": 0.9}
    assert "top_k" not in orjson.dumps(gemini).decode() + orjson.dumps(converse).decode()


def test_what_chat_completions_cannot_say_is_left_out_and_named_when_asked() -> None:
    body: dict[str, Any] = {
        "model": "m",
        "max_tokens": 5,
        "messages": [
            {
                "role": "user",
                "content": [
                    {"type": "document", "source": {"type": "text", "data": "d"}},
                    {"type": "text", "text": "hi"},
                    {
                        "type": "tool_result",
                        "tool_use_id": "t",
                        "content": [{"type": "image", "source": {}}, {"type": "text", "text": "x"}],
                    },
                ],
            },
            {"role": "assistant", "content": [{"type": "server_tool_use", "id": "s"}]},
        ],
        "tools": [
            {"type": "web_search_20250305", "name": "web_search"},
            {"name": "get_weather", "input_schema": {"type": "object", "properties": {}}},
        ],
    }
    with pytest.raises(InvalidRequest):
        openai_request_from_anthropic(body)
    skipped: list[str] = []
    out = openai_request_from_anthropic(body, skipped=skipped)
    assert skipped == [
        "messages.0.content.0",
        "messages.0.content.2.0",
        "messages.1.content.0",
        "tools.0",
    ]
    assert [t["function"]["name"] for t in out["tools"]] == ["get_weather"]
    assert out["messages"][0] == {"role": "tool", "tool_call_id": "t", "content": "x"}
    assert out["messages"][1] == {"role": "user", "content": "hi"}
    # something without a type is malformed, lenient or not
    broken = {**body, "messages": [{"role": "user", "content": [{"text": "no type"}]}]}
    with pytest.raises(InvalidRequest):
        openai_request_from_anthropic(broken, skipped=[])
