"""Helpers for trace tests: loopback OpenTelemetry collectors, and a gateway whose spans go
to an in-memory exporter.

:func:`otlp_http_sink` is an HTTP server taking ``POST /v1/traces`` (protobuf, gzip or not);
:func:`otlp_grpc_sink` is a gRPC server implementing ``TraceService/Export``. Both decode the
``ExportTraceServiceRequest`` with the OpenTelemetry protobuf classes and keep every span, and
the request headers (metadata), for the test to read. :func:`traced` runs a real gateway (over
loopback HTTP) with ``Tracing.use_exporter`` pointed at an ``InMemorySpanExporter``.
"""

from __future__ import annotations

import gzip
import threading
import time
from collections.abc import Iterator
from concurrent import futures
from contextlib import contextmanager
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import grpc
import orjson
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2, trace_service_pb2_grpc
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind
from tests.gateway.harness import RunningGateway, http, wait_for

from daytwo.admin.mount import create_app
from daytwo.config.load import validate_config
from daytwo.gateway.server import serve_in_thread
from daytwo.telemetry.tracing import Tracing

MESSAGES = [{"role": "user", "content": "Say something."}]

#: ``Span.SpanKind`` numbers in OTLP.
KIND_SERVER = 2
KIND_CLIENT = 3
STATUS_ERROR = 2


@dataclass(frozen=True)
class ReceivedSpan:
    name: str
    trace_id: str  #: 32 hex
    span_id: str  #: 16 hex
    parent_span_id: str  #: 16 hex, "" for a root span
    kind: int
    start_ns: int
    end_ns: int
    status_code: int
    attributes: dict[str, Any]
    resource: dict[str, Any]


class Sink:
    """The spans (and request headers) a collector received."""

    def __init__(self) -> None:
        self.url = ""
        self._lock = threading.Lock()
        self._spans: list[ReceivedSpan] = []
        self.headers: list[dict[str, str]] = []

    def take(self, request: trace_service_pb2.ExportTraceServiceRequest, headers: Any) -> None:
        spans = list(_flatten(request))
        with self._lock:
            self._spans.extend(spans)
            self.headers.append({k.lower(): v for k, v in headers})

    def spans(self) -> list[ReceivedSpan]:
        with self._lock:
            return list(self._spans)

    def wait_for(self, n: int, timeout_s: float = 20.0) -> list[ReceivedSpan]:
        """At least ``n`` spans, or fail after ``timeout_s``."""
        deadline = time.monotonic() + timeout_s
        while len(spans := self.spans()) < n:
            if time.monotonic() > deadline:
                raise AssertionError(f"the collector got {len(spans)} spans, expected {n}")
            time.sleep(0.02)
        return spans


def _flatten(request: trace_service_pb2.ExportTraceServiceRequest) -> Iterator[ReceivedSpan]:
    for rs in request.resource_spans:
        resource = _attrs(rs.resource.attributes)
        for ss in rs.scope_spans:
            for s in ss.spans:
                yield ReceivedSpan(
                    name=s.name,
                    trace_id=s.trace_id.hex(),
                    span_id=s.span_id.hex(),
                    parent_span_id=s.parent_span_id.hex(),
                    kind=s.kind,
                    start_ns=s.start_time_unix_nano,
                    end_ns=s.end_time_unix_nano,
                    status_code=s.status.code,
                    attributes=_attrs(s.attributes),
                    resource=resource,
                )


def _attrs(kvs: Any) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for kv in kvs:
        assert isinstance(kv, KeyValue)
        out[kv.key] = _value(kv.value)
    return out


def _value(v: AnyValue) -> Any:
    which = v.WhichOneof("value")
    if which == "array_value":
        return [_value(x) for x in v.array_value.values]
    if which == "kvlist_value":
        return _attrs(v.kvlist_value.values)
    return None if which is None else getattr(v, which)


@contextmanager
def otlp_http_sink() -> Iterator[Sink]:
    """An OTLP/HTTP collector on a loopback port; ``sink.url`` is its base endpoint."""
    sink = Sink()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            if self.path != "/v1/traces":
                self.send_error(404)
                return
            body = self.rfile.read(int(self.headers.get("content-length", "0")))
            if self.headers.get("content-encoding") == "gzip":
                body = gzip.decompress(body)
            request = trace_service_pb2.ExportTraceServiceRequest.FromString(body)
            sink.take(request, self.headers.items())
            answer = trace_service_pb2.ExportTraceServiceResponse().SerializeToString()
            self.send_response(200)
            self.send_header("content-type", "application/x-protobuf")
            self.send_header("content-length", str(len(answer)))
            self.end_headers()
            self.wfile.write(answer)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    sink.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield sink
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


