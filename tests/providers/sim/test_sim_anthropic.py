"""The simulator's Anthropic Messages route (``POST /v1/messages``) over real loopback HTTP."""

from __future__ import annotations

import http.client
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit

import orjson
import pytest

from daytwo.config.schema import SimFaults, SimSettings
from daytwo.providers.sim.run import running_sim_server

pytestmark = pytest.mark.integration

WEATHER = {
    "name": "get_weather",
    "description": "Get the current weather in a given location",
    "input_schema": {
        "type": "object",
        "properties": {"location": {"type": "string"}},
        "required": ["location"],
    },
}
HELLO = {
    "model": "claude-sonnet-4-5",
    "max_tokens": 1024,
    "messages": [{"role": "user", "content": "Hello"}],
}


@pytest.fixture(scope="module")
def base_url() -> Iterator[str]:
    with running_sim_server(SimSettings(seed=3)) as url:
        yield url


def post(
    base_url: str, body: Any, path: str = "/v1/messages", **headers: str
) -> tuple[int, dict[str, str], bytes]:
    u = urlsplit(base_url)
    conn = http.client.HTTPConnection(u.hostname or "", u.port, timeout=10)
    try:
        data = body if isinstance(body, bytes) else orjson.dumps(body)
        conn.request(
            "POST",
            path,
            body=data,
            headers={"anthropic-version": "2023-06-01", **headers},
        )
        resp = conn.getresponse()
        return resp.status, {k.lower(): v for k, v in resp.getheaders()}, resp.read()
    finally:
        conn.close()


def events(raw: bytes) -> list[tuple[str, dict[str, Any]]]:
    out = []
    for block in raw.split(b"\n\n"):
        if not block.strip():
            continue
        name, data = block.split(b"\n")
        assert name.startswith(b"event: ") and data.startswith(b"data: ")
        payload = orjson.loads(data[6:])
        assert payload["type"] == name[7:].decode()
        out.append((payload["type"], payload))
    return out


def test_message(base_url: str) -> None:
    status, headers, raw = post(base_url, HELLO)
    assert status == 200 and headers["request-id"].startswith("req_")
    assert "anthropic-ratelimit-requests-limit" in headers
    msg = orjson.loads(raw)
    assert msg["type"] == "message" and msg["role"] == "assistant" and msg["id"].startswith("msg_")
    assert msg["model"] == "claude-sonnet-4-5" and msg["stop_reason"] == "end_turn"
    (block,) = msg["content"]
    assert block["type"] == "text" and block["text"]
    assert msg["usage"]["input_tokens"] > 0 and msg["usage"]["output_tokens"] > 0
    assert msg["usage"]["cache_read_input_tokens"] == 0


def test_max_tokens_cuts_with_stop_reason_max_tokens(base_url: str) -> None:
    _, _, raw = post(base_url, {**HELLO, "max_tokens": 3})
    msg = orjson.loads(raw)
    assert msg["stop_reason"] == "max_tokens" and msg["usage"]["output_tokens"] == 3


def test_stream_event_sequence(base_url: str) -> None:
    status, headers, raw = post(base_url, {**HELLO, "stream": True})
    assert status == 200 and headers["content-type"].startswith("text/event-stream")
    evs = events(raw)
    kinds = [k for k, _ in evs]
    assert kinds[:3] == ["message_start", "content_block_start", "ping"]
    assert kinds[-3:] == ["content_block_stop", "message_delta", "message_stop"]
    deltas = [e for k, e in evs if k == "content_block_delta"]
    assert all(d["delta"]["type"] == "text_delta" for d in deltas)
    start = evs[0][1]["message"]
    assert (
        start["content"] == []
        and start["stop_reason"] is None
        and start["usage"]["output_tokens"] == 1
    )
    final = evs[-2][1]
    assert final["delta"]["stop_reason"] == "end_turn"
    assert final["usage"]["output_tokens"] == len(deltas)  # one token per delta, exact


