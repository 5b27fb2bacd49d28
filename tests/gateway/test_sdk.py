"""The official openai SDK, pointed at the gateway, works unchanged."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from pathlib import Path

import openai
import pytest
from openai.types.chat import ChatCompletionChunk
from tests.gateway.harness import RunningGateway, sim_config
from tests.providers.adapter_harness import WEATHER_TOOLS

pytestmark = pytest.mark.integration


def test_sync_chat_completion_is_recorded(gw: RunningGateway) -> None:
    with gw.openai() as client:
        raw = client.chat.completions.with_raw_response.create(
            model="gpt-4o-mini",
            messages=[{"role": "user", "content": "Say hello"}],
            extra_headers={"X-Daytwo-Project": "support", "X-Daytwo-Workflow": "triage"},
        )
    completion = raw.parse()
    assert completion.choices[0].message.content
    assert completion.usage is not None and completion.usage.completion_tokens > 0
    row = gw.record(raw.headers["x-daytwo-call-id"])
    assert (row["status"], row["http_status"], row["project"], row["workflow"]) == (
        "ok",
        200,
        "support",
        "triage",
    )
    assert row["output_tokens"] == completion.usage.completion_tokens
    assert row["input_tokens"] == completion.usage.prompt_tokens
    assert row["tokens_estimated"] == 0
    assert row["cost_nanousd"] > 0 and row["price_ref"]


def test_async_chat_and_streaming_with_usage(gw: RunningGateway) -> None:
    async def run() -> list[ChatCompletionChunk]:
        async with openai.AsyncOpenAI(base_url=gw.base_url, api_key="x", max_retries=0) as client:
            completion = await client.chat.completions.create(
                model="gpt-4o-mini", messages=[{"role": "user", "content": "hi"}]
            )
            assert completion.choices[0].finish_reason in ("stop", "length")
            stream = await client.chat.completions.create(
                model="gpt-4o-mini",
                messages=[{"role": "user", "content": "tell me a story"}],
                stream=True,
                stream_options={"include_usage": True},
            )
            return [c async for c in stream]

    chunks = asyncio.run(run())
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    usage = chunks[-1].usage
    assert text and usage is not None and usage.completion_tokens > 0
    (row,) = [r for r in gw.records() if r["stream"]]
    assert (row["output_tokens"], row["tokens_estimated"]) == (usage.completion_tokens, 0)
    assert row["ttft_ms"] is not None and row["ttft_ms"] <= row["latency_ms"]


def test_stream_without_usage_request_still_bills_exactly(gw: RunningGateway) -> None:
    with gw.openai() as client:
        chunks = list(
            client.chat.completions.create(
                model="gpt-4o-mini", messages=[{"role": "user", "content": "x"}], stream=True
            )
        )
    # The client did not ask for usage: it gets no usage-only chunk ...
    assert all(c.choices for c in chunks)
    # ... but the ledger has the upstream's exact count anyway.
    (row,) = gw.records()
    assert row["output_tokens"] > 0 and row["tokens_estimated"] == 0


def test_tool_calls_pass_through(gw: RunningGateway) -> None:
    with gw.openai() as client:
        completion = client.chat.completions.create(
            model="gpt-4o-mini",
            messages=[{"role": "user", "content": "weather in Paris?"}],
            tools=WEATHER_TOOLS,  # type: ignore[arg-type]
            tool_choice="required",
        )
        call = completion.choices[0].message.tool_calls[0]  # type: ignore[index]
        args = json.loads(call.function.arguments)  # type: ignore[union-attr]
        assert call.function.name == "get_weather"  # type: ignore[union-attr]
        assert isinstance(args["city"], str) and isinstance(args["days"], int)

        stream = client.chat.completions.create(
            model="gpt-4o-mini",
            messages=[{"role": "user", "content": "weather in Paris?"}],
            tools=WEATHER_TOOLS,  # type: ignore[arg-type]
            tool_choice="required",
            stream=True,
        )
        pieces = [
            tc.function.arguments or ""
            for c in stream
            for tc in (c.choices[0].delta.tool_calls or [] if c.choices else [])
            if tc.function
        ]
    assert set(json.loads("".join(pieces))) >= {"city", "days"}


def test_response_format_json_object(gw: RunningGateway) -> None:
    with gw.openai() as client:
        completion = client.chat.completions.create(
            model="gpt-4o-mini",
            messages=[{"role": "user", "content": "give me JSON"}],
            response_format={"type": "json_object"},
        )
    assert isinstance(json.loads(completion.choices[0].message.content or ""), dict)


def test_embeddings_default_base64_and_float(gw: RunningGateway) -> None:
    with gw.openai() as client:
        emb = client.embeddings.create(model="text-embedding-3-small", input=["a", "b"])
        floats = client.embeddings.create(
            model="text-embedding-3-small", input="a", encoding_format="float"
        )
    assert [len(d.embedding) for d in emb.data] == [1536, 1536]
    assert floats.data[0].embedding == pytest.approx(emb.data[0].embedding, abs=1e-6)
    rows = gw.records()
    assert [r["operation"] for r in rows] == ["embeddings", "embeddings"]
    assert rows[0]["input_tokens"] > 0


def test_models_lists_aliases_and_unknown_model_is_404(gw: RunningGateway) -> None:
    with gw.openai() as client:
        assert {m.id for m in client.models.list()} == {"gpt-4o-mini", "text-embedding-3-small"}
        with pytest.raises(openai.NotFoundError) as info:
            client.chat.completions.create(
                model="gpt-9", messages=[{"role": "user", "content": "x"}]
            )
    assert info.value.code == "model_not_found"
    (row,) = gw.records()
    assert (row["status"], row["http_status"], row["alias"]) == ("rejected", 404, "gpt-9")


def test_incoming_traceparent_sets_the_recorded_trace_id(gw: RunningGateway) -> None:
    trace = "4bf92f3577b34da6a3ce929d0e0e4736"
    with gw.openai() as client:
        client.chat.completions.create(
            model="gpt-4o-mini",
            messages=[{"role": "user", "content": "hi"}],
            extra_headers={"traceparent": f"00-{trace}-00f067aa0ba902b7-01"},
        )
        client.chat.completions.create(
            model="gpt-4o-mini", messages=[{"role": "user", "content": "no trace"}]
        )
    first, second = gw.records()
    assert first["trace_id"] == trace
    assert len(second["trace_id"]) == 32 and second["trace_id"] != trace


def test_upstream_without_stream_usage_is_counted_and_flagged(
    tmp_path: Path, gateway_factory: Callable[..., RunningGateway]
) -> None:
    gw = gateway_factory(sim_config(tmp_path, stream_usage=False))
    with gw.openai() as client:
        chunks = list(
            client.chat.completions.create(
                model="gpt-4o-mini",
                messages=[{"role": "user", "content": "count me"}],
                stream=True,
                stream_options={"include_usage": True},
            )
        )
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    (row,) = gw.records()
    assert row["tokens_estimated"] == 1
    # ~4 characters per token, from what was actually streamed
    assert row["output_tokens"] == (len(text) + 3) // 4
    assert row["input_tokens"] > 0 and row["cost_nanousd"] > 0
