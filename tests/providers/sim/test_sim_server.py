"""The simulator over real HTTP on loopback, driven by the official ``openai`` SDK (sync and async)
and by raw HTTP where the SDK hides the wire."""

from __future__ import annotations

import asyncio
import http.client
import json
import math
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit

import openai
import pytest
from pydantic import BaseModel
from tests.fakeclock import FakeClock

from daytwo.config.schema import SimFaults, SimOutage, SimSettings
from daytwo.core.types import LLMRequest
from daytwo.providers.base import Target
from daytwo.providers.sim.adapter import SimAdapter
from daytwo.providers.sim.run import running_sim_server

pytestmark = pytest.mark.integration

USER: list[Any] = [{"role": "user", "content": "Say something."}]
WEATHER: Any = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "parameters": {
            "type": "object",
            "properties": {
                "city": {"type": "string"},
                "unit": {"type": "string", "enum": ["celsius", "fahrenheit"]},
            },
            "required": ["city", "unit"],
        },
    },
}


@pytest.fixture(scope="module")
def base_url() -> Iterator[str]:
    with running_sim_server(SimSettings(seed=1)) as url:
        yield url


@pytest.fixture
def client(base_url: str) -> Iterator[openai.OpenAI]:
    with openai.OpenAI(base_url=base_url, api_key="sk-anything", max_retries=0) as c:
        yield c


def raw(
    base_url: str, method: str, path: str, body: bytes | None = None, **headers: str
) -> tuple[int, dict[str, str], bytes]:
    u = urlsplit(base_url)
    conn = http.client.HTTPConnection(u.hostname or "", u.port, timeout=10)
    try:
        conn.request(method, path, body=body, headers=headers)
        resp = conn.getresponse()
        return resp.status, {k.lower(): v for k, v in resp.getheaders()}, resp.read()
    finally:
        conn.close()


# ---------------------------------------------------------------- the SDK's happy paths


def test_sync_chat(client: openai.OpenAI) -> None:
    resp = client.chat.completions.with_raw_response.create(model="gpt-4o-mini", messages=USER)
    assert resp.headers["x-request-id"].startswith("req_")
    completion = resp.parse()
    assert completion.model == "gpt-4o-mini"
    assert completion.choices[0].finish_reason == "stop"
    assert completion.choices[0].message.content
    assert completion.usage is not None
    assert completion.usage.completion_tokens > 0


def test_async_chat_and_stream(base_url: str) -> None:
    async def go() -> tuple[int, int, str]:
        async with openai.AsyncOpenAI(base_url=base_url, api_key="k", max_retries=0) as c:
            done = await c.chat.completions.create(model="gpt-4o-mini", messages=USER, n=2)
            stream = await c.chat.completions.create(
                model="gpt-4o-mini",
                messages=USER,
                stream=True,
                stream_options={"include_usage": True},
            )
            pieces, usage = [], None
            async for chunk in stream:
                if chunk.choices and chunk.choices[0].delta.content:
                    pieces.append(chunk.choices[0].delta.content)
                if chunk.usage is not None:
                    usage = chunk.usage
            assert usage is not None
            return len(done.choices), usage.completion_tokens - len(pieces), "".join(pieces)

    n, diff, text = asyncio.run(go())
    assert n == 2
    assert diff == 0
    assert text


def test_stream_usage_arrives_last_and_counts_the_streamed_tokens(client: openai.OpenAI) -> None:
    chunks = list(
        client.chat.completions.create(
            model="gpt-4o-mini", messages=USER, stream=True, stream_options={"include_usage": True}
        )
    )
    contents = [
        c.choices[0].delta.content for c in chunks if c.choices and c.choices[0].delta.content
    ]
    assert chunks[-1].choices == []
    assert chunks[-1].usage is not None
    assert chunks[-1].usage.completion_tokens == len(contents) > 0
    assert all(c.usage is None for c in chunks[:-1])


