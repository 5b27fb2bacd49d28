"""The OpenAI encoder and the exchange plan: chunk sequences, usage chunks, pacing, faults on the
wire -- checked on the bytes, without sockets."""

from __future__ import annotations

import base64
import json
from array import array
from typing import Any

import pytest

from daytwo.config.schema import SimFaults, SimSettings
from daytwo.providers.sim.exchange import Exchange, Simulator
from daytwo.providers.sim.openai_format import OpenAIFormat

USER = [{"role": "user", "content": "hello"}]


def simulator(**knobs: Any) -> Simulator:
    s = SimSettings(**knobs)
    return Simulator(s, OpenAIFormat(s), wall_clock=lambda: 1_700_000_000)


def stream(sim: Simulator, **body: Any) -> Exchange:
    ex = sim.chat({"model": "gpt-4o-mini", "messages": USER, "stream": True, **body})
    assert ex.status == 200
    assert ex.stream
    return ex


def events(ex: Exchange) -> list[dict[str, Any]]:
    out = []
    for frame in ex.frames:
        assert frame.raw.startswith(b"data: ")
        assert frame.raw.endswith(b"\n\n")
        payload = frame.raw[6:-2]
        if payload != b"[DONE]":
            out.append(json.loads(payload))
    return out


def test_a_completion_has_openai_shape_and_headers() -> None:
    ex = simulator(seed=1).chat({"model": "gpt-4o-mini", "messages": USER})
    body = json.loads(ex.body)
    assert ex.data == body
    assert body["object"] == "chat.completion"
    assert body["id"].startswith("chatcmpl-")
    assert body["model"] == "gpt-4o-mini"
    assert body["created"] == 1_700_000_000
    msg = body["choices"][0]["message"]
    assert msg["role"] == "assistant"
    assert isinstance(msg["content"], str)
    usage = body["usage"]
    assert usage["total_tokens"] == usage["prompt_tokens"] + usage["completion_tokens"]
    assert usage["prompt_tokens_details"]["cached_tokens"] == 0
    assert usage["completion_tokens_details"]["reasoning_tokens"] == 0
    headers = ex.header_dict()
    assert headers["x-request-id"].startswith("req_")
    assert headers["content-type"] == "application/json"
    assert "x-ratelimit-remaining-requests" in headers


def test_a_stream_is_role_tokens_finish_usage_done() -> None:
    ex = stream(simulator(seed=2), stream_options={"include_usage": True})
    chunks = events(ex)
    assert ex.frames[-1].raw == b"data: [DONE]\n\n"
    assert not ex.cut
    assert all(c["object"] == "chat.completion.chunk" for c in chunks)
    assert len({c["id"] for c in chunks}) == 1
    assert chunks[0]["choices"][0]["delta"] == {"role": "assistant", "content": "", "refusal": None}
    content = [c["choices"][0]["delta"]["content"] for c in chunks[1:-2]]
    assert chunks[-2]["choices"][0] == {
        "index": 0,
        "delta": {},
        "logprobs": None,
        "finish_reason": "stop",
    }
    assert chunks[-1]["choices"] == []
    assert chunks[-1]["usage"]["completion_tokens"] == len(content) > 0
    assert all(c["usage"] is None for c in chunks[:-1])


def test_without_include_usage_no_chunk_has_a_usage_key() -> None:
    chunks = events(stream(simulator()))
    assert all("usage" not in c for c in chunks)
    assert chunks[-1]["choices"][0]["finish_reason"] == "stop"


def test_a_provider_that_does_not_report_stream_usage() -> None:
    chunks = events(stream(simulator(stream_usage=False), stream_options={"include_usage": True}))
    assert all(c["choices"] for c in chunks)
    assert all("usage" not in c for c in chunks)


def test_streamed_tool_call_deltas_reassemble() -> None:
    tool = {
        "type": "function",
        "function": {
            "name": "lookup",
            "parameters": {
                "type": "object",
                "properties": {"q": {"type": "string"}},
                "required": ["q"],
            },
        },
    }
    chunks = events(stream(simulator(), tools=[tool], stream_options={"include_usage": True}))
    first = chunks[0]["choices"][0]["delta"]["tool_calls"][0]
    assert first["id"].startswith("call_")
    assert first["type"] == "function"
    assert first["function"] == {"name": "lookup", "arguments": ""}
    parts = [c["choices"][0]["delta"]["tool_calls"][0] for c in chunks[1:-2]]
    assert all(p["index"] == 0 and set(p) == {"index", "function"} for p in parts)
    args = json.loads("".join(p["function"]["arguments"] for p in parts))
    assert isinstance(args["q"], str)
    assert chunks[-2]["choices"][0]["finish_reason"] == "tool_calls"
    assert chunks[-1]["usage"]["completion_tokens"] == len(parts)


