"""Resilience through the real gateway over loopback HTTP: a primary deployment that is down
(connection refused, 503s, hanging), a 429 storm, an upstream that resets mid-stream, routing
strategies and tiers, per-deployment adjustments -- every attempt in the ledger.

The upstreams are daytwo's simulator served over HTTP (``running_sim_server``) with its fault
knobs turned to 100 %, and a closed loopback port for "connection refused".
"""

from __future__ import annotations

import asyncio
import socket
import sqlite3
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any

import orjson
import pytest
from tests.gateway.harness import RunningGateway, gateway_config, http, running_gateway, wait_for
from tests.gateway.spend_harness import on_gateway_loop, post_many

from daytwo.config.load import validate_config
from daytwo.config.schema import SimFaults, SimOutage, SimSettings
from daytwo.providers.sim.run import running_sim_server

MESSAGES = [{"role": "user", "content": "Say something."}]
#: Generous bounds for a loaded 2-core machine; the point is "within the deadline".
DEADLINE_S = 8.0


def closed_port() -> int:
    """A loopback port nobody listens on (connection refused)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def openai_provider(url: str, **extra: Any) -> dict[str, Any]:
    return {"type": "openai", "base_url": url, **extra}


@contextmanager
def sims(*settings: SimSettings) -> Iterator[list[str]]:
    with ExitStack() as stack:
        yield [stack.enter_context(running_sim_server(s)) for s in settings]


def healthy() -> SimSettings:
    return SimSettings(seed=1, min_output_tokens=8, max_output_tokens=8)


def faulty(**faults: Any) -> SimSettings:
    return SimSettings(seed=2, min_output_tokens=8, max_output_tokens=8, faults=SimFaults(**faults))


def config(
    tmp_path: Path,
    providers: dict[str, Any],
    deployments: list[dict[str, Any]],
    resilience: dict[str, Any] | None = None,
    extra_models: dict[str, Any] | None = None,
) -> dict[str, Any]:
    models = {"chat": {"deployments": deployments}, **(extra_models or {})}
    cfg = gateway_config(tmp_path / "ledger.db", providers, models)
    cfg["resilience"] = resilience or {
        "defaults": {"deadline_s": DEADLINE_S, "try_timeout_s": 1.0},
        "retry_budget": {"min_retries": 1000},
    }
    return cfg


def body(*, stream: bool = False, **extra: Any) -> bytes:
    out: dict[str, Any] = {"model": "chat", "messages": MESSAGES, "max_tokens": 16, **extra}
    if stream:
        out["stream"] = True
        out["stream_options"] = {"include_usage": True}
    return orjson.dumps(out)


def attempts_of(gw: RunningGateway, call_id: str) -> list[dict[str, Any]]:
    assert gw.db is not None
    with sqlite3.connect(gw.db) as conn:
        conn.row_factory = sqlite3.Row
        rows = conn.execute(
            "SELECT * FROM attempts WHERE call_id = ? ORDER BY n", (call_id,)
        ).fetchall()
    conn.close()
    return [dict(r) for r in rows]


def run(coro: Any) -> Any:
    return asyncio.run(coro)


def timed_posts(gw: RunningGateway, bodies: list[bytes]) -> tuple[list[tuple[int, bytes]], float]:
    t0 = time.perf_counter()
    out = run(post_many(gw.url, bodies))
    return out, time.perf_counter() - t0


def stream_text(raw: bytes) -> tuple[str, list[dict[str, Any]]]:
    """The streamed answer's text and its events (an ``error`` event included)."""
    text, events = "", []
    for line in raw.split(b"\n"):
        if not line.startswith(b"data: ") or line == b"data: [DONE]":
            continue
        event = orjson.loads(line[6:])
        events.append(event)
        for choice in event.get("choices", []):
            text += choice.get("delta", {}).get("content") or ""
    return text, events


# -- a primary that is down: failover is invisible ------------------------------------------


