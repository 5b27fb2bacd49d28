"""Traces of calls through the real gateway (loopback HTTP, the simulator in-process or served
over HTTP, a real SQLite ledger), captured with the in-memory exporter: span names, kinds,
parents and GenAI / daytwo attributes for answered, streamed, failed, failed-over, cached and
refused calls, and the caller's ``traceparent`` honoured."""

from __future__ import annotations

from contextlib import ExitStack
from pathlib import Path
from typing import Any

import orjson
import pytest
from opentelemetry.trace import SpanKind, StatusCode
from tests.gateway.harness import gateway_config, http, route, sim_config, wait_for
from tests.telemetry.otlp_sink import attrs, hex_ids, traced

from daytwo.config.schema import SimFaults, SimSettings
from daytwo.providers.sim.run import running_sim_server


def openai_at(url: str, **extra: Any) -> dict[str, Any]:
    return {"type": "openai", "base_url": url, **extra}


def two_deployments(tmp_path: Path, primary: str, fallback: str) -> dict[str, Any]:
    cfg = gateway_config(
        tmp_path / "ledger.db",
        {"primary": openai_at(primary), "fallback": openai_at(fallback)},
        {
            "chat": {
                "deployments": [
                    {"provider": "primary", "model": "gpt-4o-mini"},
                    {"provider": "fallback", "model": "gpt-4o-mini"},
                ]
            }
        },
    )
    cfg["resilience"] = {
        "defaults": {"deadline_s": 8.0, "try_timeout_s": 2.0},
        "retry_budget": {"min_retries": 1000},
    }
    return cfg


def faulty(**faults: Any) -> SimSettings:
    return SimSettings(seed=2, min_output_tokens=8, max_output_tokens=8, faults=SimFaults(**faults))


def healthy() -> SimSettings:
    return SimSettings(seed=1, min_output_tokens=8, max_output_tokens=8)


# -- an answered call -----------------------------------------------------------------------