def test_n_choices_interleave_in_the_stream() -> None:
    chunks = events(stream(simulator(seed=4), n=2))
    indexes = [c["choices"][0]["index"] for c in chunks]
    assert indexes[:2] == [0, 1]
    assert sorted(set(indexes)) == [0, 1]
    assert [c["choices"][0]["finish_reason"] for c in chunks[-2:]] == ["stop", "stop"]


def test_pacing_waits_ttft_then_per_token() -> None:
    sim = simulator(ttft_ms=200, per_token_ms=10, min_output_tokens=6, max_output_tokens=6)
    ex = stream(sim)
    assert ex.delay_s == pytest.approx(0.2)
    assert sum(f.delay_s for f in ex.frames) == pytest.approx(0.05)  # 6 tokens: 5 gaps
    plain = sim.chat({"model": "m", "messages": USER})
    assert plain.delay_s == pytest.approx(0.2 + 6 * 0.01)


def test_a_429_says_when_to_retry() -> None:
    sim = simulator(faults=SimFaults(rate_429=1.0, retry_after_s=3))
    ex = sim.chat({"model": "gpt-4o-mini", "messages": USER, "stream": True})
    assert ex.status == 429
    assert not ex.stream
    headers = ex.header_dict()
    assert headers["retry-after"] == "3"
    assert headers["x-ratelimit-remaining-requests"] == "0"
    err = json.loads(ex.body)["error"]
    assert err["type"] == "rate_limit_error"
    assert err["code"] == "rate_limit_exceeded"
    assert set(err) == {"message", "type", "param", "code"}


@pytest.mark.parametrize(("rate", "status"), [("rate_500", 500), ("rate_503", 503)])
def test_server_errors(rate: str, status: int) -> None:
    ex = simulator(faults=SimFaults.model_validate({rate: 1.0})).chat(
        {"model": "m", "messages": USER}
    )
    assert ex.status == status
    assert json.loads(ex.body)["error"]["type"] == "server_error"


def test_a_malformed_body_is_not_json() -> None:
    ex = simulator(faults=SimFaults(rate_malformed=1.0)).chat({"model": "m", "messages": USER})
    assert ex.status == 200
    assert ex.data is None
    with pytest.raises(json.JSONDecodeError):
        json.loads(ex.body)


def test_a_malformed_stream_sends_a_broken_event_then_cuts() -> None:
    ex = stream(simulator(faults=SimFaults(rate_malformed=1.0)))
    assert ex.cut
    *good, bad = ex.frames
    assert good
    assert all(f.kind == "event" for f in good)
    assert bad.kind == "garbage"
    assert bad.raw.startswith(b"data: {")
    assert bad.raw.endswith(b"\n\n")
    with pytest.raises(json.JSONDecodeError):
        json.loads(bad.raw[6:])


def test_a_reset_cuts_a_stream_and_drops_a_plain_answer() -> None:
    sim = simulator(faults=SimFaults(rate_reset=1.0))
    ex = stream(sim)
    assert ex.cut
    assert all(f.kind == "event" for f in ex.frames)
    assert ex.frames  # some chunks arrive before the cut
    plain = sim.chat({"model": "m", "messages": USER})
    assert plain.status == 0


def test_a_timeout_hangs_for_hang_s() -> None:
    ex = simulator(faults=SimFaults(rate_timeout=1.0, hang_s=7)).chat(
        {"model": "m", "messages": USER}
    )
    assert ex.status == 0
    assert ex.delay_s == 7


def test_embeddings_in_float_and_base64() -> None:
    sim = simulator()
    floats = json.loads(sim.embeddings({"model": "text-embedding-3-small", "input": ["a"]}).body)
    b64 = json.loads(
        sim.embeddings(
            {"model": "text-embedding-3-small", "input": ["a"], "encoding_format": "base64"}
        ).body
    )
    assert floats["object"] == "list"
    assert floats["data"][0]["object"] == "embedding"
    assert floats["usage"] == {"prompt_tokens": 1, "total_tokens": 1}
    decoded = array("f", base64.b64decode(b64["data"][0]["embedding"])).tolist()
    assert decoded == floats["data"][0]["embedding"]
    assert len(decoded) == 1536


def test_invalid_requests_answer_400_in_openai_format() -> None:
    ex = simulator().chat({"model": "m"})
    assert ex.status == 400
    assert json.loads(ex.body)["error"] == {
        "message": "Missing required parameter: 'messages'.",
        "type": "invalid_request_error",
        "param": "messages",
        "code": "missing_required_parameter",
    }