def test_tool_use_streamed_and_not(base_url: str) -> None:
    body = {**HELLO, "tools": [WEATHER], "tool_choice": {"type": "any"}}
    msg = orjson.loads(post(base_url, body)[2])
    assert msg["stop_reason"] == "tool_use"
    (call,) = msg["content"]
    assert call["type"] == "tool_use" and call["name"] == "get_weather"
    assert call["id"].startswith("toolu_") and isinstance(call["input"]["location"], str)
    evs = events(post(base_url, {**body, "stream": True})[2])
    (start,) = [e for k, e in evs if k == "content_block_start"]
    assert start["content_block"]["type"] == "tool_use" and start["content_block"]["input"] == {}
    parts = [e["delta"]["partial_json"] for k, e in evs if k == "content_block_delta"]
    assert all(
        e["delta"]["type"] == "input_json_delta" for k, e in evs if k == "content_block_delta"
    )
    assert set(orjson.loads("".join(parts))) == {"location"}
    assert evs[-2][1]["delta"]["stop_reason"] == "tool_use"


def test_after_a_tool_result_the_answer_is_text(base_url: str) -> None:
    body = {
        **HELLO,
        "tools": [WEATHER],
        "messages": [
            {"role": "user", "content": "Weather in Paris?"},
            {
                "role": "assistant",
                "content": [
                    {
                        "type": "tool_use",
                        "id": "toolu_1",
                        "name": "get_weather",
                        "input": {"location": "Paris"},
                    }
                ],
            },
            {
                "role": "user",
                "content": [{"type": "tool_result", "tool_use_id": "toolu_1", "content": "15C"}],
            },
        ],
    }
    msg = orjson.loads(post(base_url, body)[2])
    assert msg["stop_reason"] == "end_turn" and msg["content"][0]["type"] == "text"


@pytest.mark.parametrize(
    ("body", "status"),
    [
        (b"{not json", 400),
        ({"model": "claude", "messages": [{"role": "user", "content": "x"}]}, 400),  # no max_tokens
        ({"model": "claude", "max_tokens": 5}, 400),
    ],
)
def test_invalid_requests_get_anthropic_error_bodies(base_url: str, body: Any, status: int) -> None:
    got, headers, raw = post(base_url, body)
    err = orjson.loads(raw)
    assert got == status and err["type"] == "error"
    assert err["error"]["type"] == "invalid_request_error" and err["error"]["message"]
    assert headers["request-id"].startswith("req_")


def test_faults_use_anthropic_statuses_and_bodies() -> None:
    with running_sim_server(SimSettings(faults=SimFaults(rate_429=1.0, retry_after_s=4))) as url:
        status, headers, raw = post(url, HELLO)
    assert status == 429 and headers["retry-after"] == "4"
    assert orjson.loads(raw)["error"]["type"] == "rate_limit_error"
    with running_sim_server(SimSettings(faults=SimFaults(rate_503=1.0))) as url:
        status, _, raw = post(url, HELLO)
    assert status == 529
    assert orjson.loads(raw) == {
        "type": "error",
        "error": {"type": "overloaded_error", "message": "Overloaded"},
    }


def test_require_key_accepts_x_api_key() -> None:
    with running_sim_server(require_key="sk-ant-test") as url:
        assert post(url, HELLO, **{"x-api-key": "sk-ant-test"})[0] == 200
        status, _, raw = post(url, HELLO, **{"x-api-key": "wrong"})
    assert status == 401 and orjson.loads(raw)["error"]["type"] == "authentication_error"


# ------------------------------------------- caching, thinking, structured output, counting

CACHED_SYSTEM = [
    {
        "type": "text",
        "text": "You are a patient tutor. " * 40,
        "cache_control": {"type": "ephemeral"},
    }
]