@pytest.mark.parametrize("mode", ["refused", "503", "hang"])
def test_primary_down_fails_over_without_client_errors(tmp_path: Path, mode: str) -> None:
    bad = {
        "refused": None,
        "503": faulty(rate_503=1.0),
        "hang": faulty(rate_timeout=1.0, hang_s=30),
    }
    with sims(healthy(), *([bad[mode]] if bad[mode] else [])) as urls:
        primary = urls[1] if bad[mode] else f"http://127.0.0.1:{closed_port()}/v1"
        cfg = config(
            tmp_path,
            {"primary": openai_provider(primary), "fallback": openai_provider(urls[0])},
            [
                {"provider": "primary", "model": "gpt-4o-mini"},
                {"provider": "fallback", "model": "gpt-4o-mini"},
            ],
        )
        with running_gateway(cfg) as gw:
            bodies = [body() for _ in range(6)] + [body(stream=True) for _ in range(6)]
            answers, took = timed_posts(gw, bodies)
            assert [status for status, _ in answers] == [200] * 12, answers
            for (_, raw), stream in zip(answers, [False] * 6 + [True] * 6, strict=True):
                if stream:
                    text, events = stream_text(raw)
                    assert text and not any("error" in e for e in events)
                else:
                    assert orjson.loads(raw)["choices"][0]["message"]["content"]
            assert took < DEADLINE_S
            records = gw.records()
            assert len(records) == 12
            assert {r["status"] for r in records} == {"ok"}
            assert {r["provider"] for r in records} == {"fallback"}
            assert all(r["latency_ms"] < DEADLINE_S * 1000 for r in records)
            # The breaker opened on the primary: later calls went straight to the fallback.
            health = gw.app.runtime.resilience.health
            assert health.state("primary/gpt-4o-mini") == "open"
            # Every attempt of a failed-over call is in the ledger under the call.
            failed_over = [r for r in records if r["attempts"] > 1]
            assert failed_over
            for r in failed_over:
                rows = attempts_of(gw, r["id"])
                assert [a["n"] for a in rows] == list(range(1, r["attempts"] + 1))
                assert rows[-1]["outcome"] == "ok" and rows[-1]["provider"] == "fallback"
                assert rows[-1]["cost_nanousd"] == r["cost_nanousd"]
                assert all(a["outcome"] == "error" for a in rows[:-1])
                assert {a["provider"] for a in rows[:-1]} == {"primary"}
                if mode == "hang":
                    assert rows[0]["error_class"] == "UpstreamTimeout"
                    assert rows[0]["latency_ms"] < 1500


def test_breaker_skips_the_dead_primary_and_probes_it_back(tmp_path: Path) -> None:
    outage = SimSettings(
        seed=4,
        min_output_tokens=8,
        max_output_tokens=8,
        outages=(SimOutage(start_s=0, duration_s=1.5, mode="503"),),
    )
    with sims(healthy(), outage) as (good, flaky):
        started = time.monotonic()
        cfg = config(
            tmp_path,
            {"primary": openai_provider(flaky), "fallback": openai_provider(good)},
            [
                {"provider": "primary", "model": "gpt-4o-mini"},
                {"provider": "fallback", "model": "gpt-4o-mini"},
            ],
            {
                "defaults": {"deadline_s": DEADLINE_S, "try_timeout_s": 1.0},
                "breaker": {"consecutive_failures": 3, "open_s": 0.2, "half_open_probes": 1},
            },
        )
        with running_gateway(cfg) as gw:
            for _ in range(3):
                assert run(post_many(gw.url, [body()]))[0][0] == 200
            health = gw.app.runtime.resilience.health
            assert health.state("primary/gpt-4o-mini") == "open"
            n = len(gw.records())
            for _ in range(3):
                assert run(post_many(gw.url, [body()]))[0][0] == 200
            # Open: the calls went straight to the fallback, one attempt each.
            assert [r["attempts"] for r in gw.records()[n:]] == [1] * 3
            # The outage ends; the next call after the open period probes the primary, which
            # answers and closes the breaker: traffic is back on the primary.
            time.sleep(max(0.0, 1.6 - (time.monotonic() - started)))
            wait_for(lambda: health.state("primary/gpt-4o-mini") != "open", what="half-open")
            for _ in range(3):
                assert run(post_many(gw.url, [body()]))[0][0] == 200
            assert health.state("primary/gpt-4o-mini") == "closed"
            assert gw.records()[-1]["provider"] == "primary"


# -- 429 storm ------------------------------------------------------------------------------


