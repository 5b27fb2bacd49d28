"""OTLP export in a child process: the protobuf encoding of spans never holds the gateway's GIL.

Measured on the bench machine, the OpenTelemetry SDK's OTLP encoder costs ~90 µs per span
(~180 µs per traced call), on the ``BatchSpanProcessor``'s thread but under the interpreter
lock the event loop needs: with every call traced, the gateway lost about two thirds of its
throughput. :class:`ProcessSpanExporter` is the exporter the processor sees; it packs each
finished span into a tuple of plain values (a few µs) and sends the batch through a pipe to a
child process, which rebuilds the spans and runs the real OTLP exporter (HTTP/protobuf or gRPC,
the SDK's own, with its retries). What the gateway process pays per span is the packing and one
pickle per batch.

The child is started with ``spawn`` (no inherited threads or event loop) and imports only this
module and the SDK. Export failures are the child's to log; a child that died is noticed at the
next batch (logged once, the batch dropped: tracing never fails or blocks a call).
"""

from __future__ import annotations

import logging
import multiprocessing
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from multiprocessing.connection import Connection
from typing import Any

from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult
from opentelemetry.sdk.util.instrumentation import InstrumentationScope
from opentelemetry.trace import SpanContext, SpanKind, Status, StatusCode, TraceFlags

log = logging.getLogger("daytwo.telemetry")

_SAMPLED = TraceFlags(TraceFlags.SAMPLED)
#: How long shutdown waits for the child to send what it holds.
_STOP_S = 10.0

#: (name, trace_id, span_id, parent_span_id | None, parent_is_remote, kind, start_ns, end_ns,
#: attributes, status_code, status_description, scope_name)
Packed = tuple[Any, ...]


@dataclass(frozen=True, slots=True)
class ExporterSpec:
    """What the child needs to build the real exporter (headers already resolved: they go
    through the spawn pipe, never the command line or the environment)."""

    kind: str  #: otlp_http | otlp_grpc
    endpoint: str
    headers: dict[str, str]
    timeout_s: float
    service_name: str


def pack(span: ReadableSpan) -> Packed:
    ctx = span.context
    parent = span.parent
    assert ctx is not None
    scope = span.instrumentation_scope
    return (
        span.name,
        ctx.trace_id,
        ctx.span_id,
        parent.span_id if parent is not None else None,
        parent.is_remote if parent is not None else False,
        span.kind.value,
        span.start_time,
        span.end_time,
        dict(span.attributes or {}),
        span.status.status_code.value,
        span.status.description,
        scope.name if scope is not None else "daytwo.gateway",
    )


def unpack(p: Packed, resource: Resource) -> ReadableSpan:
    name, trace_id, span_id, parent_id, remote, kind, start, end, attrs, code, desc, scope = p
    parent = SpanContext(trace_id, parent_id, remote, _SAMPLED) if parent_id is not None else None
    return ReadableSpan(
        name,
        context=SpanContext(trace_id, span_id, False, _SAMPLED),
        parent=parent,
        resource=resource,
        attributes=attrs,
        kind=SpanKind(kind),
        status=Status(StatusCode(code), desc),
        start_time=start,
        end_time=end,
        instrumentation_scope=InstrumentationScope(scope),
    )


class ProcessSpanExporter(SpanExporter):
    def __init__(self, spec: ExporterSpec) -> None:
        ctx = multiprocessing.get_context("spawn")
        self._conn, child = ctx.Pipe()
        self._proc = ctx.Process(
            target=_serve, args=(child, spec), name="daytwo-span-export", daemon=True
        )
        self._proc.start()
        child.close()
        self._lock = threading.Lock()
        self._dead = False

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        batch = [pack(s) for s in spans]
        return SpanExportResult.SUCCESS if self._send("spans", batch) else SpanExportResult.FAILURE

    def force_flush(self, timeout_millis: int = 30_000) -> bool:
        """True once the child has exported everything sent before this call."""
        with self._lock:
            if not self._send_locked("flush", None):
                return False
            try:
                if not self._conn.poll(timeout_millis / 1000):
                    return False
                return bool(self._conn.recv())
            except (EOFError, OSError):
                return False

    def shutdown(self) -> None:
        with self._lock:
            self._send_locked("stop", None)
            self._proc.join(_STOP_S)
            if self._proc.is_alive():
                self._proc.terminate()
                self._proc.join(1.0)
            self._conn.close()
            self._dead = True

    def _send(self, kind: str, payload: Any) -> bool:
        with self._lock:
            return self._send_locked(kind, payload)

    def _send_locked(self, kind: str, payload: Any) -> bool:
        if self._dead:
            return False
        try:
            self._conn.send((kind, payload))
            return True
        except (OSError, ValueError):
            self._dead = True
            log.error("the span export process is gone: traces are no longer exported")
            return False


def _serve(conn: Connection, spec: ExporterSpec) -> None:
    """The child: rebuild each batch's spans and export them with the SDK's OTLP exporter."""
    exporter = _build(spec)
    resource = Resource.create({"service.name": spec.service_name})
    try:
        while True:
            try:
                kind, payload = conn.recv()
            except (EOFError, OSError):  # the gateway is gone
                return
            if kind == "spans":
                exporter.export([unpack(p, resource) for p in payload])
            elif kind == "flush":
                conn.send(True)
            else:
                return
    finally:
        exporter.shutdown()


def _build(spec: ExporterSpec) -> SpanExporter:
    if spec.kind == "otlp_grpc":
        from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import (
            OTLPSpanExporter as GrpcExporter,
        )

        return GrpcExporter(endpoint=spec.endpoint, headers=spec.headers, timeout=spec.timeout_s)
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import (
        OTLPSpanExporter as HttpExporter,
    )

    return HttpExporter(endpoint=spec.endpoint, headers=spec.headers, timeout=spec.timeout_s)
