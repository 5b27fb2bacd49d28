"""Two gateway replicas share a Redis of the test's own (no persistence) and a PostgreSQL
ledger. Killing that Redis and starting it again empty mid-run, or flushing it, does not reset
any budget: the replicas fail closed while it is down, detect the lost data on reconnect (its
generation marker is gone), rebuild every counter from the ledger once -- one replica, under a
lock -- and only then admit again. Spend stays within the cap plus the calls in flight."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

import orjson
import psycopg
import pytest
from tests.gateway.harness import http, wait_for
from tests.gateway.procs import Proc, start_gateway
from tests.gateway.spend_harness import chat_body, spend_config, usd, worst_case
from tests.own_redis import EPHEMERAL, OwnRedis, own_redis

from daytwo.keys.model import KeySpec
from daytwo.keys.store import KeyStore
from daytwo.state.redis import RedisState

pytestmark = [pytest.mark.integration, pytest.mark.postgres]

#: Callers per budget, each with one call at a time: at most this many calls are in flight.
WORKERS = 2
REBUILT = "spend-control state had no generation marker"


@dataclass(frozen=True, slots=True)
class Result:
    at: float
    kind: str
    status: int
    type: str | None


class Traffic:
    """Callers that keep calling both replicas until told to stop."""

    def __init__(self, urls: list[str], kinds: dict[str, dict[str, str]]) -> None:
        self.results: list[Result] = []
        self._stop = threading.Event()
        self._threads = [
            threading.Thread(target=self._run, args=(urls, kind, headers, i), daemon=True)
            for kind, headers in kinds.items()
            for i in range(WORKERS)
        ]

    def _run(self, urls: list[str], kind: str, headers: dict[str, str], i: int) -> None:
        n = i
        while not self._stop.is_set():
            url = urls[n % len(urls)] + "/v1/chat/completions"
            n += 1
            status, _, raw = http("POST", url, chat_body(), headers)
            err = orjson.loads(raw).get("error") if status != 200 else None
            self.results.append(Result(time.monotonic(), kind, status, err and err["type"]))

    def start(self) -> None:
        for t in self._threads:
            t.start()

    def stop(self) -> None:
        self._stop.set()
        for t in self._threads:
            t.join(60)

    def seen(self, kind: str, status: int, since: float = 0.0) -> int:
        return sum(
            1 for r in self.results if r.kind == kind and r.status == status and r.at > since
        )


@pytest.fixture
def redis_server(tmp_path: Path) -> Iterator[OwnRedis]:
    with own_redis(tmp_path, *EPHEMERAL) as server:
        yield server


#: Spend per budget: the configured one (project acme), the key's own.
SPENT = {
    "acme": "SELECT COALESCE(SUM(cost_nanousd), 0) FROM calls WHERE project = %s",
    "key": "SELECT COALESCE(SUM(cost_nanousd), 0) FROM calls WHERE key_id = %s",
}


def _spent(pg_url: str, kind: str, value: str) -> int:
    with psycopg.connect(pg_url) as conn, conn.cursor() as cur:
        cur.execute(SPENT[kind], (value,))
        row = cur.fetchone()
        assert row is not None
        return int(row[0])


def _rows(pg_url: str) -> int:
    with psycopg.connect(pg_url) as conn, conn.cursor() as cur:
        cur.execute("SELECT COUNT(*) FROM calls")
        row = cur.fetchone()
        assert row is not None
        return int(row[0])


def test_budgets_hold_when_redis_restarts_empty_or_is_flushed_mid_run(
    tmp_path: Path, pg_url: str, redis_server: OwnRedis
) -> None:
    cap_micro = 20 * worst_case() // 1000
    cap = cap_micro * 1000
    budget = {"name": "acme", "scope": {"project": "acme"}, "window": "day", "usd": usd(cap)}
    with KeyStore.open(pg_url) as store:
        key = store.create(
            KeySpec(project="keyed", budget=f"{Decimal(cap_micro) / 10**6}/day"), actor="test"
        )
    spend = {"state": {"backend": "redis", "url": redis_server.url}, "budgets": [budget]}
    procs: list[Proc] = []
    traffic: Traffic | None = None
    try:
        urls = []
        for i in range(2):
            cfg = spend_config(tmp_path, spend)
            cfg["ledger"] = {"url": pg_url, "flush_interval_ms": 5}
            proc, url, _ = start_gateway(cfg, tmp_path, f"replica{i}")
            procs.append(proc)
            urls.append(url)
        kinds = {
            "acme": {"x-daytwo-project": "acme"},
            "key": {"Authorization": f"Bearer {key.secret}"},
        }
        traffic = Traffic(urls, kinds)
        traffic.start()

        def refused_after(since: float) -> bool:
            return all(traffic.seen(k, 429, since) >= 3 for k in kinds)

        # 1. both budgets spent
        wait_for(lambda: refused_after(0.0), 60, "both budgets to be spent")
        # 2. Redis killed: every replica fails closed
        redis_server.kill()
        killed = time.monotonic()
        wait_for(lambda: all(traffic.seen(k, 503, killed) for k in kinds), 30, "503s")
        assert {r.type for r in traffic.results if r.status == 503} == {"state_unavailable"}
        # 3. Redis back, empty: the counters are rebuilt from the ledger, the caps still hold
        redis_server.start()
        back = time.monotonic()
        wait_for(lambda: refused_after(back), 60, "refusals after the restart")
        # 4. the same after FLUSHALL
        redis_server.flushall()
        flushed = time.monotonic()
        wait_for(lambda: refused_after(flushed), 60, "refusals after the flush")
    finally:
        if traffic is not None:
            traffic.stop()
        for proc in procs:
            proc.stop()
    assert traffic is not None
    wait_for(lambda: _rows(pg_url) == len(traffic.results), 30, "every call in the ledger")
    in_flight = WORKERS * worst_case()
    for kind, spent in (
        ("acme", _spent(pg_url, "acme", "acme")),
        ("key", _spent(pg_url, "key", key.record.id)),
    ):
        assert cap - worst_case() < spent <= cap + in_flight, (kind, spent / cap)
    logs = [line.get("msg", "") for proc in procs for line in proc.lines()]
    # one rebuild per loss (first start, restart, flush), by one replica each time
    assert sum(1 for m in logs if m.startswith(REBUILT)) == 3
    assert sum(1 for m in logs if "has no persistence" in m) == 2  # each replica, at start


def _warnings(server: OwnRedis) -> list[str]:
    async def check() -> list[str]:
        state = RedisState.from_url(server.url)
        try:
            return await state.durability_warnings()
        finally:
            await state.aclose()

    return asyncio.run(check())


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        ((*EPHEMERAL, "--maxmemory-policy", "allkeys-lru"), ["has no persistence", "evicts keys"]),
        (("--appendonly", "yes", "--maxmemory-policy", "noeviction"), []),
        (("--save", "3600 1", "--maxmemory-policy", "volatile-ttl"), ["evicts keys"]),
        (("--rename-command", "CONFIG", ""), ["could not check"]),
    ],
    ids=["ephemeral-lru", "aof-noeviction", "rdb-volatile", "config-refused"],
)
def test_the_redis_configuration_is_checked_at_start(
    tmp_path: Path, args: tuple[str, ...], expected: list[str]
) -> None:
    with own_redis(tmp_path, *args) as server:
        got = _warnings(server)
    assert len(got) == len(expected), got
    for text, want in zip(got, expected, strict=True):
        assert want in text
