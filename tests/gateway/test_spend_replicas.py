"""Two gateway processes sharing one Redis and one PostgreSQL ledger: one budget holds across
both, and a kill switch flipped elsewhere is enforced on every replica within a second."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import psycopg
import pytest
from tests.gateway.harness import http
from tests.gateway.procs import Proc, start_gateway
from tests.gateway.spend_harness import chat_body, post_many, spend_config, usd, worst_case
from tests.redis_support import REDIS_URL, own_prefix

from daytwo.control.switches import SwitchBoard
from daytwo.state.redis import RedisState

pytestmark = [pytest.mark.integration, pytest.mark.postgres]

ACME = {"x-daytwo-project": "acme"}


@pytest.fixture
def prefix() -> Iterator[str]:
    with own_prefix("daytwo-replicas") as p:
        yield p


@pytest.fixture
def replicas(tmp_path: Path, pg_url: str, prefix: str) -> Iterator[Any]:
    procs: list[Proc] = []

    def start(spend: dict[str, Any], n: int = 2, **sim: Any) -> list[str]:
        spend = {"state": {"backend": "redis", "url": REDIS_URL, "prefix": prefix}, **spend}
        urls = []
        for i in range(n):
            cfg = spend_config(tmp_path, spend, **sim)
            cfg["ledger"] = {"url": pg_url, "flush_interval_ms": 5}
            proc, url, _ = start_gateway(cfg, tmp_path, f"replica{i}")
            procs.append(proc)
            urls.append(url)
        return urls

    yield start
    for proc in procs:
        proc.stop()


def _ledger(pg_url: str) -> list[dict[str, Any]]:
    with psycopg.connect(pg_url) as conn, conn.cursor() as cur:
        cur.execute("SELECT status, http_status, cost_nanousd FROM calls")
        return [{"status": s, "http": h, "cost": c} for s, h, c in cur.fetchall()]


@pytest.mark.parametrize("stream", [False, True], ids=["plain", "stream"])
def test_one_budget_holds_across_two_replicas(replicas: Any, pg_url: str, stream: bool) -> None:
    cap = 50 * worst_case()
    budget = {"name": "acme", "scope": {"project": "acme"}, "window": "day", "usd": usd(cap)}
    a, b = replicas({"budgets": [budget]}, ttft_ms=30)
    bodies = [chat_body(stream=stream) for _ in range(100)]

    async def both() -> list[tuple[int, bytes]]:
        ra, rb = await asyncio.gather(post_many(a, bodies, ACME), post_many(b, bodies, ACME))
        return ra + rb

    results = asyncio.run(both())
    statuses = [s for s, _ in results]
    assert 40 <= statuses.count(200) <= 60, statuses
    assert statuses.count(200) + statuses.count(429) == 200
    refused = [orjson.loads(body)["error"] for s, body in results if s == 429]
    assert {e["type"] for e in refused} == {"budget_exceeded"}
    rows = _wait_rows(pg_url, 200)
    spent = sum(r["cost"] or 0 for r in rows)
    assert 0 < spent <= cap
    assert sum(1 for r in rows if r["status"] == "ok") == statuses.count(200)


def _wait_rows(pg_url: str, n: int) -> list[dict[str, Any]]:
    deadline = time.monotonic() + 10
    while True:
        rows = _ledger(pg_url)
        if len(rows) >= n or time.monotonic() > deadline:
            return rows
        time.sleep(0.05)


def test_a_kill_switch_is_enforced_on_every_replica_within_a_second(
    replicas: Any, prefix: str
) -> None:
    urls = replicas({})
    chat = [f"{u}/v1/chat/completions" for u in urls]
    for u in chat:
        assert http("POST", u, chat_body(), ACME)[0] == 200

    async def flip(kill: bool) -> None:
        state = RedisState.from_url(REDIS_URL, prefix=prefix)
        board = SwitchBoard(state)  # a third replica, making the change
        await board.start()
        try:
            if kill:
                await board.kill({"project": "acme"}, reason="runaway agent", who="test")
            else:
                await board.revive({"project": "acme"}, who="test")
        finally:
            await board.aclose()
            await state.aclose()

    def seconds_until(status: int) -> float:
        t0 = time.monotonic()
        pending = set(chat)
        while pending:
            for u in list(pending):
                if http("POST", u, chat_body(), ACME)[0] == status:
                    pending.discard(u)
            assert time.monotonic() - t0 < 5, "a replica never saw the change"
        return time.monotonic() - t0

    asyncio.run(flip(kill=True))
    took = seconds_until(403)
    assert took < 1.0, f"kill took {took:.3f}s to reach every replica"
    status, _, body = http("POST", chat[1], chat_body(), ACME)
    err = orjson.loads(body)["error"]
    assert (status, err["type"], err["scope"]) == (403, "feature_disabled", "project=acme")
    assert "runaway agent" in err["message"]
    assert http("POST", chat[0], chat_body(), {"x-daytwo-project": "other"})[0] == 200
    asyncio.run(flip(kill=False))
    assert seconds_until(200) < 1.0
