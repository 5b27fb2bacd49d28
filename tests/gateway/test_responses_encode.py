"""OpenAI-shaped chat answers → Responses API wire format (gateway/responses_encode.py).

Every event and response object is validated against the official ``openai`` SDK's models
(``ResponseStreamEvent``, ``Response``), so a required field cannot go missing unnoticed. The
OpenAI-shaped input, after OpenAI's references, comes from tests/gateway/encode_harness.py.
"""

from __future__ import annotations

from typing import Any

import orjson
import pytest
from openai.types.responses import Response, ResponseStreamEvent
from pydantic import TypeAdapter
from tests.gateway.encode_harness import TWO_CALLS, chunk, completion, sse_events, usage_chunk

from daytwo.core.errors import UpstreamProtocolError, UpstreamStatusError
from daytwo.core.types import LLMResponse, StreamChunk, Usage
from daytwo.gateway.responses_encode import ResponsesStreamEncoder, default_echo, response

EVENT = TypeAdapter(ResponseStreamEvent)


def events(raw: bytes) -> list[dict[str, Any]]:
    out = sse_events(raw, EVENT.validate_python)
    assert [e["sequence_number"] for e in out] == list(range(len(out)))
    return out


def run(chunks: list[StreamChunk], echo: dict[str, Any] | None = None) -> list[dict[str, Any]]:
    enc = ResponsesStreamEncoder(echo or default_echo(), input_estimate=9)
    return events(b"".join(enc.chunk(c) for c in chunks) + enc.end())


def test_text_stream_is_the_responses_event_sequence() -> None:
    echo = {**default_echo(), "instructions": "Be brief.", "max_output_tokens": 50}
    out = run(
        [
            chunk({"role": "assistant", "content": ""}),
            chunk({"content": "Hello"}),
            chunk({"content": " world"}),
            chunk({}, "stop"),
            usage_chunk(20, 2, cached=5),
        ],
        echo,
    )
    assert [e["type"] for e in out] == [
        "response.created",
        "response.in_progress",
        "response.output_item.added",
        "response.content_part.added",
        "response.output_text.delta",
        "response.output_text.delta",
        "response.output_text.done",
        "response.content_part.done",
        "response.output_item.done",
        "response.completed",
    ]
    created = out[0]["response"]
    assert created["id"].startswith("resp_") and created["status"] == "in_progress"
    assert created["output"] == [] and created["instructions"] == "Be brief."
    item = out[2]["item"]
    assert (item["type"], item["status"], item["content"]) == ("message", "in_progress", [])
    assert item["id"].startswith("msg_")
    assert {e["item_id"] for e in out[3:9] if "item_id" in e} == {item["id"]}
    assert [e["delta"] for e in out[4:6]] == ["Hello", " world"]
    assert out[6]["text"] == "Hello world"
    final = out[-1]["response"]
    Response.model_validate(final)
    assert final["id"] == created["id"] and final["status"] == "completed"
    assert final["store"] is False and final["max_output_tokens"] == 50
    assert final["output"] == [
        {
            "id": item["id"],
            "type": "message",
            "status": "completed",
            "role": "assistant",
            "content": [
                {"type": "output_text", "text": "Hello world", "annotations": [], "logprobs": []}
            ],
        }
    ]
    assert final["usage"] == {
        "input_tokens": 20,
        "input_tokens_details": {"cached_tokens": 5, "cache_write_tokens": 0},
        "output_tokens": 2,
        "output_tokens_details": {"reasoning_tokens": 0},
        "total_tokens": 22,
    }


def test_function_calls_are_items_with_argument_deltas() -> None:
    out = run(
        [
            chunk({"content": "Checking."}),
            *TWO_CALLS,
        ]
    )
    kinds = [(e["type"], e.get("output_index")) for e in out]
    assert kinds == [
        ("response.created", None),
        ("response.in_progress", None),
        ("response.output_item.added", 0),
        ("response.content_part.added", 0),
        ("response.output_text.delta", 0),
        ("response.output_text.done", 0),
        ("response.content_part.done", 0),
        ("response.output_item.done", 0),
        ("response.output_item.added", 1),
        ("response.function_call_arguments.delta", 1),
        ("response.function_call_arguments.delta", 1),
        ("response.output_item.added", 2),
        ("response.function_call_arguments.delta", 2),
        ("response.function_call_arguments.done", 1),
        ("response.output_item.done", 1),
        ("response.function_call_arguments.done", 2),
        ("response.output_item.done", 2),
        ("response.completed", None),
    ]
    added = out[8]["item"]
    assert (added["type"], added["call_id"], added["name"], added["arguments"]) == (
        "function_call",
        "call_0",
        "get_weather",
        "",
    )
    assert out[13]["arguments"] == '{"city": "Paris"}'
    final = out[-1]["response"]
    assert [(i["type"], i["status"]) for i in final["output"]] == [
        ("message", "completed"),
        ("function_call", "completed"),
        ("function_call", "completed"),
    ]
    assert orjson.loads(final["output"][2]["arguments"]) == {"city": "Oslo"}