def test_cache_control_writes_then_reads_the_prefix() -> None:
    body = {**HELLO, "system": CACHED_SYSTEM}
    with running_sim_server(SimSettings(seed=3)) as url:
        usages = [orjson.loads(post(url, body)[2])["usage"] for _ in range(3)]
        other = orjson.loads(post(url, {**body, "model": "claude-opus-4"})[2])["usage"]
    first, second, third = usages
    written = first["cache_creation_input_tokens"]
    assert written >= 200 and first["cache_read_input_tokens"] == 0
    assert second["cache_read_input_tokens"] == third["cache_read_input_tokens"] == written
    assert second["cache_creation_input_tokens"] == 0
    # the whole input is the same each time; only its split differs
    total = first["input_tokens"] + written
    assert second["input_tokens"] + second["cache_read_input_tokens"] == total
    # a cache is per model
    assert other["cache_creation_input_tokens"] == written


def test_thinking_comes_first_within_its_budget_and_is_output() -> None:
    body = {**HELLO, "max_tokens": 1100, "thinking": {"type": "enabled", "budget_tokens": 1024}}
    with running_sim_server(SimSettings(seed=3)) as url:
        status, _, raw = post(url, body)
        _, _, streamed = post(url, {**body, "stream": True})
        _, _, omitted = post(url, {**body, "thinking": {"type": "adaptive", "display": "omitted"}})
    msg = orjson.loads(raw)
    thinking, text = msg["content"]
    assert status == 200 and thinking["type"] == "thinking" and thinking["signature"]
    spent = msg["usage"]["output_tokens_details"]["thinking_tokens"]
    assert 0 < spent <= 1024 and msg["usage"]["output_tokens"] <= 1100
    assert msg["usage"]["output_tokens"] > spent and text["type"] == "text"
    deltas = [e["delta"] for k, e in events(streamed) if k == "content_block_delta"]
    assert "".join(d["thinking"] for d in deltas if d["type"] == "thinking_delta")
    assert [d["signature"] for d in deltas if d["type"] == "signature_delta"]
    (final,) = [e for k, e in events(streamed) if k == "message_delta"]
    assert final["usage"]["output_tokens_details"]["thinking_tokens"] > 0
    hidden = orjson.loads(omitted)["content"][0]
    assert hidden["type"] == "thinking" and hidden["thinking"] == "" and hidden["signature"]


def test_the_same_seed_thinks_the_same() -> None:
    body = {**HELLO, "max_tokens": 2000, "thinking": {"type": "enabled", "budget_tokens": 1024}}
    answers = []
    for _ in range(2):
        with running_sim_server(SimSettings(seed=9)) as url:
            answers.append(orjson.loads(post(url, body)[2])["content"][0])
    assert answers[0] == answers[1]


def test_output_config_json_schema_answers_valid_json() -> None:
    schema = {
        "type": "object",
        "properties": {"city": {"type": "string"}, "days": {"type": "integer", "minimum": 1}},
        "required": ["city", "days"],
        "additionalProperties": False,
    }
    body = {**HELLO, "output_config": {"format": {"type": "json_schema", "schema": schema}}}
    with running_sim_server(SimSettings(seed=3)) as url:
        msg = orjson.loads(post(url, {**body, "top_k": 4})[2])
    value = orjson.loads(msg["content"][0]["text"])
    assert set(value) == {"city", "days"} and isinstance(value["city"], str)
    assert isinstance(value["days"], int) and value["days"] >= 1


def test_count_tokens_is_what_the_call_reports() -> None:
    body = {**HELLO, "system": "Be brief. " * 30}
    counted = {k: v for k, v in body.items() if k != "max_tokens"}
    with running_sim_server(SimSettings(seed=3)) as url:
        status, headers, raw = post(url, counted, "/v1/messages/count_tokens")
        usage = orjson.loads(post(url, body)[2])["usage"]
        bad_status, _, bad = post(url, {"model": "m"}, "/v1/messages/count_tokens")
    assert status == 200 and headers["request-id"]
    assert orjson.loads(raw) == {"input_tokens": usage["input_tokens"]}
    assert bad_status == 400 and orjson.loads(bad)["error"]["type"] == "invalid_request_error"
