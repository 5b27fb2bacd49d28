"""The child-process OTLP exporter: spans survive the trip unchanged, and a dead child costs a
logged error, never a blocked or failed call."""

from __future__ import annotations

from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import SpanExportResult
from opentelemetry.sdk.util.instrumentation import InstrumentationScope
from opentelemetry.trace import SpanContext, SpanKind, Status, StatusCode, TraceFlags

from daytwo.telemetry.export_process import ExporterSpec, ProcessSpanExporter, pack, unpack

RESOURCE = Resource.create({"service.name": "daytwo"})


def span(parent: SpanContext | None) -> ReadableSpan:
    return ReadableSpan(
        "chat gpt-4o-mini",
        context=SpanContext(0xABC, 0x123, False, TraceFlags(TraceFlags.SAMPLED)),
        parent=parent,
        resource=RESOURCE,
        attributes={"gen_ai.usage.input_tokens": 12, "daytwo.cost.usd": 0.5, "x": ("a", "b")},
        kind=SpanKind.SERVER,
        status=Status(StatusCode.ERROR, "upstream said no"),
        start_time=1_000,
        end_time=2_000,
        instrumentation_scope=InstrumentationScope("daytwo.gateway"),
    )


def test_pack_and_unpack_keep_every_field() -> None:
    remote = SpanContext(0xABC, 0x999, True, TraceFlags(TraceFlags.SAMPLED))
    for parent in (remote, None):
        out = unpack(pack(span(parent)), RESOURCE)
        orig = span(parent)
        assert out.name == orig.name and out.kind == orig.kind
        assert out.context is not None and orig.context is not None
        assert (out.context.trace_id, out.context.span_id) == (0xABC, 0x123)
        assert (out.start_time, out.end_time) == (1_000, 2_000)
        assert dict(out.attributes or {}) == dict(orig.attributes or {})
        assert out.status.status_code == StatusCode.ERROR
        assert out.status.description == "upstream said no"
        if parent is None:
            assert out.parent is None
        else:
            assert out.parent is not None
            assert (out.parent.span_id, out.parent.is_remote) == (0x999, True)


def test_a_dead_child_drops_batches_without_blocking() -> None:
    exporter = ProcessSpanExporter(
        ExporterSpec("otlp_http", "http://127.0.0.1:9/v1/traces", {}, 1.0, "daytwo")
    )
    exporter._proc.kill()
    exporter._proc.join(5)
    results = {exporter.export([span(None)]) for _ in range(50)}
    assert SpanExportResult.FAILURE in results
    assert exporter.force_flush(1000) is False
    exporter.shutdown()