def test_streamed_tool_call_reassembles_to_valid_arguments(client: openai.OpenAI) -> None:
    calls: dict[int, dict[str, str]] = {}
    finish = None
    for chunk in client.chat.completions.create(
        model="gpt-4o-mini", messages=USER, tools=[WEATHER], stream=True
    ):
        choice = chunk.choices[0]
        finish = choice.finish_reason or finish
        for tc in choice.delta.tool_calls or ():
            slot = calls.setdefault(tc.index, {"id": "", "name": "", "arguments": ""})
            if tc.id:
                slot["id"] = tc.id
            if tc.function and tc.function.name:
                slot["name"] += tc.function.name
            if tc.function and tc.function.arguments:
                slot["arguments"] += tc.function.arguments
    assert finish == "tool_calls"
    assert list(calls) == [0]
    args = json.loads(calls[0]["arguments"])
    assert calls[0]["name"] == "get_weather"
    assert calls[0]["id"].startswith("call_")
    assert isinstance(args["city"], str)
    assert args["unit"] in ("celsius", "fahrenheit")


def test_structured_output_parses_into_the_callers_model(client: openai.OpenAI) -> None:
    class Step(BaseModel):
        explanation: str
        output: int

    class Answer(BaseModel):
        steps: list[Step]
        final_answer: str

    completion = client.chat.completions.parse(
        model="gpt-4o-mini", messages=USER, response_format=Answer
    )
    parsed = completion.choices[0].message.parsed
    assert isinstance(parsed, Answer)
    assert parsed.steps


def test_embeddings_default_base64_path(client: openai.OpenAI) -> None:
    resp = client.embeddings.create(model="text-embedding-3-small", input=["one", "two"])
    assert [d.index for d in resp.data] == [0, 1]
    vec = resp.data[0].embedding
    assert len(vec) == 1536
    assert math.isclose(math.fsum(x * x for x in vec), 1.0, rel_tol=1e-5)
    floats = client.embeddings.create(
        model="text-embedding-3-small", input="one", encoding_format="float", dimensions=1536
    )
    assert floats.data[0].embedding == vec
    assert resp.usage.prompt_tokens > 0


def test_models_and_health(client: openai.OpenAI, base_url: str) -> None:
    assert "gpt-4o-mini" in [m.id for m in client.models.list()]
    assert client.models.retrieve("anything").id == "anything"
    status, headers, body = raw(base_url, "GET", "/health")
    assert status == 200
    assert json.loads(body) == {"status": "ok"}
    assert headers["x-request-id"].startswith("req_")


# ---------------------------------------------------------------- errors over HTTP


def test_bad_requests_answer_openai_errors(client: openai.OpenAI, base_url: str) -> None:
    status, headers, body = raw(base_url, "POST", "/v1/chat/completions", b"{not json")
    assert status == 400
    assert headers["x-request-id"]
    assert json.loads(body)["error"]["type"] == "invalid_request_error"
    status, _, body = raw(base_url, "POST", "/v1/chat/completions", b'{"model": "m"}')
    assert status == 400
    assert json.loads(body)["error"]["param"] == "messages"
    with pytest.raises(openai.BadRequestError) as info:
        client.chat.completions.create(model="", messages=USER)
    assert info.value.param == "model"
    with pytest.raises(openai.NotFoundError):
        client.post("/nowhere", cast_to=object, body={})


def test_require_key_refuses_other_keys() -> None:
    with running_sim_server(require_key="sekrit") as url:
        with openai.OpenAI(base_url=url, api_key="wrong", max_retries=0) as c:
            with pytest.raises(openai.AuthenticationError) as info:
                c.chat.completions.create(model="m", messages=USER)
            assert info.value.code == "invalid_api_key"
        with openai.OpenAI(base_url=url, api_key="sekrit", max_retries=0) as c:
            assert c.chat.completions.create(model="m", messages=USER).choices


