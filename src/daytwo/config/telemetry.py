"""The ``telemetry`` section of ``daytwo.yaml``: Prometheus metrics and OpenTelemetry traces.

::

    telemetry:
      metrics:
        enabled: true                 # GET /metrics (Prometheus text format)
        max_label_values: 100         # per label (project, workflow, model): more → "other"
        token: env:METRICS_TOKEN      # optional: scrapes must send Authorization: Bearer <it>
      traces:
        enabled: true
        exporter: otlp_http           # otlp_http | otlp_grpc | console | none
        endpoint: http://otel-collector:4318
        headers: {authorization: env:OTEL_AUTH}   # values are secret references
        sample_ratio: 1.0             # of root traces; an incoming sampled traceparent is kept
        capture_content: false        # prompts and answers on spans (redacted), opt-in
        redact: ['\\b\\d{16}\\b']     # extra patterns replaced in captured content
"""

from __future__ import annotations

import re
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, HttpUrl, model_validator

from daytwo.core.secrets import parse_ref


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def _check_ref(value: str) -> str:
    parse_ref(value)
    return value


def _check_pattern(value: str) -> str:
    try:
        re.compile(value)
    except re.error as exc:
        raise ValueError(f"not a regular expression: {exc}") from None
    return value


class MetricsConfig(_Model):
    enabled: bool = True
    #: Distinct values kept per attribution label (project, workflow) and per model; past it,
    #: new values are counted under ``other`` so a bad client cannot explode the series count.
    max_label_values: int = Field(100, ge=1, le=10_000)
    #: A secret reference; when set, ``/metrics`` answers only ``Authorization: Bearer <token>``
    #: (compared in constant time) and 401 otherwise.
    token: Annotated[str, AfterValidator(_check_ref)] | None = None


class TracesConfig(_Model):
    enabled: bool = False
    exporter: Literal["otlp_http", "otlp_grpc", "console", "none"] = "otlp_http"
    #: OTLP endpoint: ``http://host:4318`` (HTTP/protobuf; ``/v1/traces`` is appended) or
    #: ``http://host:4317`` (gRPC). Default: the collector's standard port on localhost.
    endpoint: HttpUrl | None = None
    #: Extra export headers; values are secret references (``env:NAME`` / ``file:/path``).
    headers: dict[str, Annotated[str, AfterValidator(_check_ref)]] = Field(default_factory=dict)
    service_name: str = Field("daytwo", min_length=1)
    #: Share of new traces sampled (a caller's sampled ``traceparent`` is always followed).
    sample_ratio: float = Field(1.0, ge=0, le=1)
    #: Record prompts and answers on spans, after redaction. Off by default.
    capture_content: bool = False
    #: Extra regular expressions whose matches are replaced in captured content.
    redact: tuple[Annotated[str, AfterValidator(_check_pattern)], ...] = ()
    export_timeout_s: float = Field(10.0, gt=0, le=300)
    #: Encode and send OTLP from a child process (the encoding then never competes with the
    #: request path for the interpreter lock); off: from a thread of the gateway process.
    export_process: bool = True

    @model_validator(mode="after")
    def _endpoint(self) -> TracesConfig:
        if self.endpoint is not None and self.exporter in ("console", "none"):
            raise ValueError(f"endpoint is only used by the otlp exporters, not {self.exporter}")
        return self


class TelemetryConfig(_Model):
    metrics: MetricsConfig = MetricsConfig()
    traces: TracesConfig = TracesConfig()
