"""One route end to end: the official openai SDK → daytwo → (type: gemini) → the simulator's
Gemini API, with the key from an ``env:`` reference and a priced ledger row per call."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import openai
import orjson
import pytest
from tests.gateway.harness import RunningGateway, gateway_config, route, running_gateway

from daytwo.config.schema import SimSettings
from daytwo.providers.sim.run import running_sim_server

pytestmark = pytest.mark.integration

KEY = "gem-route-test-key-123456"
TOOLS: list[Any] = [
    {
        "type": "function",
        "function": {
            "name": "get_weather",
            "parameters": {
                "type": "object",
                "properties": {"city": {"type": "string"}},
                "required": ["city"],
            },
        },
    }
]


@pytest.fixture
def gw(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[RunningGateway]:
    monkeypatch.setenv("DT_TEST_GEMINI_ROUTE_KEY", KEY)
    with running_sim_server(SimSettings(seed=11), require_key=KEY) as url:
        google = {
            "type": "gemini",
            "base_url": url.removesuffix("/v1"),
            "api_key": "env:DT_TEST_GEMINI_ROUTE_KEY",
        }
        models = {
            "assistant": route("google", "gemini-2.5-flash"),
            "embedder": route("google", "gemini-embedding-001", "embeddings"),
        }
        with running_gateway(
            gateway_config(tmp_path / "ledger.db", {"google": google}, models)
        ) as gw:
            yield gw


def test_chat_is_answered_and_recorded_with_a_price(gw: RunningGateway) -> None:
    with gw.openai() as c:
        raw = c.chat.completions.with_raw_response.create(
            model="assistant", messages=[{"role": "user", "content": "Say hello"}]
        )
        completion = raw.parse()
        row = gw.record(raw.headers["x-daytwo-call-id"])
    assert completion.choices[0].message.content and completion.usage is not None
    assert completion.model == "gemini-2.5-flash"
    assert row["provider"] == "google" and row["status"] == "ok"
    assert row["served_model"] == "gemini-2.5-flash"
    assert row["input_tokens"] == completion.usage.prompt_tokens > 0
    assert row["output_tokens"] == completion.usage.completion_tokens > 0
    assert row["tokens_estimated"] == 0 and row["cost_nanousd"] is not None
    assert row["cost_nanousd"] > 0


def test_stream_with_tool_calls_is_relayed_and_recorded(gw: RunningGateway) -> None:
    with gw.openai() as c:
        stream = c.chat.completions.create(
            model="assistant",
            messages=[{"role": "user", "content": "weather in Lima?"}],
            tools=TOOLS,
            tool_choice="required",
            stream=True,
            stream_options={"include_usage": True},
        )
        chunks = list(stream)
        rows = gw.records()
    calls = [tc for ch in chunks if ch.choices for tc in ch.choices[0].delta.tool_calls or ()]
    (call,) = calls
    assert call.function is not None and call.function.name == "get_weather"
    assert set(orjson.loads(call.function.arguments or "")) == {"city"}
    finishes = [ch.choices[0].finish_reason for ch in chunks if ch.choices]
    assert finishes[-1] == "tool_calls"
    usage = chunks[-1].usage
    assert usage is not None and not chunks[-1].choices
    (row,) = [r for r in rows if r["stream"]]
    assert row["provider"] == "google" and row["served_model"] == "gemini-2.5-flash"
    assert (row["input_tokens"], row["output_tokens"], row["tokens_estimated"]) == (
        usage.prompt_tokens,
        usage.completion_tokens,
        0,
    )
    assert row["cost_nanousd"] is not None and row["upstream_request_id"] == chunks[0].id


def test_embeddings_in_the_sdks_default_base64(gw: RunningGateway) -> None:
    with gw.openai() as c:
        # the SDK asks for base64 unless told otherwise, and decodes it
        raw = c.embeddings.with_raw_response.create(
            model="embedder", input=["hello", "world"], dimensions=16
        )
        result = raw.parse()
        row = gw.record(raw.headers["x-daytwo-call-id"])
    assert [len(d.embedding) for d in result.data] == [16, 16]
    assert abs(sum(x * x for x in result.data[0].embedding) - 1.0) < 1e-3  # a unit vector
    assert row["provider"] == "google" and row["served_model"] == "gemini-embedding-001"
    assert row["input_tokens"] > 0 and row["tokens_estimated"] == 1  # Gemini reports none
    assert row["cost_nanousd"] is not None


def test_an_untranslatable_request_is_a_400_naming_the_parameter(gw: RunningGateway) -> None:
    with gw.openai() as c, pytest.raises(openai.BadRequestError) as info:
        c.chat.completions.create(
            model="assistant",
            messages=[
                {
                    "role": "user",
                    "content": [
                        {"type": "image_url", "image_url": {"url": "https://example.com/a.png"}}
                    ],
                }
            ],
        )
    assert info.value.param == "messages[0].content[0].image_url"