def test_faults_over_http_follow_the_outage_schedule() -> None:
    clock = FakeClock(0.0)
    outages = tuple(
        SimOutage(start_s=10 * i, duration_s=5, mode=mode)  # type: ignore[arg-type]
        for i, mode in enumerate(["429", "500", "503", "hang", "reset", "malformed"], start=1)
    )
    settings = SimSettings(outages=outages, faults=SimFaults(retry_after_s=4, hang_s=0.3))
    with (
        running_sim_server(settings, clock=clock) as url,
        openai.OpenAI(base_url=url, api_key="k", max_retries=0) as c,
    ):
        clock.now = 10
        with pytest.raises(openai.RateLimitError) as rl:
            c.chat.completions.create(model="gpt-4o-mini", messages=USER)
        assert rl.value.response.headers["retry-after"] == "4"
        assert rl.value.type == "rate_limit_error"
        assert rl.value.request_id is not None
        assert rl.value.request_id.startswith("req_")
        clock.now = 20
        with pytest.raises(openai.InternalServerError) as ise:
            c.chat.completions.create(model="gpt-4o-mini", messages=USER)
        assert ise.value.status_code == 500
        clock.now = 30
        with pytest.raises(openai.InternalServerError) as unavailable:
            c.embeddings.create(model="text-embedding-3-small", input="x")
        assert unavailable.value.status_code == 503
        clock.now = 40  # hang 300 ms, then the connection closes without an answer
        with pytest.raises(openai.APIConnectionError):
            c.chat.completions.create(model="gpt-4o-mini", messages=USER)
        with pytest.raises(openai.APITimeoutError):  # a client timeout shorter than the hang
            c.chat.completions.create(model="gpt-4o-mini", messages=USER, timeout=0.05)
        clock.now = 50
        with pytest.raises(openai.APIConnectionError):
            c.chat.completions.create(model="gpt-4o-mini", messages=USER)
        got: list[Any] = []
        stream = c.chat.completions.create(model="gpt-4o-mini", messages=USER, stream=True)
        with pytest.raises(openai.APIConnectionError):
            got.extend(stream)
        assert got  # cut mid-stream, after some chunks
        clock.now = 60
        with pytest.raises(json.JSONDecodeError):
            c.chat.completions.create(model="gpt-4o-mini", messages=USER)
        clock.now = 70  # the drill is over
        assert c.chat.completions.create(model="gpt-4o-mini", messages=USER).choices


# ---------------------------------------------------------------- one code path


def test_the_adapter_streams_the_same_bytes_as_the_server() -> None:
    settings = SimSettings(seed=42, max_output_tokens=20)
    body = {
        "model": "gpt-4o-mini",
        "messages": USER,
        "stream": True,
        "stream_options": {"include_usage": True},
    }
    with running_sim_server(settings, wall_clock=lambda: 1_700_000_000) as url:
        status, headers, wire = raw(
            url,
            "POST",
            "/v1/chat/completions",
            json.dumps(body).encode(),
            **{"content-type": "application/json"},
        )
    assert status == 200
    assert headers["content-type"].startswith("text/event-stream")

    async def go() -> tuple[bytes, str | None]:
        adapter = SimAdapter(settings, wall_clock=lambda: 1_700_000_000)
        req = LLMRequest("chat", "alias", body, stream=True)
        s = await adapter.stream(req, Target("sim", "gpt-4o-mini", "d"))
        return b"".join([c.raw or b"" async for c in s]), s.upstream_request_id

    streamed, request_id = asyncio.run(go())
    assert wire == streamed + b"data: [DONE]\n\n"
    assert headers["x-request-id"] == request_id


def test_a_request_quota_counts_down_in_the_headers_then_answers_429() -> None:
    clock = FakeClock(0.0)
    settings = SimSettings(quota_requests=3, quota_window_s=60)
    with running_sim_server(settings, clock=clock) as url:
        body = json.dumps({"model": "gpt-4o-mini", "messages": USER}).encode()
        seen = []
        for _ in range(3):
            status, headers, _ = raw(url, "POST", "/v1/chat/completions", body)
            assert status == 200
            assert headers["x-ratelimit-limit-requests"] == "3"
            assert headers["x-ratelimit-reset-requests"] == "60.000s"
            seen.append(headers["x-ratelimit-remaining-requests"])
        assert seen == ["2", "1", "0"]
        clock.now = 15
        status, headers, raw_body = raw(url, "POST", "/v1/chat/completions", body)
        assert status == 429
        assert headers["retry-after"] == "45"
        assert headers["x-ratelimit-remaining-requests"] == "0"
        assert json.loads(raw_body)["error"]["type"] == "rate_limit_error"
        clock.now = 60  # a new window
        status, headers, _ = raw(url, "POST", "/v1/chat/completions", body)
        assert status == 200
        assert headers["x-ratelimit-remaining-requests"] == "2"
