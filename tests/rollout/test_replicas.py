"""Two gateway processes sharing one PostgreSQL ledger: a rollout stored elsewhere is routed
by both with the same split per session, and a stage change made elsewhere reaches both
within a second."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import orjson
import psycopg
import pytest
from tests.gateway.harness import http, route, sim_config
from tests.gateway.procs import Proc, start_gateway
from tests.rollout.harness import make_rollout, start

from daytwo.rollout.assign import bucket
from daytwo.rollout.store import RolloutStore

pytestmark = [pytest.mark.integration, pytest.mark.postgres]

BODY = orjson.dumps({"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}]})


@pytest.fixture
def replicas(tmp_path: Path, pg_url: str) -> Iterator[list[str]]:
    procs: list[Proc] = []
    urls = []
    try:
        for i in range(2):
            cfg = sim_config(tmp_path)
            cfg["models"]["cheap"] = route("sim", "gpt-3.5-turbo")
            cfg["ledger"] = {"url": pg_url, "flush_interval_ms": 5}
            cfg["rollouts"] = {"poll_s": 0.2}
            proc, url, _ = start_gateway(cfg, tmp_path, f"replica{i}")
            procs.append(proc)
            urls.append(url)
        yield urls
    finally:
        for proc in procs:
            proc.stop()


def _arm(url: str, session: str) -> str:
    status, _, raw = http("POST", f"{url}/v1/chat/completions", BODY, {"x-daytwo-session": session})
    assert status == 200, raw
    return str(orjson.loads(raw)["model"])


def _until_candidate(urls: list[str], session: str) -> list[float]:
    """Seconds until each replica serves ``session`` by the candidate (fails after 5 s)."""
    t0 = time.monotonic()
    seen: dict[str, float] = {}
    while len(seen) < len(urls) and time.monotonic() - t0 < 5:
        for url in urls:
            if url not in seen and _arm(url, session).startswith("gpt-3.5-turbo"):
                seen[url] = time.monotonic() - t0
        time.sleep(0.02)
    assert len(seen) == len(urls), seen
    return list(seen.values())


def _arms(pg_url: str) -> dict[tuple[str, str], set[str | None]]:
    with psycopg.connect(pg_url) as conn, conn.cursor() as cur:
        cur.execute("SELECT session, rollout_id, rollout_arm FROM calls")
        out: dict[tuple[str, str], set[str | None]] = {}
        for session, rollout_id, arm in cur.fetchall():
            out.setdefault((session, rollout_id), set()).add(arm)
    return out


def test_both_replicas_route_the_same_split_and_see_a_stage_change_within_a_second(
    replicas: list[str], pg_url: str
) -> None:
    a, b = replicas
    rollout = start(
        pg_url, make_rollout("alias", "gpt-4o-mini", "gpt-4o-mini", "cheap", "canary:20%,60%")
    )
    early = next(s for s in (f"e{i}" for i in range(1000)) if bucket(rollout.id, s) < 20)
    _until_candidate([a, b], early)  # both polled it
    sessions = [f"s{i}" for i in range(60)]
    for s in sessions:
        assert _arm(a, s) == _arm(b, s)  # the model each answered with: the same arm
    # the next stage, stored by a third process (the CLI, another replica's controller)
    store = RolloutStore.open(pg_url)
    try:
        moved = rollout.moved(time.time(), stage=1, stage_started_at=time.time())
        assert store.move(rollout, moved, "test", "rollout.advance")
    finally:
        store.close()
    # a session in the (20, 60) band moves to the candidate on both replicas
    probe = next(s for s in (f"p{i}" for i in range(1000)) if 20 <= bucket(rollout.id, s) < 60)
    seen = _until_candidate([a, b], probe)
    assert max(seen) < 1.0, seen
    arms = _arms(pg_url)
    for s in sessions:
        assert len(arms[(s, rollout.id)]) == 1  # one arm per session across both replicas
