"""The quality room under load and at shutdown: a flood into a tiny queue sheds with the
counter and every call still succeeds; a blocked worker sheds exactly what did not fit; the
scores of every checked call survive a graceful shutdown."""

from __future__ import annotations

import asyncio
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import orjson
import pytest
from prometheus_client.parser import text_string_to_metric_families
from tests.gateway.harness import RunningGateway, http, running_gateway, wait_for
from tests.quality.harness import ALL_CHECKS_EVALUATOR, quality_config, read_scores
from tests.telemetry.records import call_record

from daytwo.config.quality import QualityConfig
from daytwo.core.observe import CallView
from daytwo.core.score import ScoreRecord
from daytwo.quality.room import QualityRoom

ANSWER = {
    "choices": [
        {"index": 0, "finish_reason": "stop", "message": {"role": "assistant", "content": "Hi."}}
    ]
}
VIEW = CallView(
    traceparent=None,
    request={"messages": [{"role": "user", "content": "Hello"}]},
    response=ANSWER,
    finish_reasons=("stop",),
    response_id=None,
)


def ask(gw: RunningGateway, i: int) -> tuple[int, str]:
    body = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": f"Question {i}"}]}
    status, headers, _ = http("POST", f"{gw.base_url}/chat/completions", orjson.dumps(body))
    return status, headers.get("x-daytwo-call-id", "")


def metric(gw: RunningGateway, name: str, **labels: str) -> float:
    """The sum of a counter's samples with ``labels``, from a real scrape."""
    _, _, body = http("GET", f"{gw.url}/metrics")
    for family in text_string_to_metric_families(body.decode()):
        if family.name == name:
            return sum(
                s.value
                for s in family.samples
                if s.name.endswith("_total") and labels.items() <= s.labels.items()
            )
    raise AssertionError(f"{name} is not exported")


def shed_total(gw: RunningGateway) -> float:
    return metric(gw, "daytwo_quality_shed", stage="queue")


@pytest.mark.integration
def test_a_flood_sheds_counts_and_never_fails_a_call(tmp_path: Path) -> None:
    quality = {"evaluators": [ALL_CHECKS_EVALUATOR], "queue_size": 1}
    with running_gateway(quality_config(tmp_path, quality)) as gw:
        assert shed_total(gw) == 0
        with ThreadPoolExecutor(32) as pool:
            results = list(pool.map(lambda i: ask(gw, i), range(400)))

        def measured() -> float:
            return metric(gw, "daytwo_quality_checks", evaluator="length", result="measured")

        # Every call is either checked or shed and counted: nothing in between.
        wait_for(lambda: measured() + shed_total(gw) == 400, what="every call accounted for")
        shed, checks = shed_total(gw), measured()
        assert gw.app.ledger is not None and gw.app.ledger.flush(10)
        assert metric(gw, "daytwo_ledger_scores_dropped") == 0
        db = gw.db
    assert [s for s, _ in results] == [200] * 400
    assert db is not None
    checked = {s["call_id"] for s in read_scores(db) if s["evaluator"] == "length"}
    assert len(checked) == checks  # the counter agrees with the rows
    assert shed > 0


def test_a_blocked_worker_sheds_exactly_what_does_not_fit() -> None:
    release = threading.Event()
    entered = threading.Event()
    stored: list[ScoreRecord] = []

    class Sink:
        def submit_score(self, score: ScoreRecord) -> None:
            entered.set()
            release.wait(10)
            stored.append(score)

    cfg = QualityConfig.model_validate(
        {"evaluators": [{"name": "len", "checks": ["length"]}], "queue_size": 5}
    )
    room = QualityRoom(cfg, Sink())

    async def run() -> None:
        room.start(asyncio.get_running_loop())
        room.observe(call_record(0, id="first"), VIEW)  # taken by the worker, which then blocks
        assert await asyncio.to_thread(entered.wait, 10)  # the worker holds it, blocked
        for i in range(12):
            room.observe(call_record(i), VIEW)
        assert room.shed_calls == 12 - 5
        release.set()
        await room.aclose()

    asyncio.run(run())
    assert [s.call_id for s in stored] == ["first", *[f"c{i}" for i in range(5)]]


@pytest.mark.integration
def test_scores_survive_a_graceful_shutdown(tmp_path: Path) -> None:
    quality = {"evaluators": [ALL_CHECKS_EVALUATOR]}
    cfg: dict[str, Any] = quality_config(tmp_path, quality)
    cfg["ledger"]["flush_interval_ms"] = 60_000  # nothing is stored before the shutdown
    with running_gateway(cfg) as gw:
        ids = [ask(gw, i)[1] for i in range(50)]
        db = gw.db
    assert db is not None
    got = read_scores(db)
    assert {s["call_id"] for s in got if s["evaluator"] == "length"} == set(ids)
    assert {s["call_id"] for s in got if s["evaluator"] == "refusal"} == set(ids)
