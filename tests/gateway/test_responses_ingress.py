"""The OpenAI Responses door: the official ``openai`` SDK's ``client.responses`` pointed at the
gateway, routed to an OpenAI-format upstream (the in-process ``type: sim`` provider) and to an
Anthropic upstream (``type: anthropic`` → the simulator's ``/v1/messages`` over loopback), with
the ledger row each call leaves."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import openai
import pytest
from tests.gateway.harness import RunningGateway
from tests.gateway.ingress_harness import (
    CUT,
    FaultyDoors,
    assert_error_row,
    assert_ok_row,
    each_upstream,
)

from daytwo.config.schema import SimFaults
from daytwo.core.errors import InvalidRequest
from daytwo.gateway.responses_ingress import parse_responses

integration = pytest.mark.integration

WEATHER = {
    "type": "function",
    "name": "get_weather",
    "description": "Weather for a city",
    "parameters": {
        "type": "object",
        "properties": {"city": {"type": "string"}, "days": {"type": "integer"}},
        "required": ["city", "days"],
        "additionalProperties": False,
    },
    "strict": True,
}


def row_matches(row: dict[str, Any], provider: str, served: str, usage: Any) -> None:
    assert_ok_row(row, provider, served)
    assert row["input_tokens"] == usage.input_tokens  # both include cached input
    assert row["cached_input_tokens"] == usage.input_tokens_details.cached_tokens
    assert row["output_tokens"] == usage.output_tokens


@each_upstream
def test_create_answers_a_response_and_is_recorded(
    doors_gw: RunningGateway, alias: str, provider: str, served: str
) -> None:
    with doors_gw.openai() as c:
        raw = c.responses.with_raw_response.create(
            model=alias, instructions="Be brief.", input="Say something.", store=True
        )
        short = c.responses.create(model=alias, input="Say something.", max_output_tokens=16)
    resp = raw.parse()
    assert resp.id.startswith("resp_") and resp.object == "response"
    assert resp.status == "completed" and resp.store is False and resp.model == served
    (item,) = resp.output
    assert item.type == "message" and item.id.startswith("msg_") and item.status == "completed"
    assert resp.output_text and resp.output_text == item.content[0].text  # type: ignore[union-attr]
    assert resp.usage is not None and resp.usage.total_tokens > 0
    row_matches(doors_gw.record(raw.headers["x-daytwo-call-id"]), provider, served, resp.usage)
    assert short.status == "incomplete"
    assert short.incomplete_details is not None
    assert short.incomplete_details.reason == "max_output_tokens"
    assert short.usage is not None and short.usage.output_tokens == 16


@each_upstream
def test_stream_events_and_stream_helper(
    doors_gw: RunningGateway, alias: str, provider: str, served: str
) -> None:
    with doors_gw.openai() as c:
        events = list(
            c.responses.create(
                model=alias, instructions="Be brief.", input="Say something.", stream=True
            )
        )
        with c.responses.stream(model=alias, input="Say something.") as s:
            deltas = [e.delta for e in s if e.type == "response.output_text.delta"]
            final = s.get_final_response()
    types = [e.type for e in events]
    assert types[:4] == [
        "response.created",
        "response.in_progress",
        "response.output_item.added",
        "response.content_part.added",
    ]
    assert types[-4:] == [
        "response.output_text.done",
        "response.content_part.done",
        "response.output_item.done",
        "response.completed",
    ]
    assert set(types[4:-4]) == {"response.output_text.delta"}
    assert [e.sequence_number for e in events] == list(range(len(events)))
    done = events[-1]
    assert done.type == "response.completed"
    assert done.response.instructions == "Be brief." and done.response.model == served
    text = "".join(e.delta for e in events if e.type == "response.output_text.delta")
    assert text == done.response.output_text
    assert deltas and "".join(deltas) == final.output_text
    rows = [r for r in doors_gw.records() if r["stream"]]
    assert len(rows) == 2
    row_matches(rows[0], provider, served, done.response.usage)
    row_matches(rows[1], provider, served, final.usage)


@each_upstream
def test_async_create(doors_gw: RunningGateway, alias: str, provider: str, served: str) -> None:
    async def run() -> Any:
        async with openai.AsyncOpenAI(base_url=doors_gw.base_url, api_key="x", max_retries=0) as c:
            return await c.responses.create(model=alias, input="Say something.")

    resp = asyncio.run(run())
    assert resp.output_text and resp.status == "completed"
    (row,) = doors_gw.records()
    row_matches(row, provider, served, resp.usage)


@each_upstream
def test_function_tools_plain_streamed_and_their_output_sent_back(
    doors_gw: RunningGateway, alias: str, provider: str, served: str
) -> None:
    with doors_gw.openai() as c:
        resp = c.responses.create(
            model=alias, input="Weather in Paris?", tools=[WEATHER], tool_choice="required"
        )
        events = list(
            c.responses.create(
                model=alias,
                input="Weather in Paris?",
                tools=[WEATHER],
                tool_choice={"type": "function", "name": "get_weather"},
                stream=True,
            )
        )
        (call,) = resp.output
        assert call.type == "function_call"
        follow_up = c.responses.create(
            model=alias,
            tools=[WEATHER],
            input=[
                {"role": "user", "content": "Weather in Paris?"},
                {
                    "type": "function_call",
                    "call_id": call.call_id,
                    "name": call.name,
                    "arguments": call.arguments,
                },
                {"type": "function_call_output", "call_id": call.call_id, "output": "Sunny"},
            ],
        )
    assert call.name == "get_weather" and call.id and call.id.startswith("fc_")
    assert set(json.loads(call.arguments)) == {"city", "days"}
    assert resp.output_text == ""
    args = "".join(e.delta for e in events if e.type == "response.function_call_arguments.delta")
    (done,) = [e for e in events if e.type == "response.function_call_arguments.done"]
    assert args == done.arguments and set(json.loads(args)) == {"city", "days"}
    assert events[-1].type == "response.completed"
    # the call's output went back up: the model now answers in text
    assert follow_up.output_text and follow_up.output[0].type == "message"
    rows = doors_gw.records()
    assert [r["status"] for r in rows] == ["ok"] * 3
    assert {(r["provider"], r["served_model"]) for r in rows} == {(provider, served)}


@integration
def test_json_schema_text_format(doors_gw: RunningGateway) -> None:
    fmt = {
        "type": "json_schema",
        "name": "city",
        "strict": True,
        "schema": {
            "type": "object",
            "properties": {"name": {"type": "string"}, "population": {"type": "integer"}},
            "required": ["name", "population"],
            "additionalProperties": False,
        },
    }
    with doors_gw.openai() as c:
        resp = c.responses.create(model="via-sim", input="A city, please.", text={"format": fmt})
        # to Anthropic as structured outputs (output_config.format)
        claude = c.responses.create(model="via-anthropic", input="A city.", text={"format": fmt})
        # JSON mode without a schema has no Anthropic counterpart: refused, never ignored
        with pytest.raises(openai.BadRequestError) as info:
            c.responses.create(
                model="via-anthropic", input="A city.", text={"format": {"type": "json_object"}}
            )
    for answer in (resp, claude):
        value = json.loads(answer.output_text)
        assert set(value) == {"name", "population"} and isinstance(value["population"], int)
    assert info.value.body["param"] == "response_format"  # type: ignore[index]


@integration
def test_stored_state_features_are_refused_naming_the_field(doors_gw: RunningGateway) -> None:
    asks: list[tuple[dict[str, Any], str]] = [
        ({"previous_response_id": "resp_123"}, "previous_response_id"),
        ({"conversation": "conv_123"}, "conversation"),
        ({"background": True}, "background"),
        ({"tools": [{"type": "web_search"}]}, "tools[0].type"),
        ({"tools": [{"type": "file_search", "vector_store_ids": ["vs_1"]}]}, "tools[0].type"),
    ]
    with doors_gw.openai() as c:
        for extra, param in asks:
            with pytest.raises(openai.BadRequestError) as info:
                c.responses.create(model="via-sim", input="hi", **extra)
            assert info.value.body["param"] == param  # type: ignore[index]
    assert [r["http_status"] for r in doors_gw.records()] == [400] * len(asks)


@integration
def test_unknown_model_is_not_found(doors_gw: RunningGateway) -> None:
    with doors_gw.openai() as c, pytest.raises(openai.NotFoundError) as info:
        c.responses.create(model="no-such-model", input="hi")
    assert info.value.code == "model_not_found"


@each_upstream
def test_upstream_429_keeps_its_class_and_retry_after(
    faulty_doors: FaultyDoors, alias: str, provider: str, served: str
) -> None:
    with (
        faulty_doors(SimFaults(rate_429=1.0, retry_after_s=3)) as gw,
        gw.openai() as c,
        pytest.raises(openai.RateLimitError) as info,
    ):
        c.responses.create(model=alias, input="hi")
    assert info.value.response.headers["retry-after"] == "3"
    assert info.value.body["type"] == "rate_limit_error"  # type: ignore[index]
    assert_error_row(gw, provider, http_status=429)


@each_upstream
def test_stream_cut_mid_way_fails_the_response(
    faulty_doors: FaultyDoors, alias: str, provider: str, served: str
) -> None:
    seen: list[Any] = []

    def consume(c: openai.OpenAI) -> None:
        seen.extend(c.responses.create(model=alias, input="hi", stream=True))

    with (
        faulty_doors(SimFaults(rate_reset=1.0), **CUT) as gw,
        gw.openai() as c,
        pytest.raises(openai.APIError) as info,
    ):
        consume(c)
    types = [e.type for e in seen]
    assert types[0] == "response.created" and "response.output_text.delta" in types
    assert types[-1] == "response.failed" and "response.completed" not in types
    assert seen[-1].response.status == "failed"
    assert seen[-1].response.error.code == "server_error"
    assert "upstream" in info.value.message
    assert_error_row(gw, provider, error_class="UpstreamProtocolError")


# ------------------------------------------------------------------ request checks (no I/O)


def test_request_translates_to_the_normalized_chat_body() -> None:
    body = {
        "model": "m",
        "instructions": "Be brief.",
        "input": [
            {"role": "developer", "content": "Use metric units."},
            {
                "type": "message",
                "role": "user",
                "content": [
                    {"type": "input_text", "text": "Weather here?"},
                    {"type": "input_image", "image_url": "https://x.test/a.png", "detail": "low"},
                ],
            },
            {"type": "reasoning", "id": "rs_1", "summary": []},
            {
                "type": "message",
                "role": "assistant",
                "content": [{"type": "output_text", "text": "Checking.", "annotations": []}],
            },
            {
                "type": "function_call",
                "call_id": "call_1",
                "name": "get_weather",
                "arguments": "{}",
            },
            {"type": "function_call", "call_id": "call_2", "name": "get_time", "arguments": "{}"},
            {"type": "function_call_output", "call_id": "call_1", "output": "Sunny"},
            {
                "type": "function_call_output",
                "call_id": "call_2",
                "output": [{"type": "input_text", "text": "noon"}],
            },
        ],
        "tools": [WEATHER],
        "tool_choice": {"type": "function", "name": "get_weather"},
        "text": {"format": {"type": "json_object"}, "verbosity": "low"},
        "reasoning": {"effort": "low"},
        "max_output_tokens": 99,
        "temperature": 0.5,
        "metadata": {"project": "p1"},
        "user": "u-1",
        "store": True,
        "include": ["message.output_text.logprobs"],
        "stream": True,
    }
    req = parse_responses(json.dumps(body).encode())
    chat = req.body
    assert chat["messages"] == [
        {"role": "system", "content": "Be brief."},
        {"role": "developer", "content": "Use metric units."},
        {
            "role": "user",
            "content": [
                {"type": "text", "text": "Weather here?"},
                {
                    "type": "image_url",
                    "image_url": {"url": "https://x.test/a.png", "detail": "low"},
                },
            ],
        },
        {
            "role": "assistant",
            "content": "Checking.",
            "tool_calls": [
                {
                    "id": "call_1",
                    "type": "function",
                    "function": {"name": "get_weather", "arguments": "{}"},
                },
                {
                    "id": "call_2",
                    "type": "function",
                    "function": {"name": "get_time", "arguments": "{}"},
                },
            ],
        },
        {"role": "tool", "tool_call_id": "call_1", "content": "Sunny"},
        {"role": "tool", "tool_call_id": "call_2", "content": "noon"},
    ]
    assert chat["tools"] == [
        {
            "type": "function",
            "function": {
                "name": "get_weather",
                "description": "Weather for a city",
                "parameters": WEATHER["parameters"],
                "strict": True,
            },
        }
    ]
    assert chat["tool_choice"] == {"type": "function", "function": {"name": "get_weather"}}
    assert chat["response_format"] == {"type": "json_object"} and chat["verbosity"] == "low"
    assert chat["reasoning_effort"] == "low" and chat["max_completion_tokens"] == 99
    assert (chat["temperature"], chat["metadata"], chat["user"]) == (0.5, {"project": "p1"}, "u-1")
    assert chat["stream"] is True and chat["stream_options"] == {"include_usage": True}
    assert "store" not in chat and "include" not in chat
    assert req.echo["instructions"] == "Be brief." and req.echo["max_output_tokens"] == 99
    assert req.echo["tools"] == [WEATHER] and req.echo["text"]["verbosity"] == "low"


def test_json_schema_format_nests_under_json_schema() -> None:
    fmt = {"type": "json_schema", "name": "x", "schema": {"type": "object"}, "strict": True}
    req = parse_responses(
        json.dumps({"model": "m", "input": "hi", "text": {"format": fmt}}).encode()
    )
    assert req.body["response_format"] == {
        "type": "json_schema",
        "json_schema": {"name": "x", "schema": {"type": "object"}, "strict": True},
    }
    assert req.body["messages"] == [{"role": "user", "content": "hi"}]


@pytest.mark.parametrize(
    ("extra", "param"),
    [
        ({"input": None}, "input"),
        ({"input": 5}, "input"),
        ({"max_output_tokens": "ten"}, "max_output_tokens"),
        ({"prompt": {"id": "pmpt_1"}}, "prompt"),
        ({"input": [{"type": "item_reference", "id": "msg_1"}]}, "input[0]"),
        (
            {"input": [{"role": "user", "content": [{"type": "input_file", "file_id": "f"}]}]},
            "input[0].content[0]",
        ),
        (
            {"input": [{"role": "user", "content": [{"type": "input_image", "file_id": "f"}]}]},
            "input[0].content[0].file_id",
        ),
        ({"input": [{"role": "tool", "content": "x"}]}, "input[0].role"),
        (
            {"input": [{"type": "function_call", "name": "f", "arguments": "{}"}]},
            "input[0].call_id",
        ),
        ({"tool_choice": {"type": "web_search_preview"}}, "tool_choice"),
        ({"text": {"format": {"type": "json_schema", "schema": {}}}}, "text.format.name"),
        ({"text": {"format": {"type": "yaml"}}}, "text.format.type"),
    ],
)
def test_request_checks_name_the_field(extra: dict[str, Any], param: str) -> None:
    body = {"model": "m", "input": "hi", **extra}
    body = {k: v for k, v in body.items() if v is not None}
    with pytest.raises(InvalidRequest) as info:
        parse_responses(json.dumps(body).encode())
    assert info.value.param == param
