"""A new virtual key works on its first call on every gateway, without waiting for the key
snapshot's refresh; unknown keys cost the database at most one query per negative-cache period
(and never for a bad checksum)."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import sqlalchemy as sa
from tests.gateway.harness import RunningGateway, http, sim_config
from tests.gateway.procs import Proc, start_gateway

from daytwo.keys.admin_tokens import AdminTokens
from daytwo.keys.cache import DEFAULT_MISS_RATE, DEFAULT_NEGATIVE_TTL_S
from daytwo.keys.format import checksum, new_secret
from daytwo.keys.model import KeySpec
from daytwo.keys.store import KeyStore

pytestmark = pytest.mark.integration

CHAT = "/v1/chat/completions"
BODY = json.dumps({"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}]})
#: Far longer than any test: a key that works was found by the lookup, not by a refresh.
NO_REFRESH = {"require_keys": True, "key_cache_ttl_s": 3600}


def _chat(url: str, secret: str) -> int:
    return http("POST", url + CHAT, BODY.encode(), {"Authorization": f"Bearer {secret}"})[0]


@pytest.fixture
def two_gateways(tmp_path: Path) -> Iterator[tuple[str, str, str]]:
    """Two `daytwo serve` processes sharing one ledger database (where keys live)."""
    procs: list[Proc] = []
    try:
        urls = []
        for name in ("a", "b"):
            cfg = sim_config(tmp_path)
            cfg["gateway"] = dict(NO_REFRESH)
            proc, url, _ = start_gateway(cfg, tmp_path, name)
            procs.append(proc)
            urls.append(url)
        yield urls[0], urls[1], f"sqlite:///{tmp_path / 'ledger.db'}"
    finally:
        for proc in procs:
            proc.stop()


def test_a_key_created_on_one_gateway_works_on_another_on_the_first_call(
    two_gateways: tuple[str, str, str],
) -> None:
    a, b, ledger = two_gateways
    with KeyStore.open(ledger) as store:
        admin = AdminTokens(store).create("admin", actor="test").secret
        # through gateway A's admin API
        status, _, raw = http(
            "POST",
            a + "/admin/keys",
            json.dumps({"project": "fresh"}).encode(),
            {"Authorization": f"Bearer {admin}"},
        )
        assert status == 201, raw
        secret = json.loads(raw)["key"]
        assert _chat(b, secret) == 200  # the first call on B, its snapshot an hour from refresh
        assert _chat(a, secret) == 200
        # as `daytwo keys create` does: straight into the store
        issued = store.create(KeySpec(project="fresh"), actor="test")
        assert _chat(b, issued.secret) == 200
        # a revoked key stays refused
        doomed = store.create(KeySpec(project="fresh"), actor="test")
        store.revoke(doomed.record.id, actor="test")
        assert _chat(b, doomed.secret) == 401


class Queries:
    """Counts the key lookups by hash that reach the gateway's database."""

    def __init__(self, engine: sa.Engine) -> None:
        self.n = 0
        self.engine = engine
        sa.event.listen(engine, "before_cursor_execute", self._seen)

    def _seen(self, conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        if "FROM virtual_keys" in statement and "virtual_keys.hash =" in statement:
            self.n += 1

    def close(self) -> None:
        sa.event.remove(self.engine, "before_cursor_execute", self._seen)


@pytest.fixture
def keyed(
    tmp_path: Path, gateway_factory: Callable[..., RunningGateway]
) -> Iterator[tuple[RunningGateway, KeyStore, Queries]]:
    cfg = sim_config(tmp_path)
    cfg["gateway"] = dict(NO_REFRESH)
    gw = gateway_factory(cfg)
    assert gw.app.key_store is not None
    queries = Queries(gw.app.key_store.engine)
    with KeyStore.open(cfg["ledger"]["url"]) as store:
        yield gw, store, queries
    queries.close()


async def _many(url: str, secrets: list[str]) -> list[int]:
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0)) as session:

        async def one(secret: str) -> int:
            hdrs = {"Authorization": f"Bearer {secret}", "content-type": "application/json"}
            async with session.post(url + CHAT, data=BODY, headers=hdrs) as r:
                await r.read()
                return r.status

        return await asyncio.gather(*(one(s) for s in secrets))


def test_concurrent_first_calls_of_a_new_key_share_one_lookup(
    keyed: tuple[RunningGateway, KeyStore, Queries],
) -> None:
    gw, store, queries = keyed
    issued = store.create(KeySpec(project="fresh"), actor="test")
    assert asyncio.run(_many(gw.url, [issued.secret] * 20)) == [200] * 20
    assert queries.n == 1
    assert [_chat(gw.url, issued.secret) for _ in range(5)] == [200] * 5
    assert queries.n == 1  # from then on it is in memory


def test_unknown_keys_reach_the_database_at_most_once_per_negative_period(
    keyed: tuple[RunningGateway, KeyStore, Queries],
) -> None:
    gw, _, queries = keyed
    # a bad checksum (a typo, noise) never reaches the database
    good = new_secret()
    typo = good[:-1] + ("a" if good[-1] != "a" else "b")
    assert [_chat(gw.url, typo) for _ in range(20)] == [401] * 20
    assert queries.n == 0

    # a well-formed unknown key: one query, then refused from memory for the negative period
    unknown = new_secret()
    t0 = time.monotonic()
    assert asyncio.run(_many(gw.url, [unknown] * 20)) == [401] * 20
    statuses = []
    while time.monotonic() - t0 < DEFAULT_NEGATIVE_TTL_S - 1:
        statuses.append(_chat(gw.url, unknown))
    assert set(statuses) == {401} and len(statuses) > 5
    assert queries.n == 1
    deadline = time.monotonic() + 10
    while queries.n == 1:  # after the period it may be asked once more, not before
        assert _chat(gw.url, unknown) == 401
        assert time.monotonic() < deadline, "the negative entry never expired"
    assert queries.n == 2
    assert time.monotonic() - t0 >= DEFAULT_NEGATIVE_TTL_S

    # a flood of distinct random well-formed keys: the database sees at most the miss budget
    before, t1 = queries.n, time.monotonic()
    flood = [new_secret() for _ in range(300)]
    assert set(asyncio.run(_many(gw.url, flood))) == {401}
    took = time.monotonic() - t1
    assert queries.n - before <= DEFAULT_MISS_RATE * (1 + took)
    # the checksum is what admits a key to a lookup at all
    assert all(s[-6:] == checksum(s[:-6]) for s in flood)


def test_a_new_key_counts_tokens_at_once_as_it_calls_messages(
    keyed: tuple[RunningGateway, KeyStore, Queries],
) -> None:
    gw, store, _ = keyed
    issued = store.create(KeySpec(project="fresh"), actor="test")
    body = {
        "model": "gpt-4o-mini",
        "max_tokens": 5,
        "messages": [{"role": "user", "content": "hi"}],
    }
    hdrs = {"x-api-key": issued.secret, "anthropic-version": "2023-06-01"}
    status, _, raw = http(
        "POST", gw.url + "/v1/messages/count_tokens", json.dumps(body).encode(), hdrs
    )
    assert status == 200, raw
    assert json.loads(raw)["input_tokens"] > 0
    status, _, _ = http("POST", gw.url + "/v1/messages", json.dumps(body).encode(), hdrs)
    assert status == 200
    hdrs["x-api-key"] = new_secret()  # unknown: refused, in Anthropic's shape
    status, _, raw = http(
        "POST", gw.url + "/v1/messages/count_tokens", json.dumps(body).encode(), hdrs
    )
    assert (status, json.loads(raw)["error"]["type"]) == (401, "authentication_error")
