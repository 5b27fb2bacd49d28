"""Two gateway replicas on one PostgreSQL ledger: judging the same stage at the same moment,
only one changes it (the store's versioned move) and the other takes the change it lost to;
sharing Redis state, one replica judges (a lease), each stage changes once, and both route by
every change within a second."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from tests.gateway.harness import RunningGateway, running_gateway, wait_for
from tests.redis_support import REDIS_URL, own_prefix, require_redis
from tests.rollout.controller_harness import (
    chat,
    cheaper,
    controller_config,
    on_board,
    rollout_events,
)
from tests.rollout.harness import start

from daytwo.rollout.controller import Step
from daytwo.rollout.model import Rollout

pytestmark = [pytest.mark.integration, pytest.mark.postgres]


@pytest.fixture
def prefix() -> Iterator[str]:
    require_redis()
    with own_prefix("daytwo-rollouts") as p:
        yield p


def _config(tmp_path: Path, pg_url: str, name: str, **rollouts: Any) -> dict[str, Any]:
    cfg = controller_config(tmp_path / name, ttft_ms=20, **rollouts)
    cfg["ledger"] = {"url": pg_url, "flush_interval_ms": 5}
    return cfg


def _step(gw: RunningGateway, rollout: Rollout, now: float) -> asyncio.Future[Step]:
    controller, loop = gw.app.rollout_controller, gw.app.loop
    assert controller is not None and loop is not None
    return asyncio.wrap_future(
        asyncio.run_coroutine_threadsafe(controller.step(rollout, now), loop)
    )


async def _both(a: RunningGateway, b: RunningGateway, rollout: Rollout) -> list[Step]:
    now = time.time()
    return list(await asyncio.gather(_step(a, rollout, now), _step(b, rollout, now)))


def test_two_replicas_judging_one_stage_at_once_change_it_once(tmp_path: Path, pg_url: str) -> None:
    # evaluate_s at its most: the loops stay asleep, the test runs the rounds.
    with (
        running_gateway(_config(tmp_path, pg_url, "a", evaluate_s=3600)) as a,
        running_gateway(_config(tmp_path, pg_url, "b", evaluate_s=3600)) as b,
    ):
        r = start(pg_url, cheaper())
        for gw in (a, b):
            wait_for(lambda gw=gw: gw.app.rollouts is not None and gw.app.rollouts.any)
        i, rounds = 0, []
        while not any(s.action for s in (rounds[-1] if rounds else [])):
            assert i < 600, f"no stage change after {i} calls: {rounds[-1]}"
            for _ in range(20):
                chat((a, b)[i % 2], i)
                i += 1
            for gw in (a, b):
                assert gw.app.ledger is not None
                gw.app.ledger.flush(10.0)
            rounds.append(asyncio.run(_both(a, b, r)))
        won, lost = sorted(rounds[-1], key=lambda s: s.action is None)
        assert won.action == "rollout.advance" and lost.action is None
        assert lost.note == "moved elsewhere first"
        assert lost.judgement is not None and lost.judgement.outcome == "pass"
        assert won.after is not None
        # the loser took the winner's change onto its board at once
        assert on_board(a, r.id) == on_board(b, r.id) == won.after
    assert [e.action for e in rollout_events(pg_url, r.id)] == ["rollout.start", "rollout.advance"]


def test_two_replicas_sharing_redis_move_each_stage_once_and_together(
    tmp_path: Path, pg_url: str, prefix: str
) -> None:
    state = {"state": {"backend": "redis", "url": REDIS_URL, "prefix": prefix}}
    configs = [_config(tmp_path, pg_url, name) for name in ("a", "b")]
    for cfg in configs:
        cfg["spend_control"] = state
    with running_gateway(configs[0]) as a, running_gateway(configs[1]) as b:
        r = start(pg_url, cheaper())
        seen: dict[str, float] = {}

        def done() -> bool:
            for name, gw in (("a", a), ("b", b)):
                if name not in seen and on_board(gw, r.id).status == "completed":
                    seen[name] = time.monotonic()
            return bool(seen)

        for gw in (a, b):
            wait_for(lambda gw=gw: gw.app.rollouts is not None and gw.app.rollouts.any)
        i = 0
        while not done():
            assert i < 600, f"not completed after {i} calls: {on_board(a, r.id)}"
            chat((a, b)[i % 2], i)
            i += 1
        wait_for(lambda: done() and len(seen) == 2, timeout_s=1.0, what="the other replica")
        judged = [
            gw for gw in (a, b) if gw.app.rollout_controller and gw.app.rollout_controller.last
        ]
    assert abs(seen["a"] - seen["b"]) < 1.0
    assert len(judged) == 1  # the lease holder alone judged
    events = rollout_events(pg_url, r.id)
    assert [e.action for e in events] == ["rollout.start", "rollout.advance", "rollout.complete"]
