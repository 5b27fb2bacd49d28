"""The response cache and ``Idempotency-Key`` through the real gateway (loopback HTTP, the
in-process simulator, a real SQLite ledger, real Redis for the shared backends)."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest
from tests.gateway.harness import RunningGateway, http, running_gateway, sim_config, wait_for
from tests.gateway.spend_harness import post_many
from tests.redis_support import own_prefix

MESSAGES = [{"role": "user", "content": "Tell me about caching."}]


def chat(*, stream: bool = False, **extra: Any) -> bytes:
    body: dict[str, Any] = {"model": "gpt-4o-mini", "messages": MESSAGES, "max_tokens": 16}
    if stream:
        body["stream"] = True
        body["stream_options"] = {"include_usage": True}
    body.update(extra)
    return orjson.dumps(body)


def post(gw: RunningGateway, data: bytes, **headers: str) -> tuple[int, dict[str, str], bytes]:
    hdrs = {k.replace("_", "-"): v for k, v in headers.items()}
    return http("POST", f"{gw.url}/v1/chat/completions", data, hdrs)


def streamed_text(raw: bytes) -> str:
    text = ""
    for line in raw.split(b"\n"):
        if line.startswith(b"data: {"):
            for choice in orjson.loads(line[6:]).get("choices", []):
                text += choice.get("delta", {}).get("content") or ""
    return text


def content(raw: bytes) -> str:
    return str(orjson.loads(raw)["choices"][0]["message"]["content"])


@pytest.fixture
def redis_prefix() -> Iterator[str]:
    with own_prefix() as prefix:
        yield prefix


def cached_config(tmp_path: Path, cache: dict[str, Any]) -> dict[str, Any]:
    cfg = sim_config(tmp_path)
    cfg["cache"] = cache
    return cfg


# -- cache ----------------------------------------------------------------------------------


@pytest.mark.parametrize("backend", ["memory", "redis"])
def test_a_repeated_request_is_answered_from_the_cache(
    tmp_path: Path, backend: str, redis_prefix: str
) -> None:
    cfg = cached_config(
        tmp_path, {"backend": backend, "prefix": redis_prefix, "aliases": ["gpt-4o-mini"]}
    )
    with running_gateway(cfg) as gw:
        status, _, first = post(gw, chat())
        assert status == 200
        rows = gw.records()  # the fill is off the response path: wait for the record first
        assert len(rows) == 1
        _wait_cached(gw)
        status, _, second = post(gw, chat())
        assert status == 200
        assert content(second) == content(first)
        # the same request streamed is served from the same entry
        status, _, streamed = post(gw, chat(stream=True))
        assert status == 200
        assert streamed_text(streamed) == content(first)
        assert b"data: [DONE]" in streamed
        orig, hit, stream_hit = gw.records()
        assert orig["cache_status"] is None and orig["cost_nanousd"] > 0
        for row in (hit, stream_hit):
            assert row["cache_status"] == "hit"
            assert row["saved_nanousd"] == orig["cost_nanousd"]
            assert row["cost_nanousd"] == 0
            assert row["input_tokens"] == row["output_tokens"] == 0
            assert row["provider"] is None
            assert row["status"] == "ok"


def _wait_cached(gw: RunningGateway) -> None:
    wait_for(lambda: not gw.app.pipeline._settling, what="the cache write")


def test_a_streamed_answer_fills_the_cache(tmp_path: Path) -> None:
    cfg = cached_config(tmp_path, {"aliases": ["gpt-4o-mini"]})
    with running_gateway(cfg) as gw:
        status, _, streamed = post(gw, chat(stream=True))
        assert status == 200
        gw.records()
        _wait_cached(gw)
        status, _, whole = post(gw, chat())
        assert status == 200
        assert content(whole) == streamed_text(streamed)
        body = orjson.loads(whole)
        assert body["usage"]["completion_tokens"] > 0
        assert gw.records()[-1]["cache_status"] == "hit"


def test_the_cache_is_never_shared_across_projects_and_only_where_opted_in(
    tmp_path: Path,
) -> None:
    cfg = cached_config(tmp_path, {"projects": ["search"]})
    with running_gateway(cfg) as gw:
        for project in ("search", "search", "billing", "billing", "search"):
            assert post(gw, chat(), x_daytwo_project=project)[0] == 200
            gw.records()
            _wait_cached(gw)
        statuses = [(r["project"], r["cache_status"]) for r in gw.records()]
        assert statuses == [
            ("search", None),
            ("search", "hit"),
            ("billing", None),  # not opted in: never cached
            ("billing", None),
            ("search", "hit"),
        ]


def test_different_requests_miss(tmp_path: Path) -> None:
    cfg = cached_config(tmp_path, {"aliases": ["gpt-4o-mini"]})
    with running_gateway(cfg) as gw:
        for data in (chat(), chat(temperature=0.5), chat(max_tokens=17), chat()):
            assert post(gw, data)[0] == 200
            gw.records()
            _wait_cached(gw)
        assert [r["cache_status"] for r in gw.records()] == [None, None, None, "hit"]


# -- idempotency ----------------------------------------------------------------------------


@pytest.mark.parametrize("backend", ["memory", "redis"])
@pytest.mark.parametrize("stream", [False, True])
def test_a_repeated_idempotency_key_replays_the_answer(
    tmp_path: Path, backend: str, stream: bool, redis_prefix: str
) -> None:
    cfg = sim_config(tmp_path)
    cfg["idempotency"] = {"backend": backend, "prefix": redis_prefix}
    with running_gateway(cfg) as gw:
        key = uuid.uuid4().hex
        status, headers, first = post(gw, chat(stream=stream), idempotency_key=key)
        assert status == 200
        assert "idempotent-replayed" not in headers
        gw.records()
        _wait_cached(gw)
        status, headers, again = post(gw, chat(stream=stream), idempotency_key=key)
        assert status == 200
        assert headers["idempotent-replayed"] == "true"
        assert again == first  # byte for byte
        assert headers["content-type"].startswith(
            "text/event-stream" if stream else "application/json"
        )
        orig, replay = gw.records()
        assert replay["cache_status"] == "replay"
        assert replay["saved_nanousd"] == orig["cost_nanousd"] > 0
        assert replay["cost_nanousd"] in (0, None)
        assert replay["input_tokens"] == replay["output_tokens"] == 0
        assert headers["x-daytwo-call-id"] == replay["id"] != orig["id"]
        # another key runs afresh
        status, headers, _ = post(gw, chat(stream=stream), idempotency_key=key + "-2")
        assert status == 200 and "idempotent-replayed" not in headers


def test_a_reused_key_with_another_body_is_refused(tmp_path: Path) -> None:
    with running_gateway(sim_config(tmp_path)) as gw:
        assert post(gw, chat(), idempotency_key="k1")[0] == 200
        gw.records()
        _wait_cached(gw)
        status, _, raw = post(gw, chat(temperature=1.5), idempotency_key="k1")
        assert status == 422
        err = orjson.loads(raw)["error"]
        assert err["code"] == "idempotency_key_reused"
        assert err["param"] == "Idempotency-Key"


def test_a_key_in_use_answers_409(tmp_path: Path) -> None:
    with running_gateway(sim_config(tmp_path, ttft_ms=400)) as gw:
        bodies = [chat(), chat()]
        answers = asyncio.run(post_many(gw.url, bodies, {"idempotency-key": "same"}))
        statuses = sorted(status for status, _ in answers)
        assert statuses == [200, 409]
        conflict = next(raw for status, raw in answers if status == 409)
        assert orjson.loads(conflict)["error"]["code"] == "idempotency_key_in_use"


def test_a_failed_call_is_not_replayed(tmp_path: Path) -> None:
    cfg = sim_config(tmp_path, outages=[{"start_s": 0, "duration_s": 0.6, "mode": "503"}])
    cfg["resilience"] = {"defaults": {"max_attempts": 1}}
    with running_gateway(cfg) as gw:
        status, _, _ = post(gw, chat(), idempotency_key="retry-me")
        assert status == 503
        gw.records()
        _wait_cached(gw)
        time.sleep(0.7)
        status, headers, raw = post(gw, chat(), idempotency_key="retry-me")
        assert status == 200, raw
        assert "idempotent-replayed" not in headers


def test_keys_are_scoped_per_project(tmp_path: Path) -> None:
    with running_gateway(sim_config(tmp_path)) as gw:
        for project in ("a", "b"):
            status, headers, _ = post(
                gw, chat(), idempotency_key="shared", x_daytwo_project=project
            )
            assert status == 200
            assert "idempotent-replayed" not in headers
            gw.records()
            _wait_cached(gw)


@pytest.mark.parametrize(
    ("value", "problem"), [("x" * 300, "longer than"), ("a\tb", "control characters")]
)
def test_a_malformed_key_is_a_clear_400(tmp_path: Path, value: str, problem: str) -> None:
    with running_gateway(sim_config(tmp_path)) as gw:
        status, _, raw = post(gw, chat(), idempotency_key=value)
        assert status == 400
        assert problem in orjson.loads(raw)["error"]["message"]
