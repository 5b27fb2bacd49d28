"""With Redis state, one replica evaluates the shared rules: the lease (real Redis), and two
real gateways on one ledger that send each notification once -- also when the evaluating one
stops and the other takes over mid-alert."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from tests.alerts.harness import alert_gateway_config, call, history, webhook
from tests.alerts.receiver import Receiver
from tests.gateway.harness import RunningGateway, running_gateway
from tests.redis_support import REDIS_URL, own_prefix

from daytwo.alerts.lease import RedisLease

pytestmark = pytest.mark.integration


@pytest.fixture
def prefix() -> Iterator[str]:
    with own_prefix() as p:
        yield p


def test_one_holder_at_a_time_and_the_next_takes_over(prefix: str) -> None:
    async def run() -> list[object]:
        a = RedisLease(REDIS_URL, prefix=prefix, replica="a", interval_s=1)
        b = RedisLease(REDIS_URL, prefix=prefix, replica="b", interval_s=1)
        try:
            seen: list[object] = [await a.hold(), await b.hold(), await a.hold(), await b.holder()]
            await a.aclose()  # released: b gets it at once
            seen += [await b.hold(), await b.holder()]
            b.ttl_ms = 400
            await b.hold()
            c = RedisLease(REDIS_URL, prefix=prefix, replica="c", interval_s=1)
            seen.append(await c.hold())  # b still holds it
            await asyncio.sleep(0.6)  # b died without renewing: its lease expired
            seen += [await c.hold(), await b.hold()]
            await c.aclose()
            return seen
        finally:
            await b.aclose()

    assert asyncio.run(run()) == [True, False, True, "a", True, "b", False, True, False]


def test_an_unreachable_redis_means_evaluating_here() -> None:
    async def run() -> tuple[bool, bool]:
        lease = RedisLease("redis://127.0.0.1:1/0", prefix="x:", replica="a", interval_s=1)
        try:
            return await lease.hold(), lease.unreachable
        finally:
            await lease.aclose()

    assert asyncio.run(run()) == (True, True)


def _replica_config(tmp_path: Path, receiver: Receiver, prefix: str) -> dict[str, object]:
    rule = {
        "name": "errors",
        "kind": "error_rate",
        "threshold": 0.5,
        "window": 0.6,
        "sinks": ["hook"],
    }
    return alert_gateway_config(
        tmp_path,  # both replicas: one ledger file
        rules=[rule],
        sinks={"hook": webhook(f"{receiver.url}/hook")},
        spend_control={"state": {"backend": "redis", "url": REDIS_URL, "prefix": prefix}},
    )


def _wait(predicate: Callable[[], bool], what: str, timeout_s: float = 10.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.02)


def test_two_replicas_notify_once_and_hand_over_a_firing_alert(
    tmp_path: Path, receiver: Receiver, prefix: str, hmac_key: bytes
) -> None:
    cfg = _replica_config(tmp_path, receiver, prefix)
    with running_gateway(cfg) as one, running_gateway(cfg) as two:
        gateways: list[RunningGateway] = [one, two]
        _wait(lambda: one.app.alerts.leading != two.app.alerts.leading, "one leader")
        leader = next(g for g in gateways if g.app.alerts.leading)
        other = two if leader is one else one
        # Errors through both replicas, for several evaluations.
        deadline = time.monotonic() + 0.5
        while time.monotonic() < deadline:
            for gw in gateways:
                call(gw.openai(), "broken")
        bodies = receiver.wait(lambda b: len(b) >= 1, path="/hook")
        assert [b["status"] for b in bodies] == ["firing"]
        # The leader stops while the alert fires; the other one takes over ...
        handle_rows = history(leader)
        leader.handle.stop()
        _wait(lambda: other.app.alerts.leading, "the take-over")
        # ... knows the alert fires (no second firing), and resolves it once errors stop.
        bodies = receiver.wait(lambda b: len(b) >= 2, path="/hook")
        time.sleep(0.3)
        assert [b["status"] for b in receiver.bodies("/hook")] == ["firing", "resolved"]
        rows = history(other)
        fired = [r for r in handle_rows if r.kind == "transition"]
        resolved = [r for r in rows if r.kind == "transition" and r.state == "resolved"]
        assert [r.replica for r in fired] == [leader.app.alerts.replica]
        assert [r.replica for r in resolved] == [other.app.alerts.replica]
