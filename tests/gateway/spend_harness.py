"""Helpers for spend-control tests: configs with budgets, concurrent clients, state readers."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any, TypeVar

import aiohttp
import orjson
from tests.gateway.harness import RunningGateway, sim_config
from tests.redis_support import REDIS_URL, own_prefix

from daytwo.config.schema import PricingConfig
from daytwo.control.budgets import worst_case_nanos
from daytwo.control.gate import RESERVE_INPUT_FACTOR
from daytwo.core.tokens import estimate_input_tokens
from daytwo.pricing.catalog import PriceBook

T = TypeVar("T")
MODEL = "gpt-4o-mini"
MESSAGES = [{"role": "user", "content": "hello there"}]
MAX_TOKENS = 20


def worst_case() -> int:
    """The reservation of one test call (what the gateway computes), in nano-dollars."""
    price = PriceBook.from_config(PricingConfig()).lookup(MODEL)
    assert price is not None
    body = {"model": MODEL, "messages": MESSAGES, "max_tokens": MAX_TOKENS}
    reserve_in = -(-estimate_input_tokens(body) * 5 // 4)
    assert RESERVE_INPUT_FACTOR == 1.25
    return worst_case_nanos(price, reserve_in, MAX_TOKENS)


def usd(nanos: int) -> str:
    return str(Decimal(nanos) / Decimal(10**9))


def daily_budget(cap_nanos: int, **extra: Any) -> dict[str, Any]:
    """The ``acme-daily`` budget: project ``acme``, a day's window, ``cap_nanos`` of spend."""
    return {
        "name": "acme-daily",
        "scope": {"project": "acme"},
        "window": "day",
        "usd": usd(cap_nanos),
        **extra,
    }


def state_settings(backend: str) -> Iterator[dict[str, Any]]:
    """The ``spend_control.state`` section for ``backend`` (``memory``, or ``redis`` on a
    fresh key prefix of the real Redis, its keys deleted afterwards): for a parametrized
    fixture to ``yield from``."""
    if backend == "memory":
        yield {"backend": "memory"}
        return
    with own_prefix() as prefix:
        yield {"backend": "redis", "url": REDIS_URL, "prefix": prefix}


def spend_config(tmp_path: Path, spend: dict[str, Any], **sim: Any) -> dict[str, Any]:
    cfg = sim_config(tmp_path, min_output_tokens=MAX_TOKENS, max_output_tokens=MAX_TOKENS, **sim)
    cfg["spend_control"] = spend
    return cfg


def chat_body(*, stream: bool = False, **extra: Any) -> bytes:
    body: dict[str, Any] = {"model": MODEL, "messages": MESSAGES, "max_tokens": MAX_TOKENS}
    if stream:
        body["stream"] = True
        body["stream_options"] = {"include_usage": True}
    body.update(extra)
    return orjson.dumps(body)


async def post_many(
    url: str,
    bodies: list[bytes],
    headers: dict[str, str] | None = None,
    *,
    drop_after_first: set[int] | None = None,
) -> list[tuple[int, bytes]]:
    """POST every body at once (one connection each); ``drop_after_first``: indexes of
    streaming clients that hang up after their first chunk."""
    hdrs = {"content-type": "application/json", **(headers or {})}
    drop = drop_after_first or set()
    conn = aiohttp.TCPConnector(limit=0, force_close=True)
    async with aiohttp.ClientSession(connector=conn) as session:

        async def one(i: int, body: bytes) -> tuple[int, bytes]:
            async with session.post(f"{url}/v1/chat/completions", data=body, headers=hdrs) as r:
                if i in drop and r.status == 200:
                    first = await r.content.readany()
                    r.close()  # hang up mid-stream
                    return 499, first
                return r.status, await r.read()

        return await asyncio.gather(*(one(i, b) for i, b in enumerate(bodies)))


def on_gateway_loop(gw: RunningGateway, coro: Awaitable[T]) -> T:
    assert gw.app.loop is not None
    fut = asyncio.run_coroutine_threadsafe(coro, gw.app.loop)  # type: ignore[arg-type]
    return fut.result(10)


def settled(gw: RunningGateway) -> bool:
    """True once no spend-control settlement is still running in the gateway."""
    return not gw.app.pipeline._settling
