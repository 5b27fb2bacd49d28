"""The eval client against a running gateway (real HTTP, the in-process simulator): answers
read whole (tool calls, served model, usage, cost, call id), embeddings, attribution and the
cache."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import aiohttp
import orjson
import pytest
from tests.evals.harness import project_config
from tests.gateway.harness import RunningGateway, running_gateway

from daytwo.evals.cache import EvalCache
from daytwo.evals.client import Attribution, GatewayClient, Meter
from daytwo.evals.model import CallFailed

pytestmark = pytest.mark.integration

WEATHER = {
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


def no_prompts(tmp_path: Path) -> dict[str, Any]:
    cfg = project_config(tmp_path)
    cfg.pop("prompts")
    return cfg


def with_client(
    gw: RunningGateway, cache: EvalCache, use: Callable[[GatewayClient], Awaitable[Any]]
) -> tuple[Any, Meter]:
    meter = Meter()

    async def main() -> Any:
        async with aiohttp.ClientSession() as session:
            client = GatewayClient(
                gw.url,
                session,
                Attribution("evals", "eval:unit", "run-1"),
                identity=lambda model: model,
                cache=cache,
                meter=meter,
            )
            return await use(client)

    return asyncio.run(main()), meter


def test_answers_embeddings_and_their_ledger_rows(tmp_path: Path) -> None:
    cache = EvalCache(tmp_path / ".daytwo")
    body = {
        "model": "gpt-4o-mini",
        "messages": [{"role": "user", "content": "Weather in Oslo?"}],
        "tools": [WEATHER],
        "tool_choice": "required",
        "max_tokens": 100,
    }

    async def use(client: GatewayClient) -> Any:
        answer = await client.chat(body, purpose="answer")
        vectors, cost = await client.embed(["a", "b c"], "text-embedding-3-small")
        return answer, vectors, cost

    with running_gateway(no_prompts(tmp_path)) as gw:
        (answer, vectors, cost), meter = with_client(gw, cache, use)
        rows = gw.records()
        (call,) = answer.tool_calls
        assert call.name == "get_weather" and "city" in orjson.loads(call.arguments)
        assert answer.finish_reason == "tool_calls"
        assert answer.served_model == "gpt-4o-mini" and answer.output_tokens > 0
        by_id = {r["id"]: r for r in rows}
        assert answer.call_id in by_id
        assert answer.cost_usd == pytest.approx(by_id[answer.call_id]["cost_nanousd"] / 1e9)
        assert len(vectors) == 2 and len(vectors[0]) > 0 and cost > 0
        assert meter.calls == len(rows) == 2
        assert meter.spent_usd == pytest.approx(answer.cost_usd + cost)
        assert [orjson.loads(r["tags"]) for r in rows] == [
            {"run": "run-1", "purpose": "answer"},
            {"run": "run-1", "purpose": "embedding"},
        ]
        assert {(r["project"], r["workflow"], r["session"]) for r in rows} == {
            ("evals", "eval:unit", "run-1")
        }

        (again, vectors_again, cost_again), meter = with_client(gw, cache, use)
        assert len(gw.records()) == 2  # both from the cache
        assert meter.calls == 0 and meter.spent_usd == 0
        assert again.cached and again.tool_calls == answer.tool_calls
        assert (vectors_again, cost_again) == (vectors, cost)
    cache.close()


def test_a_refused_request_fails_the_call_not_the_run(tmp_path: Path) -> None:
    cache = EvalCache(tmp_path / ".daytwo")

    async def use(client: GatewayClient) -> Any:
        body = {"model": "no-such-alias", "messages": [{"role": "user", "content": "hi"}]}
        with pytest.raises(CallFailed, match="HTTP 404"):
            await client.chat(body, purpose="answer")

    with running_gateway(no_prompts(tmp_path)) as gw:
        _, meter = with_client(gw, cache, use)
        assert meter.calls == 1  # a caller error is not retried
    cache.close()
