"""Export: a real gateway configured with ``exporter: otlp_http`` / ``otlp_grpc`` sends its
spans to a loopback collector (decoded from protobuf), with the configured headers resolved from
secret references; the console exporter writes to stderr; a bad header reference stops start-up
with one line naming the key."""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any

import orjson
import pytest
import yaml
from click.testing import CliRunner
from opentelemetry.sdk.trace.export import ConsoleSpanExporter
from tests.gateway.harness import http, running_gateway, sim_config
from tests.telemetry.otlp_sink import (
    KIND_CLIENT,
    KIND_SERVER,
    STATUS_ERROR,
    Sink,
    otlp_grpc_sink,
    otlp_http_sink,
)

from daytwo.cli.main import cli
from daytwo.config.telemetry import TracesConfig
from daytwo.core.secrets import SecretError, SecretRegistry
from daytwo.telemetry.tracing import build_exporter, traces_url

TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"
PARENT_ID = "00f067aa0ba902b7"
CHAT = orjson.dumps(
    {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}], "max_tokens": 8}
)


@pytest.mark.parametrize(
    ("exporter", "sink"), [("otlp_http", otlp_http_sink), ("otlp_grpc", otlp_grpc_sink)]
)
def test_spans_reach_a_loopback_collector(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    exporter: str,
    sink: Callable[[], AbstractContextManager[Sink]],
) -> None:
    monkeypatch.setenv("TRACE_TEST_COLLECTOR_TOKEN", "Bearer collector-token-1234")
    with sink() as collector:
        cfg = sim_config(tmp_path)
        cfg["telemetry"] = {
            "traces": {
                "enabled": True,
                "exporter": exporter,
                "endpoint": collector.url,
                "headers": {"Authorization": "env:TRACE_TEST_COLLECTOR_TOKEN"},
                "service_name": "daytwo-test",
            }
        }
        with running_gateway(cfg) as gw:
            url = f"{gw.url}/v1/chat/completions"
            tp = {"traceparent": f"00-{TRACE_ID}-{PARENT_ID}-01"}
            status, headers, _ = http("POST", url, CHAT, tp)
            assert status == 200
            joined = headers["x-daytwo-call-id"]
            nope = CHAT.replace(b'"gpt-4o-mini"', b'"nope"')
            assert http("POST", url, nope)[0] == 404
            rows = {r["id"]: r for r in gw.records()}
        # the gateway's shutdown flushed the batch: everything is at the collector now
        spans = collector.wait_for(3)

    assert len(spans) == 3
    servers = {s.attributes["daytwo.call_id"]: s for s in spans if s.kind == KIND_SERVER}
    assert set(servers) == set(rows)
    call = servers[joined]
    assert call.name == "chat gpt-4o-mini"
    assert (call.trace_id, call.parent_span_id) == (TRACE_ID, PARENT_ID)
    assert call.resource["service.name"] == "daytwo-test"
    assert call.attributes["gen_ai.operation.name"] == "chat"
    assert call.attributes["gen_ai.usage.output_tokens"] == rows[joined]["output_tokens"] > 0
    assert call.attributes["daytwo.cost.usd"] == pytest.approx(rows[joined]["cost_nanousd"] / 1e9)
    assert call.attributes["gen_ai.request.max_tokens"] == 8
    assert call.attributes["gen_ai.response.finish_reasons"]
    assert call.start_ns < call.end_ns
    (attempt,) = [s for s in spans if s.kind == KIND_CLIENT]
    assert attempt.parent_span_id == call.span_id and attempt.trace_id == TRACE_ID
    assert attempt.attributes["daytwo.attempt"] == 1

    (missing,) = [s for s in servers.values() if s.attributes["daytwo.call_id"] != joined]
    assert missing.name == "chat nope"
    assert missing.parent_span_id == ""
    assert missing.trace_id == rows[missing.attributes["daytwo.call_id"]]["trace_id"]
    assert missing.attributes["error.type"] == "ModelNotFound"
    assert missing.status_code == STATUS_ERROR

    assert collector.headers
    assert {h.get("authorization") for h in collector.headers} == {"Bearer collector-token-1234"}


def test_the_console_exporter_writes_spans_to_stderr(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    cfg = sim_config(tmp_path)
    cfg["telemetry"] = {"traces": {"enabled": True, "exporter": "console"}}
    with running_gateway(cfg) as gw:
        assert http("POST", f"{gw.url}/v1/chat/completions", CHAT)[0] == 200
    err = capsys.readouterr().err
    assert '"name": "chat gpt-4o-mini"' in err
    assert '"gen_ai.provider.name": "daytwo.sim"' in err


def test_exporters_are_built_from_the_config() -> None:
    secrets = SecretRegistry()
    assert build_exporter(TracesConfig(exporter="none"), secrets) is None
    assert isinstance(
        build_exporter(TracesConfig(exporter="console"), secrets), ConsoleSpanExporter
    )
    assert traces_url("http://collector:4318/") == "http://collector:4318/v1/traces"
    assert traces_url("https://otel.example/ingest") == "https://otel.example/ingest/v1/traces"
    assert traces_url("http://c:4318/v1/traces") == "http://c:4318/v1/traces"


def test_a_header_reference_that_does_not_resolve_names_its_key(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("TRACE_TEST_UNSET", raising=False)
    cfg = TracesConfig(enabled=True, headers={"authorization": "env:TRACE_TEST_UNSET"})
    with pytest.raises(SecretError) as err:
        build_exporter(cfg, SecretRegistry())
    assert str(err.value) == (
        "telemetry.traces.headers.authorization: environment variable TRACE_TEST_UNSET is not set"
    )


def test_serve_refuses_to_start_with_an_unresolvable_header(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("TRACE_TEST_UNSET", raising=False)
    cfg: dict[str, Any] = sim_config(tmp_path)
    cfg["telemetry"] = {
        "traces": {"enabled": True, "headers": {"authorization": "env:TRACE_TEST_UNSET"}}
    }
    path = tmp_path / "daytwo.yaml"
    path.write_text(yaml.safe_dump(cfg))
    result = CliRunner().invoke(cli, ["serve", "--config", str(path)])
    assert result.exit_code == 1
    lines = result.output.strip().splitlines()
    assert lines == [
        f"daytwo: {path}: telemetry.traces.headers.authorization: "
        "environment variable TRACE_TEST_UNSET is not set"
    ]
