"""A gateway whose Redis lost its data (its keys deleted, as FLUSHALL would) while another
replica holds the rebuild: ``fail_closed`` refuses with 503 ``state_unavailable`` and
``fail_open`` admits unmetered until the rebuild is done; kill switches survive the loss; the
rebuilt counters equal the ledger's totals (set, not added, however many replicas rebuild)."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path
from zoneinfo import ZoneInfo

import orjson
import pytest
import redis
from tests.gateway.harness import RunningGateway, http, wait_for
from tests.gateway.spend_harness import (
    chat_body,
    on_gateway_loop,
    settled,
    spend_config,
    usd,
    worst_case,
)
from tests.redis_support import REDIS_URL, delete_prefix, own_prefix, require_redis

from daytwo.control.windows import window_at

pytestmark = pytest.mark.integration

ACME = {"x-daytwo-project": "acme"}


@pytest.fixture
def prefix() -> Iterator[str]:
    require_redis()
    with own_prefix("daytwo-lost") as p:
        yield p


def _gateway(
    tmp_path: Path, factory: Callable[..., RunningGateway], prefix: str, policy: str
) -> RunningGateway:
    budget = {"name": "acme", "scope": {"project": "acme"}, "window": "day"}
    spend = {
        "state": {"backend": "redis", "url": REDIS_URL, "prefix": prefix, "on_unavailable": policy},
        "budgets": [{**budget, "usd": usd(10 * worst_case())}],
    }
    return factory(spend_config(tmp_path, spend))


def _spent_counter(gw: RunningGateway) -> int:
    assert gw.app.spend is not None
    w = window_at("day", time.time(), ZoneInfo("UTC"))
    (c,) = on_gateway_loop(
        gw, gw.app.spend.state.counters([f"budget:acme:project=acme:day:{w.id}"])
    )
    return int(c.spent_nanos)


def _chat(gw: RunningGateway, headers: dict[str, str] = ACME) -> tuple[int, str | None]:
    status, _, raw = http("POST", f"{gw.base_url}/chat/completions", chat_body(), headers)
    return status, orjson.loads(raw).get("error", {}).get("type") if status != 200 else None


@pytest.mark.parametrize("policy", ["fail_closed", "fail_open"])
def test_a_lost_redis_is_rebuilt_before_anything_is_admitted_against_it(
    tmp_path: Path, gateway_factory: Callable[..., RunningGateway], prefix: str, policy: str
) -> None:
    gw = _gateway(tmp_path, gateway_factory, prefix, policy)
    for _ in range(3):
        assert _chat(gw) == (200, None)
    wait_for(lambda: settled(gw))
    spent = sum(r["cost_nanousd"] or 0 for r in gw.records())
    assert _spent_counter(gw) == spent > 0

    client = redis.Redis.from_url(REDIS_URL)
    try:
        delete_prefix(prefix)  # the data is gone ...
        # ... and another replica (one that died, say) holds the rebuild for a while
        client.set(f"{prefix}lock:rebuild", "someone-else", px=60_000)
        t0 = time.monotonic()
        got = _chat(gw)
        if policy == "fail_closed":
            assert got == (503, "state_unavailable")
            assert time.monotonic() - t0 >= 1.5  # it waited for the rebuild first
        else:
            assert got == (200, None)  # admitted unmetered, as the policy says
        assert _spent_counter(gw) == 0  # nothing was counted against the empty store
        client.delete(f"{prefix}lock:rebuild")  # that replica is gone: this one rebuilds
        wait_for(lambda: _chat(gw)[0] == 200, 10, "the rebuild")
        wait_for(lambda: settled(gw))
        gw.app.ledger.flush(10.0)  # type: ignore[union-attr]
        total = sum(r["cost_nanousd"] or 0 for r in gw.records())
        # the rebuilt counter is the ledger's total (the unmetered call included), once
        assert _spent_counter(gw) == total
        assert client.get(f"{prefix}gen") is not None
    finally:
        client.close()


def test_kill_switches_survive_a_lost_redis(
    tmp_path: Path, gateway_factory: Callable[..., RunningGateway], prefix: str
) -> None:
    gw = _gateway(tmp_path, gateway_factory, prefix, "fail_closed")
    assert gw.app.spend is not None
    on_gateway_loop(
        gw, gw.app.spend.switches.kill({"project": "acme"}, reason="runaway", who="test")
    )
    assert _chat(gw) == (403, "feature_disabled")
    delete_prefix(prefix)
    # the periodic resync finds the marker gone: it keeps its switches (an empty hash is not
    # "everything revived") and the rebuild writes them back
    client = redis.Redis.from_url(REDIS_URL, decode_responses=True)
    try:
        wait_for(lambda: client.get(f"{prefix}gen") is not None, 10, "the rebuild")
        assert set(client.hgetall(f"{prefix}sw")) == {"project=acme"}
    finally:
        client.close()
    assert _chat(gw) == (403, "feature_disabled")
    assert _chat(gw, {"x-daytwo-project": "other"}) == (200, None)