def test_an_answered_call_is_one_server_span_with_one_attempt_child(tmp_path: Path) -> None:
    with traced(sim_config(tmp_path)) as t:
        status, headers, raw = t.chat(
            max_tokens=12,
            temperature=0.2,
            top_p=0.9,
            stop=["\n\n"],
            seed=42,
            frequency_penalty=0.5,
            presence_penalty=0.25,
            headers={
                "x-daytwo-project": "search",
                "x-daytwo-workflow": "rag",
                "x-daytwo-feature": "answer",
                "x-daytwo-agent": "planner",
                "x-daytwo-session": "s-1",
            },
        )
        assert status == 200
        answer = orjson.loads(raw)
        (call,) = t.calls(1)
        row = t.gw.record(headers["x-daytwo-call-id"])

        assert call.name == "chat gpt-4o-mini"
        assert call.kind is SpanKind.SERVER
        assert call.parent is None
        assert call.status.status_code is StatusCode.UNSET
        assert hex_ids(call)[0] == row["trace_id"]
        assert call.resource.attributes["service.name"] == "daytwo"
        a = attrs(call)
        assert a["gen_ai.operation.name"] == "chat"
        assert a["gen_ai.provider.name"] == "daytwo.sim"
        assert a["gen_ai.request.model"] == "gpt-4o-mini"
        assert a["gen_ai.request.max_tokens"] == 12
        assert a["gen_ai.request.temperature"] == 0.2
        assert a["gen_ai.request.top_p"] == 0.9
        assert a["gen_ai.request.stop_sequences"] == ("\n\n",)
        assert a["gen_ai.request.seed"] == 42
        assert a["gen_ai.request.frequency_penalty"] == 0.5
        assert a["gen_ai.request.presence_penalty"] == 0.25
        assert a["gen_ai.response.model"] == row["served_model"]
        fingerprint = a["openai.response.system_fingerprint"]
        assert fingerprint == answer["system_fingerprint"] == row["system_fingerprint"]
        assert a["gen_ai.response.id"] == answer["id"]
        assert a["gen_ai.response.finish_reasons"] == (answer["choices"][0]["finish_reason"],)
        assert a["gen_ai.usage.input_tokens"] == row["input_tokens"] > 0
        assert a["gen_ai.usage.output_tokens"] == row["output_tokens"] > 0
        assert a["daytwo.cost.usd"] == pytest.approx(row["cost_nanousd"] / 1e9)
        assert a["daytwo.call_id"] == row["id"]
        assert a["daytwo.status"] == "ok"
        assert a["http.response.status_code"] == 200
        assert a["daytwo.stream"] is False
        assert a["daytwo.attempts"] == 1
        assert a["daytwo.budget.decision"] == "admitted"
        assert (a["daytwo.project"], a["daytwo.workflow"], a["daytwo.feature"]) == (
            "search",
            "rag",
            "answer",
        )
        assert (a["daytwo.agent"], a["daytwo.session"]) == ("planner", "s-1")
        assert a["gen_ai.conversation.id"] == "s-1"
        assert a["daytwo.provider"] == "sim"
        assert a["daytwo.deployment"] == row["deployment"]
        assert "error.type" not in a
        # content capture is off by default
        assert "gen_ai.input.messages" not in a and "gen_ai.output.messages" not in a

        (attempt,) = t.children(call)
        assert attempt.name == "chat gpt-4o-mini"
        assert attempt.kind is SpanKind.CLIENT
        assert hex_ids(attempt)[0] == hex_ids(call)[0]
        b = attrs(attempt)
        assert b["gen_ai.provider.name"] == "daytwo.sim"
        assert b["daytwo.attempt"] == 1
        assert b["daytwo.attempt.outcome"] == "ok"
        assert b["daytwo.deployment"] == row["deployment"]
        assert b["http.response.status_code"] == 200
        assert "gen_ai.usage.input_tokens" not in b  # usage is counted once, on the call
        assert call.start_time is not None and call.end_time is not None
        assert attempt.start_time is not None and attempt.end_time is not None
        assert call.start_time <= attempt.start_time <= attempt.end_time <= call.end_time
        assert (call.end_time - call.start_time) / 1e6 == pytest.approx(row["latency_ms"], abs=50)


def test_a_streamed_call_records_ttft_and_finish_reasons(tmp_path: Path) -> None:
    with traced(sim_config(tmp_path, ttft_ms=20)) as t:
        status, headers, raw = t.chat(stream=True, stream_options={"include_usage": True})
        assert status == 200 and b"data: [DONE]" in raw
        (call,) = t.calls(1)
        row = t.gw.record(headers["x-daytwo-call-id"])
        a = attrs(call)
        assert a["daytwo.stream"] is True
        assert a["openai.response.system_fingerprint"] == row["system_fingerprint"] is not None
        assert a["daytwo.ttft_ms"] == pytest.approx(row["ttft_ms"])
        assert a["daytwo.ttft_ms"] >= 15
        assert a["gen_ai.response.finish_reasons"] == ("stop",) or a[
            "gen_ai.response.finish_reasons"
        ] == ("length",)
        assert a["gen_ai.usage.output_tokens"] == row["output_tokens"] > 0
        assert "gen_ai.output.messages" not in a
        assert len(t.children(call)) == 1


def test_an_embeddings_call(tmp_path: Path) -> None:
    with traced(sim_config(tmp_path)) as t:
        body = {
            "model": "text-embedding-3-small",
            "input": ["a", "b"],
            "encoding_format": "float",
            "dimensions": 64,
        }
        status, headers, _ = t.post("/v1/embeddings", body)
        assert status == 200
        (call,) = t.calls(1)
        row = t.gw.record(headers["x-daytwo-call-id"])
        assert call.name == "embeddings text-embedding-3-small"
        a = attrs(call)
        assert a["gen_ai.operation.name"] == "embeddings"
        assert a["gen_ai.usage.input_tokens"] == row["input_tokens"] > 0
        assert "gen_ai.usage.output_tokens" not in a
        assert a["gen_ai.request.encoding_formats"] == ("float",)
        assert a["gen_ai.embeddings.dimension.count"] == 64
        (attempt,) = t.children(call)
        assert attempt.name == "embeddings text-embedding-3-small"


