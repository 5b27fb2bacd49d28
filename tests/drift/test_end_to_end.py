"""Drift end to end: the simulator's refusal rate for one model goes from 3 % to 8 % midway
(a silent change), real calls go through the gateway, the online evaluators score every answer,
and the drift evaluation flags that model -- and only that one -- through a webhook sink."""

from __future__ import annotations

import asyncio
import sqlite3
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from tests.alerts.harness import HMAC_ENV, HMAC_KEY, webhook
from tests.alerts.receiver import Receiver, receiving
from tests.drift.harness import drift_of
from tests.gateway.harness import RunningGateway, route, running_gateway, sim_config
from tests.quality.harness import scores

pytestmark = pytest.mark.integration

#: Calls per model before the change (the baseline) and after it (the recent window).
BEFORE, AFTER = 1500, 800
#: The recent window: the calls after the change, none of the baseline's.
WINDOW_S = 6.0


@pytest.fixture
def receiver(monkeypatch: pytest.MonkeyPatch) -> Iterator[Receiver]:
    monkeypatch.setenv(HMAC_ENV, HMAC_KEY)
    with receiving() as r:
        yield r


def config(tmp_path: Path, hook: str) -> dict[str, Any]:
    quality = {
        "refusal_rate": 0.03,
        # After every baseline call of both models: gpt-4o refuses 8 % of the time.
        "changes": [
            {
                "after_requests": 2 * BEFORE,
                "models": ["gpt-4o"],
                "personality": {"refusal_rate": 0.08},
            }
        ],
    }
    cfg = sim_config(tmp_path, quality=quality)
    cfg["models"] = {"changing": route("sim", "gpt-4o"), "steady": route("sim", "gpt-4o-mini")}
    cfg["quality"] = {"evaluators": [{"name": "refusals", "checks": ["refusal"]}]}
    cfg["alerts"] = {"backoff_s": 0.05, "sinks": {"hook": webhook(hook)}}
    cfg["drift"] = {
        "sinks": ["hook"],
        "model_changed": False,
        "interval_s": 3600,  # evaluated by the test, at a known time
        "window_s": WINDOW_S,
        "baseline_s": 600,
        "rates": ["refusal"],
        "distributions": [],
    }
    return cfg


async def _send(url: str, first: int, n: int) -> None:
    """``n`` questions, from number ``first``, each to both models (the simulator's fate of an
    answer is drawn from its question: every question is new)."""
    limit = asyncio.Semaphore(16)
    async with aiohttp.ClientSession() as session:

        async def one(alias: str, i: int) -> None:
            body = {
                "model": alias,
                "messages": [{"role": "user", "content": f"Question {i}: where is my order?"}],
                "max_tokens": 60,
            }
            async with limit, session.post(f"{url}/v1/chat/completions", json=body) as resp:
                assert resp.status == 200, await resp.text()

        await asyncio.gather(
            *(one(a, i) for i in range(first, first + n) for a in ("changing", "steady"))
        )


def send(gw: RunningGateway, first: int, n: int) -> None:
    asyncio.run(_send(gw.url, first, n))


def scored(gw: RunningGateway, n: int) -> None:
    deadline = time.monotonic() + 30
    while len(scores(gw)) < n:
        assert time.monotonic() < deadline, f"{len(scores(gw))} of {n} calls scored"
        time.sleep(0.05)


def test_a_refusal_rate_rising_midway_is_flagged_for_that_model_only(
    tmp_path: Path, receiver: Receiver
) -> None:
    with running_gateway(config(tmp_path, f"{receiver.url}/hook")) as gw:
        send(gw, 0, BEFORE)
        scored(gw, 2 * BEFORE)
        time.sleep(WINDOW_S)  # the baseline ends before the recent window starts
        started = time.time()
        send(gw, BEFORE, AFTER)
        scored(gw, 2 * (BEFORE + AFTER))
        now = time.time()
        assert now - started < WINDOW_S, "the calls after the change outlasted the window"
        service, loop = drift_of(gw), gw.app.loop
        assert loop is not None and service.announcer is not None
        announcer = service.announcer

        async def evaluate() -> list[Any]:
            found = await service.evaluate(now)
            await announcer.flush()
            return found

        findings = asyncio.run_coroutine_threadsafe(evaluate(), loop).result(60)
        assert [f.group.model for f in findings if f.flagged] == ["changing"]
        assert gw.db is not None
        with sqlite3.connect(gw.db) as conn:
            refused = dict(
                conn.execute(
                    "SELECT c.alias, SUM(s.value = 0) FROM scores s JOIN calls c"
                    " ON c.id = s.call_id GROUP BY c.alias"
                ).fetchall()
            )
        conn.close()
    (alert,) = [b for b in receiver.bodies("/hook") if b["rule"] == "drift"]
    assert alert["status"] == "firing"
    assert alert["labels"]["model"] == "changing" and alert["labels"]["evaluator"] == "refusal"
    detail = alert["detail"]
    assert detail["current"]["n"] == AFTER and detail["baseline"]["n"] == BEFORE
    assert 0 < detail["difference"]["low"] < detail["difference"]["estimate"]
    assert refused["changing"] > refused["steady"]  # what the evaluators saw
