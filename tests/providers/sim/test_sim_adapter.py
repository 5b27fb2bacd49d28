"""The in-process SimAdapter: answers, streams, usage, latency and faults mapped to daytwo's error
tree the way the HTTP OpenAI adapter maps the same responses."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Awaitable
from typing import Any, TypeVar

import pytest

from daytwo.config.schema import SimFaults, SimSettings
from daytwo.core.errors import (
    UpstreamProtocolError,
    UpstreamStatusError,
    UpstreamUnavailable,
)
from daytwo.core.types import LLMRequest, StreamChunk
from daytwo.providers.base import Adapter, Target
from daytwo.providers.sim.adapter import SimAdapter, SimStream

T = TypeVar("T")
TARGET = Target(provider="sim", model="gpt-4o-mini", deployment="sim/gpt-4o-mini")
USER = [{"role": "user", "content": "hello"}]


def run(coro: Awaitable[T]) -> T:
    async def main() -> T:
        return await coro

    return asyncio.run(main())


def chat(stream: bool = False, **body: Any) -> LLMRequest:
    return LLMRequest("chat", "alias", {"model": "alias", "messages": USER, **body}, stream=stream)


async def drain(s: SimStream) -> list[StreamChunk]:
    return [chunk async for chunk in s]


def test_sim_adapter_is_an_adapter() -> None:
    adapter: Adapter = SimAdapter(SimSettings())
    assert run(adapter.aclose()) is None


def test_complete_reports_usage_model_and_request_id() -> None:
    resp = run(SimAdapter(SimSettings(seed=1)).complete(chat(), TARGET))
    assert resp.served_model == "gpt-4o-mini"  # the target's model, not the alias
    assert resp.body["model"] == "gpt-4o-mini"
    assert resp.upstream_request_id is not None
    assert resp.upstream_request_id.startswith("req_")
    assert resp.raw is not None
    assert json.loads(resp.raw) == resp.body
    usage = resp.body["usage"]
    assert resp.usage.input_tokens == usage["prompt_tokens"] > 0
    assert resp.usage.output_tokens == usage["completion_tokens"] > 0
    assert not resp.usage.estimated


def test_stream_counts_usage_exactly() -> None:
    async def go() -> tuple[SimStream, list[StreamChunk]]:
        s = await SimAdapter(SimSettings()).stream(
            chat(True, stream_options={"include_usage": True}), TARGET
        )
        return s, await drain(s)

    s, chunks = run(go())
    tokens = [
        c for c in chunks if c.data["choices"] and c.data["choices"][0]["delta"].get("content")
    ]
    assert s.usage is not None
    assert s.usage.output_tokens == len(tokens) > 0
    assert chunks[-1].data["choices"] == []
    assert chunks[-1].data["usage"] is not None
    assert s.served_model == "gpt-4o-mini"
    assert s.upstream_request_id is not None
    for c in chunks:
        assert c.raw == b"data: " + json.dumps(c.data, separators=(",", ":")).encode() + b"\n\n"


def test_stream_hides_the_usage_chunk_from_callers_that_did_not_ask() -> None:
    async def go() -> tuple[SimStream, list[StreamChunk]]:
        s = await SimAdapter(SimSettings()).stream(chat(True), TARGET)
        return s, await drain(s)

    s, chunks = run(go())
    assert all(c.data["choices"] for c in chunks)
    assert s.usage is not None
    assert s.usage.output_tokens > 0


def test_a_provider_without_stream_usage_leaves_usage_none() -> None:
    async def go() -> tuple[SimStream, list[StreamChunk]]:
        adapter = SimAdapter(SimSettings(stream_usage=False))
        s = await adapter.stream(chat(True, stream_options={"include_usage": True}), TARGET)
        return s, await drain(s)

    s, chunks = run(go())
    assert s.usage is None
    assert chunks
    assert all(c.data["choices"] for c in chunks)


def test_embed() -> None:
    req = LLMRequest("embeddings", "e", {"model": "e", "input": ["a", "bb"], "dimensions": 8})
    resp = run(SimAdapter(SimSettings()).embed(req, Target("sim", "text-embedding-3-small", "d")))
    assert [len(d["embedding"]) for d in resp.body["data"]] == [8, 8]
    assert resp.usage.input_tokens == 2
    assert resp.usage.output_tokens == 0
    assert resp.served_model == "text-embedding-3-small"


def test_latency_ttft_and_per_token() -> None:
    settings = SimSettings(ttft_ms=40, per_token_ms=5, min_output_tokens=8, max_output_tokens=8)

    async def go() -> tuple[float, float, float]:
        adapter = SimAdapter(settings)
        t0 = time.perf_counter()
        await adapter.complete(chat(), TARGET)
        t1 = time.perf_counter()
        s = await adapter.stream(chat(True), TARGET)
        t2 = time.perf_counter()
        await drain(s)
        return t1 - t0, t2 - t1, time.perf_counter() - t2

    whole, first, rest = run(go())
    assert whole >= 0.04 + 8 * 0.005
    assert first >= 0.04
    assert rest >= 7 * 0.005


# ---------------------------------------------------------------- faults


def faulty(**rates: float) -> SimAdapter:
    return SimAdapter(SimSettings(faults=SimFaults(**rates, retry_after_s=2, hang_s=0.01)))


def test_429_maps_to_a_status_error_with_retry_after() -> None:
    with pytest.raises(UpstreamStatusError) as info:
        run(faulty(rate_429=1.0).complete(chat(), TARGET))
    err = info.value
    assert err.upstream_status == 429
    assert err.status_code() == 429
    assert err.upstream_type == "rate_limit_error"
    assert err.code == "rate_limit_exceeded"
    assert err.headers == {"retry-after": "2"}
    assert err.is_retryable


@pytest.mark.parametrize(("rate", "status"), [("rate_500", 500), ("rate_503", 503)])
def test_server_errors_map_to_status_errors(rate: str, status: int) -> None:
    with pytest.raises(UpstreamStatusError) as info:
        run(faulty(**{rate: 1.0}).stream(chat(True), TARGET))
    assert info.value.upstream_status == status
    assert info.value.upstream_type == "server_error"


def test_a_malformed_body_is_a_protocol_error() -> None:
    with pytest.raises(UpstreamProtocolError):
        run(faulty(rate_malformed=1.0).complete(chat(), TARGET))
    with pytest.raises(UpstreamProtocolError):
        run(faulty(rate_malformed=1.0).embed(LLMRequest("embeddings", "e", {"input": "x"}), TARGET))


@pytest.mark.parametrize("rate", ["rate_malformed", "rate_reset"])
def test_a_broken_stream_fails_after_some_chunks(rate: str) -> None:
    got: list[StreamChunk] = []

    async def go() -> None:
        s = await faulty(**{rate: 1.0}).stream(chat(True), TARGET)
        async for chunk in s:
            got.append(chunk)

    with pytest.raises(UpstreamProtocolError):
        run(go())
    assert got  # the failure comes mid-stream, not before it


def test_a_reset_before_the_answer_is_unavailable() -> None:
    with pytest.raises(UpstreamUnavailable):
        run(faulty(rate_reset=1.0).complete(chat(), TARGET))


def test_a_hang_ends_in_a_closed_connection() -> None:
    with pytest.raises(UpstreamUnavailable):
        run(faulty(rate_timeout=1.0).complete(chat(), TARGET))


def test_a_hang_is_cut_by_the_callers_timeout() -> None:
    adapter = SimAdapter(SimSettings(faults=SimFaults(rate_timeout=1.0, hang_s=60)))
    t0 = time.perf_counter()
    with pytest.raises(TimeoutError):
        run(asyncio.wait_for(adapter.stream(chat(True), TARGET), 0.05))
    assert time.perf_counter() - t0 < 5


def test_an_invalid_request_is_a_400_status_error() -> None:
    req = LLMRequest("chat", "alias", {"model": "alias", "messages": []})
    with pytest.raises(UpstreamStatusError) as info:
        run(SimAdapter(SimSettings()).complete(req, TARGET))
    assert info.value.upstream_status == 400
    assert info.value.param == "messages"
