"""OpenAI-shaped answers → Anthropic Messages wire format (gateway/anthropic_encode.py).

Every event and message is also validated against the official ``anthropic`` SDK's models, so
a field Anthropic requires cannot go missing unnoticed. The OpenAI-shaped input, after OpenAI's
references, comes from tests/gateway/encode_harness.py.
"""

from __future__ import annotations

from typing import Any

import anthropic.types as at
import orjson
import pytest
from pydantic import TypeAdapter
from tests.gateway.encode_harness import TWO_CALLS, chunk, completion, sse_events, usage_chunk

from daytwo.core.errors import (
    AuthenticationError,
    BudgetExceeded,
    DaytwoError,
    InternalError,
    InvalidRequest,
    ModelNotFound,
    PayloadTooLarge,
    PermissionDenied,
    StateUnavailable,
    UpstreamProtocolError,
    UpstreamStatusError,
    UpstreamTimeout,
)
from daytwo.core.types import LLMResponse, StreamChunk, Usage
from daytwo.gateway.anthropic_encode import AnthropicStreamEncoder, error_status, message

EVENT = TypeAdapter(at.RawMessageStreamEvent)


def _check(data: dict[str, Any]) -> None:
    if data["type"] not in ("ping", "error"):
        EVENT.validate_python(data)


def events(raw: bytes) -> list[dict[str, Any]]:
    return sse_events(raw, _check)


def run(chunks: list[StreamChunk], estimate: int = 9) -> list[dict[str, Any]]:
    enc = AnthropicStreamEncoder(estimate)
    return events(b"".join(enc.chunk(c) for c in chunks) + enc.end())


def test_text_stream_is_anthropics_event_sequence_with_exact_usage() -> None:
    out = run(
        [
            chunk({"role": "assistant", "content": ""}),
            chunk({"content": "Hello"}),
            chunk({"content": " world"}),
            chunk({}, "stop"),
            usage_chunk(prompt=20, completion=2, cached=5),
        ]
    )
    assert [e["type"] for e in out] == [
        "message_start",
        "ping",
        "content_block_start",
        "content_block_delta",
        "content_block_delta",
        "content_block_stop",
        "message_delta",
        "message_stop",
    ]
    start = out[0]["message"]
    assert start["id"] == "msg_abc123" and start["model"] == "gpt-4o-mini"
    assert start["content"] == [] and start["stop_reason"] is None
    assert start["usage"]["input_tokens"] == 9  # the estimate; exact counts come at the end
    assert out[2] == {
        "type": "content_block_start",
        "index": 0,
        "content_block": {"type": "text", "text": ""},
    }
    assert [e["delta"] for e in out[3:5]] == [
        {"type": "text_delta", "text": "Hello"},
        {"type": "text_delta", "text": " world"},
    ]
    assert out[6] == {
        "type": "message_delta",
        "delta": {"stop_reason": "end_turn", "stop_sequence": None},
        # Anthropic's input_tokens excludes cache reads: 20 prompt tokens, 5 of them cached
        "usage": {
            "input_tokens": 15,
            "cache_creation_input_tokens": 0,
            "cache_read_input_tokens": 5,
            "output_tokens": 2,
        },
    }


def test_tool_calls_stream_as_tool_use_blocks_with_input_json_deltas() -> None:
    out = run(
        [
            chunk({"role": "assistant", "content": None}),
            chunk({"content": "Let me check."}),
            *TWO_CALLS,
        ]
    )
    kinds = [(e["type"], e.get("index")) for e in out]
    assert kinds == [
        ("message_start", None),
        ("ping", None),
        ("content_block_start", 0),
        ("content_block_delta", 0),
        ("content_block_stop", 0),
        ("content_block_start", 1),
        ("content_block_delta", 1),
        ("content_block_delta", 1),
        ("content_block_stop", 1),
        ("content_block_start", 2),
        ("content_block_delta", 2),
        ("content_block_stop", 2),
        ("message_delta", None),
        ("message_stop", None),
    ]
    assert out[5]["content_block"] == {
        "type": "tool_use",
        "id": "call_0",
        "name": "get_weather",
        "input": {},
    }
    parts = [e["delta"] for e in out if e.get("index") == 1 and e["type"] == "content_block_delta"]
    assert all(p["type"] == "input_json_delta" for p in parts)
    assert orjson.loads("".join(p["partial_json"] for p in parts)) == {"city": "Paris"}
    assert out[-2]["delta"]["stop_reason"] == "tool_use"


def test_stream_without_upstream_usage_counts_output_and_empty_stream_has_one_text_block() -> None:
    out = run([chunk({"content": "abcdefgh"}), chunk({}, "length")])
    assert out[-2]["usage"] == {"output_tokens": 2}  # 8 characters, as the ledger counts them
    assert out[-2]["delta"]["stop_reason"] == "max_tokens"
    empty = run([])
    assert [e["type"] for e in empty] == [
        "message_start",
        "ping",
        "content_block_start",
        "content_block_stop",
        "message_delta",
        "message_stop",
    ]
    assert empty[0]["message"]["id"].startswith("msg_")