class _TraceService(trace_service_pb2_grpc.TraceServiceServicer):
    def __init__(self, sink: Sink) -> None:
        self.sink = sink

    def Export(
        self, request: trace_service_pb2.ExportTraceServiceRequest, context: grpc.ServicerContext
    ) -> trace_service_pb2.ExportTraceServiceResponse:
        self.sink.take(request, context.invocation_metadata())
        return trace_service_pb2.ExportTraceServiceResponse()


@contextmanager
def otlp_grpc_sink() -> Iterator[Sink]:
    """An OTLP/gRPC collector on a loopback port; ``sink.url`` is ``http://127.0.0.1:PORT``."""
    sink = Sink()
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
    trace_service_pb2_grpc.add_TraceServiceServicer_to_server(  # type: ignore[no-untyped-call]
        _TraceService(sink), server
    )
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    sink.url = f"http://127.0.0.1:{port}"
    try:
        yield sink
    finally:
        server.stop(grace=None).wait(5)


# -- a gateway traced into memory -----------------------------------------------------------


class Traced:
    """A running gateway whose spans go to an in-memory exporter."""

    def __init__(self, gw: RunningGateway, exporter: InMemorySpanExporter) -> None:
        self.gw = gw
        self.exporter = exporter

    @property
    def tracing(self) -> Tracing:
        tracing = self.gw.app.telemetry.tracing
        assert tracing is not None
        return tracing

    def post(
        self, path: str, body: dict[str, Any], **headers: str
    ) -> tuple[int, dict[str, str], bytes]:
        return http("POST", f"{self.gw.url}{path}", orjson.dumps(body), headers)

    def chat(
        self,
        model: str = "gpt-4o-mini",
        headers: dict[str, str] | None = None,
        messages: list[dict[str, Any]] | None = None,
        **extra: Any,
    ) -> tuple[int, dict[str, str], bytes]:
        body = {"model": model, "messages": messages or MESSAGES, **extra}
        return self.post("/v1/chat/completions", body, **(headers or {}))

    def spans(self) -> list[ReadableSpan]:
        self.tracing.force_flush()
        return list(self.exporter.get_finished_spans())

    def calls(self, n: int) -> list[ReadableSpan]:
        """The first ``n`` call spans (SERVER), once the gateway made them."""

        def ready() -> list[ReadableSpan] | None:
            calls = [s for s in self.spans() if s.kind is SpanKind.SERVER]
            return calls if len(calls) >= n else None

        calls: list[ReadableSpan] = wait_for(ready, what=f"{n} call spans")
        return calls[:n]

    def children(self, span: ReadableSpan) -> list[ReadableSpan]:
        assert span.context is not None
        kids = [
            s
            for s in self.spans()
            if s.parent is not None and s.parent.span_id == span.context.span_id
        ]
        return sorted(kids, key=lambda s: int(attrs(s)["daytwo.attempt"]))


@contextmanager
def traced(config: dict[str, Any], **traces: Any) -> Iterator[Traced]:
    config["telemetry"] = {"traces": {"enabled": True, "exporter": "none", **traces}}
    cfg = validate_config(config)
    app = create_app(cfg)
    exporter = InMemorySpanExporter()
    tracing = app.telemetry.tracing
    assert tracing is not None
    tracing.use_exporter(exporter)
    tracing.use_provider_types(lambda: app.runtime.provider_types)
    handle = serve_in_thread(app)
    db = Path(cfg.ledger.url.removeprefix("sqlite:///"))
    try:
        yield Traced(RunningGateway(app, handle, db), exporter)
    finally:
        handle.stop()


def attrs(span: ReadableSpan) -> dict[str, Any]:
    return dict(span.attributes or {})


def hex_ids(span: ReadableSpan) -> tuple[str, str]:
    assert span.context is not None
    return f"{span.context.trace_id:032x}", f"{span.context.span_id:016x}"