# -- the caller's trace ---------------------------------------------------------------------

TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"
PARENT_ID = "00f067aa0ba902b7"


def test_the_call_joins_the_callers_trace(tmp_path: Path) -> None:
    with traced(sim_config(tmp_path)) as t:
        status, headers, _ = t.chat(headers={"traceparent": f"00-{TRACE_ID}-{PARENT_ID}-01"})
        assert status == 200
        (call,) = t.calls(1)
        assert hex_ids(call)[0] == TRACE_ID
        assert call.parent is not None and call.parent.is_remote
        assert f"{call.parent.span_id:016x}" == PARENT_ID
        assert t.gw.record(headers["x-daytwo-call-id"])["trace_id"] == TRACE_ID
        (attempt,) = t.children(call)
        assert hex_ids(attempt)[0] == TRACE_ID


def test_sampling_follows_the_caller_and_the_ratio(tmp_path: Path) -> None:
    with traced(sim_config(tmp_path), sample_ratio=0.0) as t:
        # a new trace: sampled at the ratio (0 here), so nothing
        assert t.chat()[0] == 200
        # the caller did not sample its trace: neither does the gateway
        assert t.chat(headers={"traceparent": f"00-{TRACE_ID}-{PARENT_ID}-00"})[0] == 200
        # the caller sampled its trace: the gateway's spans join it whatever the ratio
        other = "0af7651916cd43dd8448eb211c80319c"
        assert t.chat(headers={"traceparent": f"00-{other}-{PARENT_ID}-01"})[0] == 200
        (call,) = t.calls(1)
        assert hex_ids(call)[0] == other
        wait_for(lambda: len(t.gw.records()) == 3, what="three ledger rows")
        t.tracing.force_flush()
        assert {hex_ids(s)[0] for s in t.spans()} == {other}


# -- failures -------------------------------------------------------------------------------


def test_failover_is_two_attempt_children(tmp_path: Path) -> None:
    with ExitStack() as stack:
        bad = stack.enter_context(running_sim_server(faulty(rate_503=1.0)))
        good = stack.enter_context(running_sim_server(healthy()))
        with traced(two_deployments(tmp_path, bad, good)) as t:
            status, headers, _ = t.chat(model="chat")
            assert status == 200
            (call,) = t.calls(1)
            row = t.gw.record(headers["x-daytwo-call-id"])
            a = attrs(call)
            assert call.name == "chat chat"
            assert a["gen_ai.provider.name"] == "openai"
            assert a["daytwo.provider"] == "fallback"
            assert a["daytwo.attempts"] == row["attempts"] == 2
            assert call.status.status_code is StatusCode.UNSET
            first, second = t.children(call)
            f, s = attrs(first), attrs(second)
            assert first.name == second.name == "chat gpt-4o-mini"
            assert (f["daytwo.attempt"], s["daytwo.attempt"]) == (1, 2)
            assert (f["daytwo.provider"], s["daytwo.provider"]) == ("primary", "fallback")
            assert f["daytwo.deployment"] == "primary/gpt-4o-mini"
            assert f["daytwo.attempt.outcome"] == "error"
            assert f["http.response.status_code"] == 503
            assert f["error.type"] == "UpstreamStatusError"
            assert f["daytwo.retry.decision"] == "retry"
            assert first.status.status_code is StatusCode.ERROR
            assert s["daytwo.attempt.outcome"] == "ok"
            assert "error.type" not in s
            assert second.status.status_code is StatusCode.UNSET
            assert first.end_time is not None and second.start_time is not None
            assert first.end_time <= second.start_time