def test_cache_writes_reported_by_the_upstream_leave_input_tokens() -> None:
    usage = usage_chunk(100, 3, cached=30)
    usage.data["usage"]["prompt_tokens_details"]["cache_write_tokens"] = 20
    out = run([chunk({"content": "x"}, "stop"), usage])
    assert out[-2]["usage"] == {
        "input_tokens": 50,
        "cache_creation_input_tokens": 20,
        "cache_read_input_tokens": 30,
        "output_tokens": 3,
    }


def test_complete_answer_is_a_message_with_parsed_tool_input_and_cache_free_input() -> None:
    body = completion(
        {
            "role": "assistant",
            "content": "Checking.",
            "tool_calls": [
                {
                    "id": "call_1",
                    "type": "function",
                    "function": {"name": "get_weather", "arguments": '{"city":"Paris","days":2}'},
                },
                {
                    "id": "call_2",
                    "type": "function",
                    "function": {"name": "get_weather", "arguments": '{"city":'},  # cut short
                },
            ],
        },
        "tool_calls",
    )
    usage = Usage(input_tokens=100, output_tokens=7, cached_input_tokens=30, cache_write_tokens=20)
    msg = message(LLMResponse(body=body, usage=usage))
    at.Message.model_validate(msg)
    assert msg["id"] == "msg_xyz" and msg["model"] == "gpt-4o-mini-2024-07-18"
    assert msg["content"] == [
        {"type": "text", "text": "Checking."},
        {
            "type": "tool_use",
            "id": "call_1",
            "name": "get_weather",
            "input": {"city": "Paris", "days": 2},
        },
        {"type": "tool_use", "id": "call_2", "name": "get_weather", "input": {}},
    ]
    assert (msg["stop_reason"], msg["stop_sequence"]) == ("tool_use", None)
    assert msg["usage"] == {
        "input_tokens": 50,
        "cache_creation_input_tokens": 20,
        "cache_read_input_tokens": 30,
        "output_tokens": 7,
    }


@pytest.mark.parametrize(
    ("finish", "extra", "expected"),
    [
        ("stop", {}, ("end_turn", None)),
        ("length", {}, ("max_tokens", None)),
        ("content_filter", {}, ("refusal", None)),
        # vLLM names the stop string that ended the answer
        ("stop", {"stop_reason": "###"}, ("stop_sequence", "###")),
    ],
)
def test_stop_reasons(finish: str, extra: dict[str, Any], expected: tuple[str, str | None]) -> None:
    body = completion({"role": "assistant", "content": "x"}, finish, **extra)
    msg = message(LLMResponse(body=body, usage=Usage()))
    assert (msg["stop_reason"], msg["stop_sequence"]) == expected
    out = run([chunk({"content": "x"}, finish, **extra)])
    assert (out[-2]["delta"]["stop_reason"], out[-2]["delta"]["stop_sequence"]) == expected


@pytest.mark.parametrize(
    ("exc", "expected"),
    [
        (InvalidRequest("bad"), (400, "invalid_request_error")),
        (PayloadTooLarge("big"), (413, "request_too_large")),
        (AuthenticationError("who"), (401, "authentication_error")),
        (ModelNotFound("m"), (404, "not_found_error")),
        (PermissionDenied("no"), (403, "permission_error")),
        (BudgetExceeded("spent", scope="project=a"), (429, "rate_limit_error")),
        (
            UpstreamStatusError(429, "slow down", upstream_type="rate_limit_error"),
            (429, "rate_limit_error"),
        ),
        # overloaded, from an Anthropic upstream (its 529 became a 503) or any other upstream
        (
            UpstreamStatusError(503, "Overloaded", upstream_type="overloaded_error"),
            (529, "overloaded_error"),
        ),
        (UpstreamStatusError(503, "busy", upstream_type="server_error"), (529, "overloaded_error")),
        (UpstreamStatusError(400, "pay up", upstream_type="billing_error"), (400, "billing_error")),
        (
            UpstreamStatusError(400, "bad", upstream_type="invalid_value"),
            (400, "invalid_request_error"),
        ),
        (UpstreamStatusError(422, "bad"), (422, "invalid_request_error")),
        (UpstreamTimeout("slow"), (504, "timeout_error")),
        (UpstreamProtocolError("garbled"), (502, "api_error")),
        (InternalError("oops"), (500, "api_error")),
        (StateUnavailable("redis down"), (503, "api_error")),  # not an upstream overload
    ],
)
def test_error_status_and_type(exc: DaytwoError, expected: tuple[int, str]) -> None:
    assert error_status(exc) == expected


def test_error_after_the_first_byte_is_an_error_event() -> None:
    enc = AnthropicStreamEncoder(1)
    enc.chunk(chunk({"content": "Hel"}))
    (evt,) = events(
        enc.error(UpstreamStatusError(503, "Overloaded", upstream_type="overloaded_error"))
    )
    assert evt == {"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}}
    at.ErrorResponse.model_validate(evt)