def test_429_storm_stays_in_the_retry_budget_and_opens_the_breaker(tmp_path: Path) -> None:
    with sims(faulty(rate_429=1.0, retry_after_s=1)) as (url,):
        cfg = config(
            tmp_path,
            {"only": openai_provider(url)},
            [{"provider": "only", "model": "gpt-4o-mini"}],
            {
                "defaults": {"deadline_s": 5.0, "try_timeout_s": 2.0, "max_attempts": 3},
                "retry_budget": {"ratio": 0.2, "min_retries": 2, "window_s": 60},
                "breaker": {"consecutive_failures": 5, "open_s": 30},
            },
        )
        with running_gateway(cfg) as gw:
            n = 30
            answers, took = timed_posts(gw, [body() for _ in range(n)])
            statuses = Counter(status for status, _ in answers)
            assert statuses == {429: n}, statuses
            records = gw.records()
            retries = sum(r["attempts"] - 1 for r in records)
            assert 0 < retries <= 0.2 * n + 2
            assert took < 5.0 + 1.0
            health = gw.app.runtime.resilience.health
            assert health.state("only/gpt-4o-mini") == "open"
            # Nothing left: the next client is told when to come back.
            status, headers, _ = _post_one(gw, body())
            assert status == 429
            assert int(headers["retry-after"]) >= 1


def test_every_deployment_open_answers_503_with_retry_after(tmp_path: Path) -> None:
    port = closed_port()
    cfg = config(
        tmp_path,
        {"only": openai_provider(f"http://127.0.0.1:{port}/v1")},
        [{"provider": "only", "model": "gpt-4o-mini"}],
        {
            "defaults": {"deadline_s": 3.0, "try_timeout_s": 1.0, "max_attempts": 1},
            "breaker": {"consecutive_failures": 2, "open_s": 20},
        },
    )
    with running_gateway(cfg) as gw:
        for _ in range(2):
            assert _post_one(gw, body())[0] == 502
        status, headers, raw = _post_one(gw, body())
        assert status == 502
        assert 1 <= int(headers["retry-after"]) <= 20
        assert orjson.loads(raw)["error"]["type"] == "api_connection_error"


def _post_one(gw: RunningGateway, data: bytes) -> tuple[int, dict[str, str], bytes]:
    return http("POST", f"{gw.url}/v1/chat/completions", data)


# -- never after the first byte -------------------------------------------------------------


def test_reset_after_first_byte_ends_cleanly_and_bills_the_partial_answer(tmp_path: Path) -> None:
    broken = SimSettings(
        seed=3, min_output_tokens=64, max_output_tokens=64, faults=SimFaults(rate_reset=1.0)
    )
    with sims(healthy(), broken) as (good, bad):
        cfg = config(
            tmp_path,
            {"primary": openai_provider(bad), "fallback": openai_provider(good)},
            [
                {"provider": "primary", "model": "gpt-4o-mini"},
                {"provider": "fallback", "model": "gpt-4o-mini"},
            ],
        )
        with running_gateway(cfg) as gw:
            ((status, raw),) = run(post_many(gw.url, [body(stream=True, max_tokens=64)]))
            assert status == 200
            text, events = stream_text(raw)
            assert text  # some of the answer reached the client ...
            assert "error" in events[-1]  # ... then one clean error event, no second answer
            assert sum(1 for e in events if "error" in e) == 1
            assert b"data: [DONE]" not in raw
            (record,) = gw.records()
            assert record["status"] == "error"
            assert record["provider"] == "primary"
            assert record["attempts"] == 1
            assert record["output_tokens"] > 0
            assert record["cost_nanousd"] > 0


# -- routing --------------------------------------------------------------------------------


def test_weighted_split_follows_the_weights(tmp_path: Path) -> None:
    with sims(healthy(), healthy()) as (a, b):
        cfg = config(
            tmp_path,
            {"a": openai_provider(a), "b": openai_provider(b)},
            [{"provider": "a", "model": "gpt-4o-mini"}, {"provider": "b", "model": "gpt-4o-mini"}],
            {
                "aliases": {
                    "chat": {
                        "strategy": "weighted",
                        "weights": {"a/gpt-4o-mini": 3, "b/gpt-4o-mini": 1},
                    }
                }
            },
        )
        with running_gateway(cfg) as gw:
            n = 200
            answers = run(post_many(gw.url, [body() for _ in range(n)]))
            assert all(status == 200 for status, _ in answers)
            share = Counter(r["provider"] for r in gw.records())["a"] / n
            # 3:1 → 0.75; binomial sd ~0.031, so ±0.13 is over 4 sd
            assert 0.62 <= share <= 0.88


