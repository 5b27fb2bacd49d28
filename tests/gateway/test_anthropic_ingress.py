"""The Anthropic Messages door: the official ``anthropic`` SDK pointed at the gateway, routed to
an OpenAI-format upstream (the in-process ``type: sim`` provider) and to an Anthropic upstream
(``type: anthropic`` → the simulator's ``/v1/messages`` over loopback), with the ledger row each
call leaves."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import anthropic
import pytest
from tests.gateway.harness import RunningGateway, http
from tests.gateway.ingress_harness import (
    CUT,
    FaultyDoors,
    assert_error_row,
    assert_ok_row,
    each_upstream,
    two_upstreams,
)

from daytwo.config.schema import SimFaults
from daytwo.core.errors import InvalidRequest
from daytwo.gateway.anthropic_ingress import parse_messages
from daytwo.keys.model import KeySpec
from daytwo.keys.store import KeyStore

integration = pytest.mark.integration

USER = [{"role": "user", "content": "Say something."}]
WEATHER = {
    "name": "get_weather",
    "description": "Weather for a city",
    "input_schema": {
        "type": "object",
        "properties": {"city": {"type": "string"}, "days": {"type": "integer"}},
        "required": ["city", "days"],
    },
}


def client(gw: RunningGateway, key: str = "unused") -> anthropic.Anthropic:
    return anthropic.Anthropic(base_url=gw.url, api_key=key, max_retries=0)


def row_matches(row: dict[str, Any], provider: str, served: str, usage: Any) -> None:
    assert_ok_row(row, provider, served)
    # the ledger counts all input; Anthropic's input_tokens leaves the cached parts out
    cached = (usage.cache_read_input_tokens or 0) + (usage.cache_creation_input_tokens or 0)
    assert row["input_tokens"] == usage.input_tokens + cached
    assert row["output_tokens"] == usage.output_tokens


@each_upstream
def test_create_answers_a_message_and_is_recorded(
    doors_gw: RunningGateway, alias: str, provider: str, served: str
) -> None:
    with client(doors_gw) as c:
        raw = c.messages.with_raw_response.create(model=alias, max_tokens=200, messages=USER)
        short = c.messages.create(model=alias, max_tokens=3, messages=USER)
    msg = raw.parse()
    assert msg.type == "message" and msg.role == "assistant" and msg.id.startswith("msg_")
    assert msg.model == served and msg.stop_reason == "end_turn" and msg.stop_sequence is None
    (block,) = msg.content
    assert block.type == "text" and block.text
    assert msg.usage.input_tokens > 0 and msg.usage.output_tokens > 0
    row_matches(doors_gw.record(raw.headers["x-daytwo-call-id"]), provider, served, msg.usage)
    assert short.stop_reason == "max_tokens" and short.usage.output_tokens == 3


@each_upstream
def test_async_create_and_stream_helper(
    doors_gw: RunningGateway, alias: str, provider: str, served: str
) -> None:
    async def run() -> tuple[anthropic.types.Message, list[str], anthropic.types.Message]:
        async with anthropic.AsyncAnthropic(
            base_url=doors_gw.url, api_key="unused", max_retries=0
        ) as c:
            msg = await c.messages.create(model=alias, max_tokens=100, messages=USER)
            async with c.messages.stream(model=alias, max_tokens=100, messages=USER) as s:
                texts = [t async for t in s.text_stream]
                final = await s.get_final_message()
            return msg, texts, final

    msg, texts, final = asyncio.run(run())
    assert msg.content[0].type == "text" and msg.content[0].text
    assert texts and "".join(texts) == final.content[0].text  # type: ignore[union-attr]
    assert final.stop_reason == "end_turn" and final.model == served
    (row,) = [r for r in doors_gw.records() if r["stream"]]
    row_matches(row, provider, served, final.usage)


@each_upstream
def test_raw_stream_is_anthropics_event_sequence(
    doors_gw: RunningGateway, alias: str, provider: str, served: str
) -> None:
    with client(doors_gw) as c:
        stream = c.messages.create(model=alias, max_tokens=100, messages=USER, stream=True)
        events = list(stream)
    types = [e.type for e in events]
    # ping events are consumed by the SDK
    assert types[:2] == ["message_start", "content_block_start"]
    assert types[-3:] == ["content_block_stop", "message_delta", "message_stop"]
    assert set(types[2:-3]) == {"content_block_delta"}
    delta = events[-2]
    assert delta.type == "message_delta" and delta.delta.stop_reason == "end_turn"
    (row,) = doors_gw.records()
    assert row["input_tokens"] == delta.usage.input_tokens  # the exact count, at the end
    assert row["output_tokens"] == delta.usage.output_tokens == len(types) - 5
    assert (row["provider"], row["served_model"], row["status"]) == (provider, served, "ok")


@each_upstream
def test_tool_use_plain_and_streamed_then_tool_result(
    doors_gw: RunningGateway, alias: str, provider: str, served: str
) -> None:
    forced = {"type": "tool", "name": "get_weather"}
    with client(doors_gw) as c:
        msg = c.messages.create(
            model=alias, max_tokens=200, messages=USER, tools=[WEATHER], tool_choice=forced
        )
        with c.messages.stream(
            model=alias, max_tokens=200, messages=USER, tools=[WEATHER], tool_choice=forced
        ) as s:
            raw_events = list(s)
            streamed = s.get_final_message()
        (use,) = msg.content
        assert use.type == "tool_use"
        follow_up = c.messages.create(
            model=alias,
            max_tokens=200,
            tools=[WEATHER],
            messages=[
                *USER,
                {"role": "assistant", "content": [use.model_dump()]},
                {
                    "role": "user",
                    "content": [{"type": "tool_result", "tool_use_id": use.id, "content": "Sunny"}],
                },
            ],
        )
    assert msg.stop_reason == "tool_use" and use.name == "get_weather"
    assert set(use.input) == {"city", "days"}  # type: ignore[arg-type]
    assert isinstance(use.input["days"], int)  # type: ignore[index]
    (suse,) = streamed.content
    assert suse.type == "tool_use" and set(suse.input) == {"city", "days"}  # type: ignore[arg-type]
    deltas = [e for e in raw_events if e.type == "content_block_delta"]
    assert deltas and all(e.delta.type == "input_json_delta" for e in deltas)
    # the tool's result went back up: the model now answers in text
    assert follow_up.stop_reason == "end_turn" and follow_up.content[0].type == "text"
    rows = doors_gw.records()
    assert [r["status"] for r in rows] == ["ok"] * 3
    assert {(r["provider"], r["served_model"]) for r in rows} == {(provider, served)}


@each_upstream
def test_system_prompt_reaches_the_upstream(
    doors_gw: RunningGateway, alias: str, provider: str, served: str
) -> None:
    system = "You are a terse assistant. " * 40  # ~1000 characters, ~250 tokens
    with client(doors_gw) as c:
        bare = c.messages.create(model=alias, max_tokens=20, messages=USER)
        told = c.messages.create(
            model=alias,
            max_tokens=20,
            messages=USER,
            system=[{"type": "text", "text": system}],
        )
    assert told.usage.input_tokens - bare.usage.input_tokens >= 200


@integration
def test_unknown_model_and_bad_request_are_anthropic_errors(doors_gw: RunningGateway) -> None:
    with client(doors_gw) as c, pytest.raises(anthropic.NotFoundError) as info:
        c.messages.create(model="no-such-model", max_tokens=10, messages=USER)
    assert info.value.status_code == 404
    assert info.value.body == {
        "type": "error",
        "error": {
            "type": "not_found_error",
            "message": "The model `no-such-model` does not exist or you do not have access to it.",
        },
    }
    body = json.dumps({"model": "via-sim", "messages": USER}).encode()
    status, _, raw = http("POST", doors_gw.url + "/v1/messages", body)
    assert status == 400
    assert json.loads(raw) == {
        "type": "error",
        "error": {"type": "invalid_request_error", "message": "max_tokens: Field required"},
    }
    rows = doors_gw.records()
    assert [(r["status"], r["http_status"]) for r in rows] == [("rejected", 404), ("rejected", 400)]


@each_upstream
def test_upstream_429_keeps_its_class_and_retry_after(
    faulty_doors: FaultyDoors, alias: str, provider: str, served: str
) -> None:
    with (
        faulty_doors(SimFaults(rate_429=1.0, retry_after_s=3)) as gw,
        client(gw) as c,
        pytest.raises(anthropic.RateLimitError) as info,
    ):
        c.messages.create(model=alias, max_tokens=10, messages=USER)
    err = info.value
    assert err.status_code == 429 and err.type == "rate_limit_error"
    assert err.response.headers["retry-after"] == "3"
    assert_error_row(gw, provider, http_status=429)


@each_upstream
def test_overloaded_upstream_is_a_529(
    faulty_doors: FaultyDoors, alias: str, provider: str, served: str
) -> None:
    # An OpenAI-format upstream answers 503; Anthropic's own answers 529 overloaded_error.
    with (
        faulty_doors(SimFaults(rate_503=1.0)) as gw,
        client(gw) as c,
        pytest.raises(anthropic.OverloadedError) as info,
    ):
        c.messages.create(model=alias, max_tokens=10, messages=USER, stream=True)
    assert info.value.status_code == 529 and info.value.type == "overloaded_error"
    assert_error_row(gw, provider)


@each_upstream
def test_stream_cut_mid_way_ends_with_an_error_event(
    faulty_doors: FaultyDoors, alias: str, provider: str, served: str
) -> None:
    seen: list[str] = []

    def consume(c: anthropic.Anthropic) -> None:
        for event in c.messages.create(model=alias, max_tokens=100, messages=USER, stream=True):
            seen.append(event.type)

    with (
        faulty_doors(SimFaults(rate_reset=1.0), **CUT) as gw,
        client(gw) as c,
        pytest.raises(anthropic.APIStatusError) as info,
    ):
        consume(c)
    assert seen[0] == "message_start" and "content_block_delta" in seen
    assert "message_stop" not in seen
    assert info.value.type == "api_error"
    assert_error_row(gw, provider, stream=1, error_class="UpstreamProtocolError")


@integration
def test_x_api_key_is_the_daytwo_key(
    tmp_path: Path, sim_root: str, gateway_factory: Callable[..., RunningGateway]
) -> None:
    cfg = two_upstreams(tmp_path, sim_root)
    cfg["gateway"] = {"require_keys": True}
    gw = gateway_factory(cfg)
    store = KeyStore.open(cfg["ledger"]["url"])
    try:
        issued = store.create(KeySpec(project="claude-code"), actor="test")
        gw.app.keys.refresh()  # type: ignore[union-attr]
    finally:
        store.close()
    with client(gw, issued.secret) as c:
        raw = c.messages.with_raw_response.create(model="via-sim", max_tokens=10, messages=USER)
    row = gw.record(raw.headers["x-daytwo-call-id"])
    assert (row["status"], row["project"], row["key_id"]) == ("ok", "claude-code", issued.record.id)
    with client(gw, "dt2_sk_notakey") as c, pytest.raises(anthropic.AuthenticationError) as info:
        c.messages.create(model="via-sim", max_tokens=10, messages=USER)
    assert info.value.status_code == 401 and info.value.type == "authentication_error"


# ------------------------------------------------------------------ request checks (no I/O)


@pytest.mark.parametrize(
    ("body", "param", "message"),
    [
        ({"max_tokens": 5, "messages": USER}, "model", "model: Field required"),
        ({"model": "m", "messages": USER}, "max_tokens", "max_tokens: Field required"),
        ({"model": "m", "max_tokens": 5}, "messages", "messages: Field required"),
        (
            {"model": "m", "max_tokens": 0, "messages": USER},
            "max_tokens",
            "max_tokens: Input should be greater than or equal to 1",
        ),
        (
            {"model": "m", "max_tokens": 5, "messages": [{"role": "system", "content": "x"}]},
            "messages.0.role",
            "messages.0.role: Input should be 'user' or 'assistant'",
        ),
        (
            {"model": "m", "max_tokens": 5, "messages": USER, "stop_sequences": "END"},
            "stop_sequences",
            "stop_sequences: Input should be a valid list of strings",
        ),
        (
            {"model": "m", "max_tokens": 5, "messages": USER, "stream": "yes"},
            "stream",
            "stream: Input should be a valid boolean",
        ),
        (
            {"model": "m", "max_tokens": 5, "messages": USER, "output_config": {"effort": "lots"}},
            "output_config.effort",
            "output_config.effort: Input should be 'low', 'medium', 'high', 'xhigh', 'max'",
        ),
        (
            {
                "model": "m",
                "max_tokens": 5,
                "messages": USER,
                "output_config": {"format": {"type": "json_schema", "schema": "{}"}},
            },
            "output_config.format.schema",
            "output_config.format.schema: Input should be a valid dictionary",
        ),
        (
            {"model": "m", "max_tokens": 5, "messages": USER, "cache_control": "ephemeral"},
            "cache_control",
            "cache_control: Input should be a valid dictionary",
        ),
    ],
)
def test_request_checks_name_the_field(body: dict[str, Any], param: str, message: str) -> None:
    with pytest.raises(InvalidRequest) as info:
        parse_messages(json.dumps(body).encode())
    assert (info.value.param, info.value.message) == (param, message)


def test_request_translates_to_the_normalized_chat_body() -> None:
    body = {
        "model": "claude-x",
        "max_tokens": 64,
        "system": "Be brief.",
        "stop_sequences": ["END"],
        "stream": True,
        "metadata": {"user_id": "u-1"},
        "tools": [WEATHER],
        "tool_choice": {"type": "any"},
        "messages": [
            {"role": "user", "content": "Weather in Paris?"},
            {
                "role": "assistant",
                "content": [
                    {
                        "type": "tool_use",
                        "id": "toolu_1",
                        "name": "get_weather",
                        "input": {"city": "Paris"},
                    }
                ],
            },
            {
                "role": "user",
                "content": [{"type": "tool_result", "tool_use_id": "toolu_1", "content": "Sunny"}],
            },
        ],
    }
    req = parse_messages(json.dumps(body).encode())
    assert (req.model, req.stream, req.operation) == ("claude-x", True, "chat")
    chat = req.body
    assert chat["messages"] == [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "Weather in Paris?"},
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {
                    "id": "toolu_1",
                    "type": "function",
                    "function": {"name": "get_weather", "arguments": '{"city":"Paris"}'},
                }
            ],
        },
        {"role": "tool", "tool_call_id": "toolu_1", "content": "Sunny"},
    ]
    assert chat["max_tokens"] == 64 and chat["stop"] == ["END"] and chat["user"] == "u-1"
    assert chat["tool_choice"] == "required"
    assert chat["tools"][0]["function"]["parameters"] == WEATHER["input_schema"]
    assert chat["stream_options"] == {"include_usage": True}


def test_the_clients_body_and_betas_are_kept_for_an_anthropic_upstream() -> None:
    body = {
        "model": "m",
        "max_tokens": 2000,
        "messages": [{"role": "user", "content": [{"type": "text", "text": "hi"}]}],
        "system": [{"type": "text", "text": "Be kind.", "cache_control": {"type": "ephemeral"}}],
        "thinking": {"type": "enabled", "budget_tokens": 1024},
    }
    beta = {b"anthropic-beta": b"a-2025-01-01, b-2025-02-02"}
    req = parse_messages(json.dumps(body).encode(), beta)
    assert req.native is not None
    assert (req.native.wire, req.native.body, req.native.beta, req.native.requires) == (
        "anthropic",
        body,
        ("a-2025-01-01", "b-2025-02-02"),
        "thinking",
    )
    effort = {**body, "thinking": {"type": "disabled"}, "output_config": {"effort": "high"}}
    assert parse_messages(json.dumps(effort).encode()).native.requires == "output_config.effort"  # type: ignore[union-attr]
    plain = {**body, "thinking": {"type": "disabled"}}
    assert parse_messages(json.dumps(plain).encode()).native.requires is None  # type: ignore[union-attr]