def test_length_ends_as_incomplete() -> None:
    out = run([chunk({"content": "Once upon"}), chunk({}, "length")])
    final = out[-1]
    assert final["type"] == "response.incomplete"
    assert final["response"]["status"] == "incomplete"
    assert final["response"]["incomplete_details"] == {"reason": "max_output_tokens"}
    assert final["response"]["output"][0]["status"] == "incomplete"
    # no usage from upstream: counted, as the ledger counts it (9 characters → 3 tokens)
    assert final["response"]["usage"]["output_tokens"] == 3
    assert final["response"]["usage"]["input_tokens"] == 9


def test_empty_stream_has_one_empty_message() -> None:
    out = run([])
    assert out[-1]["response"]["output"][0]["content"][0]["text"] == ""
    assert out[-1]["type"] == "response.completed"


def test_error_mid_stream_is_response_failed_then_an_error_event() -> None:
    enc = ResponsesStreamEncoder(default_echo(), input_estimate=1)
    head = enc.chunk(chunk({"content": "Hel"}))
    exc = UpstreamStatusError(
        429, "Rate limit reached", upstream_type="rate_limit_error", code="rate_limit_exceeded"
    )
    out = events(head + enc.error(exc))
    failed, error = out[-2:]
    assert failed["type"] == "response.failed"
    assert failed["response"]["status"] == "failed"
    assert failed["response"]["error"] == {
        "code": "rate_limit_exceeded",
        "message": "Rate limit reached",
    }
    assert failed["response"]["output"][0]["status"] == "incomplete"
    # flat (the documented schema) and nested (what the API sends; the SDK raises on it)
    assert error == {
        "type": "error",
        "code": "rate_limit_exceeded",
        "message": "Rate limit reached",
        "param": None,
        "error": {
            "type": "rate_limit_error",
            "code": "rate_limit_exceeded",
            "message": "Rate limit reached",
            "param": None,
        },
        "sequence_number": out[-1]["sequence_number"],
    }
    other = ResponsesStreamEncoder(default_echo(), 1)
    head = other.chunk(chunk({"content": "x"}))
    failed = events(head + other.error(UpstreamProtocolError("cut")))[-2]
    assert failed["response"]["error"]["code"] == "server_error"


def test_complete_answer_is_a_response_object() -> None:
    body = completion(
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {
                    "id": "call_1",
                    "type": "function",
                    "function": {"name": "get_weather", "arguments": '{"city":"Paris"}'},
                }
            ],
        },
        "tool_calls",
    )
    usage = Usage(input_tokens=40, output_tokens=9, cached_input_tokens=10, reasoning_tokens=4)
    echo = {**default_echo(), "tool_choice": "required"}
    obj = response(LLMResponse(body=body, usage=usage), echo)
    parsed = Response.model_validate(obj)
    assert parsed.output_text == ""  # the SDK computes it; calls have no text
    assert obj["created_at"] == 1_700_000_123 and obj["model"] == "gpt-4o-mini-2024-07-18"
    assert obj["status"] == "completed" and obj["incomplete_details"] is None
    assert obj["tool_choice"] == "required" and obj["store"] is False
    (item,) = obj["output"]
    assert item["id"].startswith("fc_")
    assert {k: item[k] for k in ("type", "status", "call_id", "name", "arguments")} == {
        "type": "function_call",
        "status": "completed",
        "call_id": "call_1",
        "name": "get_weather",
        "arguments": '{"city":"Paris"}',
    }
    assert obj["usage"]["input_tokens_details"]["cached_tokens"] == 10
    assert obj["usage"]["output_tokens_details"]["reasoning_tokens"] == 4
    assert "output_text" not in obj


@pytest.mark.parametrize(
    ("finish", "status", "reason"),
    [("stop", "completed", None), ("length", "incomplete", "max_output_tokens")],
)
def test_complete_answer_status(finish: str, status: str, reason: str | None) -> None:
    body = completion({"role": "assistant", "content": "Hi there"}, finish)
    obj = response(LLMResponse(body=body, usage=Usage(5, 2)), default_echo())
    assert Response.model_validate(obj).output_text == "Hi there"
    assert obj["status"] == status and obj["output"][0]["status"] == status
    assert obj["incomplete_details"] == ({"reason": reason} if reason else None)