def test_tiers_route_by_hint_tag_and_prompt_size(tmp_path: Path) -> None:
    with sims(healthy(), healthy()) as (strong, cheap):
        cfg = config(
            tmp_path,
            {"strong": openai_provider(strong), "cheap": openai_provider(cheap)},
            [{"provider": "strong", "model": "gpt-4o"}],
            {
                "aliases": {
                    "chat": {
                        "tiers": [
                            {"hint": "cheap", "to": "small"},
                            {"tag": {"task": "classification"}, "to": "small"},
                            {"min_input_tokens": 2000, "to": "small"},
                        ]
                    }
                }
            },
            {"small": {"deployments": [{"provider": "cheap", "model": "gpt-4o-mini"}]}},
        )
        with running_gateway(cfg) as gw:
            url = f"{gw.url}/v1/chat/completions"
            long = [{"role": "user", "content": "word " * 3000}]
            cases = [
                ({}, body(), "strong"),
                ({"x-daytwo-route-hint": "cheap"}, body(), "cheap"),
                ({"x-daytwo-route-hint": "other"}, body(), "strong"),
                ({"x-daytwo-tags": "task=classification"}, body(), "cheap"),
                ({"x-daytwo-tags": "task=generation"}, body(), "strong"),
                ({}, body(messages=long), "cheap"),
            ]
            for headers, data, _ in cases:
                assert http("POST", url, data, headers)[0] == 200
            assert [r["provider"] for r in gw.records()] == [want for _, _, want in cases]


def test_a_client_cannot_pick_a_deployment_the_route_does_not_attach(tmp_path: Path) -> None:
    with sims(healthy()) as (url,):
        cfg = config(
            tmp_path,
            {"p": openai_provider(url)},
            [{"provider": "p", "model": "gpt-4o-mini"}],
        )
        with running_gateway(cfg) as gw:
            for model in ("p/gpt-4o-mini", "gpt-4o-mini", "p"):
                status, _, raw = http(
                    "POST",
                    f"{gw.url}/v1/chat/completions",
                    orjson.dumps({"model": model, "messages": MESSAGES}),
                    {"x-daytwo-route-hint": "p/gpt-4o-mini"},
                )
                assert status == 404, raw
                assert orjson.loads(raw)["error"]["code"] == "model_not_found"


def test_reload_keeps_breakers(tmp_path: Path) -> None:
    port = closed_port()
    with sims(healthy()) as (good,):
        cfg = config(
            tmp_path,
            {
                "primary": openai_provider(f"http://127.0.0.1:{port}/v1"),
                "fallback": openai_provider(good),
            },
            [
                {"provider": "primary", "model": "gpt-4o-mini"},
                {"provider": "fallback", "model": "gpt-4o-mini"},
            ],
            {"breaker": {"consecutive_failures": 2, "open_s": 60}},
        )
        with running_gateway(cfg) as gw:
            for _ in range(2):
                assert run(post_many(gw.url, [body()]))[0][0] == 200
            before = gw.app.runtime
            assert before.resilience.health.state("primary/gpt-4o-mini") == "open"
            cfg["resilience"]["defaults"] = {"max_attempts": 2}
            on_gateway_loop(gw, gw.app.reload(validate_config(cfg)))
            assert gw.app.runtime is not before
            assert gw.app.runtime.resilience.health.state("primary/gpt-4o-mini") == "open"
            assert gw.app.runtime.resilience.plans["chat"].policy.max_attempts == 2


# -- upstream quota awareness ---------------------------------------------------------------


def test_reported_quota_running_low_shifts_traffic_before_any_429(tmp_path: Path) -> None:
    # The primary allows 20 requests a minute and says so in its rate-limit headers; when a
    # quarter is left, the gateway moves traffic to the other deployment before the 429s come.
    limited = SimSettings(seed=5, min_output_tokens=8, max_output_tokens=8, quota_requests=20)
    with sims(limited, healthy()) as (primary, fallback):
        cfg = config(
            tmp_path,
            {"primary": openai_provider(primary), "fallback": openai_provider(fallback)},
            [
                {"provider": "primary", "model": "gpt-4o-mini"},
                {"provider": "fallback", "model": "gpt-4o-mini"},
            ],
            {"breaker": {"low_quota_ratio": 0.25}},
        )
        with running_gateway(cfg) as gw:
            for _ in range(30):
                assert run(post_many(gw.url, [body()]))[0][0] == 200
            records = gw.records()
            served = [r["provider"] for r in records]
            # 20 x 0.25 = 5 left: the primary served 15 and was then left alone
            assert served == ["primary"] * 15 + ["fallback"] * 15
            assert all(r["attempts"] == 1 for r in records)  # not one 429 was met
            (snap,) = [
                s
                for s in gw.app.runtime.resilience.health.snapshot()
                if s.deployment == "primary/gpt-4o-mini"
            ]
            assert snap.remaining_requests == 5
            assert snap.throttled_for_s > 30