def test_a_failed_call_is_an_error_span(tmp_path: Path) -> None:
    with running_sim_server(faulty(rate_503=1.0)) as bad:
        cfg = gateway_config(
            tmp_path / "ledger.db",
            {"only": openai_at(bad)},
            {"chat": route("only", "gpt-4o-mini")},
        )
        with traced(cfg) as t:
            status, headers, _ = t.chat(model="chat")
            assert status == 503
            (call,) = t.calls(1)
            row = t.gw.record(headers["x-daytwo-call-id"])
            a = attrs(call)
            assert call.status.status_code is StatusCode.ERROR
            assert a["error.type"] == row["error_class"] == "UpstreamStatusError"
            assert a["daytwo.status"] == "error"
            assert a["http.response.status_code"] == 503
            assert "gen_ai.usage.input_tokens" not in a
            kids = t.children(call)
            assert len(kids) == row["attempts"] >= 1
            assert all(k.status.status_code is StatusCode.ERROR for k in kids)
            assert all(attrs(k)["error.type"] == "UpstreamStatusError" for k in kids)
            assert all(attrs(k)["http.response.status_code"] == 503 for k in kids)


def test_a_refused_call_has_the_budget_decision_and_no_attempts(tmp_path: Path) -> None:
    cfg = sim_config(tmp_path)
    cfg["spend_control"] = {"rate_limits": [{"name": "one", "scope": {}, "rpm": 1}]}
    with traced(cfg) as t:
        assert t.chat()[0] == 200
        status, _, _ = t.chat()
        assert status == 429
        first, second = t.calls(2)
        a = attrs(second)
        assert a["error.type"] == "RateLimited"
        assert a["daytwo.budget.decision"] == "refused"
        assert a["daytwo.attempts"] == 0
        assert a["http.response.status_code"] == 429
        assert "gen_ai.provider.name" not in a
        assert second.status.status_code is StatusCode.ERROR
        assert t.children(second) == []
        assert attrs(first)["daytwo.budget.decision"] == "admitted"


def test_a_cache_hit_has_no_attempt_and_says_what_it_saved(tmp_path: Path) -> None:
    cfg = sim_config(tmp_path)
    cfg["cache"] = {"aliases": ["gpt-4o-mini"]}
    with traced(cfg) as t:
        assert t.chat()[0] == 200
        wait_for(lambda: not t.gw.app.pipeline._settling, what="the cache write")
        assert t.chat()[0] == 200
        first, hit = t.calls(2)
        orig = t.gw.records()[0]
        a = attrs(hit)
        assert a["daytwo.cache"] == "hit"
        assert a["daytwo.saved.usd"] == pytest.approx(orig["cost_nanousd"] / 1e9)
        assert a["daytwo.cost.usd"] == 0
        assert a["daytwo.attempts"] == 0
        assert a["daytwo.budget.decision"] == "admitted"
        assert "gen_ai.provider.name" not in a
        assert t.children(hit) == []
        assert "daytwo.cache" not in attrs(first)
        assert len(t.children(first)) == 1


def test_a_malformed_request_still_has_a_span(tmp_path: Path) -> None:
    with traced(sim_config(tmp_path)) as t:
        status, _, _ = http("POST", f"{t.gw.url}/v1/chat/completions", b"{not json")
        assert status == 400
        (call,) = t.calls(1)
        assert call.name == "chat"
        a = attrs(call)
        assert a["error.type"] == "InvalidRequest"
        assert "gen_ai.request.model" not in a


def test_a_failing_trace_never_fails_the_call(tmp_path: Path) -> None:
    def broken() -> dict[str, str]:
        raise RuntimeError("lookup failed")

    with traced(sim_config(tmp_path)) as t:
        t.tracing.use_provider_types(broken)
        status, headers, _ = t.chat()
        assert status == 200
        assert t.gw.record(headers["x-daytwo-call-id"])["status"] == "ok"
        t.tracing.use_provider_types(dict)
        assert t.chat()[0] == 200
        (call,) = t.calls(1)
        assert attrs(call)["daytwo.call_id"] != headers["x-daytwo-call-id"]
