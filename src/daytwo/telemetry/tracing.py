"""OpenTelemetry traces of every call, in the GenAI semantic conventions.

Spans are built after the fact from the call's record (its own start and end times), so tracing
adds nothing before the answer is sent: :meth:`Tracing.observe` runs once per finished call,
makes the spans and hands them to a ``BatchSpanProcessor``, whose thread exports them.

::

    chat gpt-4o-mini            SERVER   the call as the application sent it (request model =
    │                                    the alias), usage, cost, attribution, outcome
    ├── chat gpt-4o-mini        CLIENT   attempt 1 on deployment primary/gpt-4o-mini: 503
    └── chat gpt-4o-mini        CLIENT   attempt 2 on deployment fallback/gpt-4o-mini: ok

The call span is SERVER: it is the gateway's side of the application's HTTP request, and its
parent is the application's span named by the incoming W3C ``traceparent``, so the gateway's
spans join the application's trace. The attempts are the GenAI inference spans proper: calls to
a model provider over HTTP, kind CLIENT as the conventions ask. Tokens and cost are on the call
span only, so a backend summing a trace's usage does not count them twice. A call without a
``traceparent`` starts a trace whose id is the call's own ``trace_id`` (the ledger's and the
logs'), so a row leads to its trace.

The spans are finished ``ReadableSpan`` objects handed straight to the processor, with the
standard ``ParentBased(TraceIdRatioBased)`` sampler deciding. The SDK's ``Tracer.start_span``
path (span objects with locks, context look-ups, attribute re-validation) cost ~110 µs per call
here, a third of the gateway's own CPU per request; built directly, a call costs ~25 µs. Nothing
touches the process-global tracer provider or context: an application using ``daytwo.sdk`` in
the same process, or many gateways in one test run, do not collide.

Content capture (``capture_content``) is opt-in and redacted (``telemetry/redact.py``,
``telemetry/content.py``).
"""

from __future__ import annotations

import hashlib
import logging
import sys
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from opentelemetry import trace
from opentelemetry.context import Context
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import Event, ReadableSpan
from opentelemetry.sdk.trace.export import (
    BatchSpanProcessor,
    ConsoleSpanExporter,
    SpanExporter,
)
from opentelemetry.sdk.trace.id_generator import RandomIdGenerator
from opentelemetry.sdk.trace.sampling import ParentBased, TraceIdRatioBased
from opentelemetry.sdk.util.instrumentation import InstrumentationScope
from opentelemetry.trace import SpanContext, SpanKind, Status, StatusCode, TraceFlags
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

from daytwo.config.audit import RedactionConfig
from daytwo.config.telemetry import TracesConfig
from daytwo.core.observe import CallView
from daytwo.core.record import AttemptRecord, CallRecord
from daytwo.core.score import ScoreRecord
from daytwo.core.secrets import SecretError, SecretRegistry
from daytwo.telemetry import content
from daytwo.telemetry import genai as A
from daytwo.telemetry.export_process import ExporterSpec, ProcessSpanExporter
from daytwo.telemetry.redact import ContentRedactor

log = logging.getLogger("daytwo.telemetry")

SCOPE = InstrumentationScope("daytwo.gateway")
#: The collector's standard ports on localhost, when ``endpoint`` is not set.
DEFAULT_HTTP_ENDPOINT = "http://localhost:4318"
DEFAULT_GRPC_ENDPOINT = "http://localhost:4317"
_NANOUSD = 1e9
_OK = Status(StatusCode.UNSET)
_ERROR = Status(StatusCode.ERROR)
_SAMPLED = TraceFlags(TraceFlags.SAMPLED)

Attributes = dict[str, Any]


class Tracing:
    """The gateway's call observer for traces. ``exporter`` replaces the configured one
    (tests hand in an in-memory exporter)."""

    def __init__(
        self,
        cfg: TracesConfig,
        secrets: SecretRegistry,
        *,
        exporter: SpanExporter | None = None,
        redaction: RedactionConfig | None = None,
    ) -> None:
        self.config = cfg
        redaction = redaction or RedactionConfig()
        self._redact = ContentRedactor(
            secrets,
            cfg.redact,
            named=[(p.name, p.regex) for p in redaction.patterns],
            detectors=redaction.detectors,
        )
        self._propagator = TraceContextTextMapPropagator()
        self._sampler = ParentBased(TraceIdRatioBased(cfg.sample_ratio))
        self._resource = Resource.create({A.SERVICE_NAME: cfg.service_name})
        self._ids = RandomIdGenerator()
        self._provider_types: Callable[[], Mapping[str, str]] = dict
        self._processor: BatchSpanProcessor | None = None
        if exporter is None:
            exporter = build_exporter(cfg, secrets)
        if exporter is not None:
            self.use_exporter(exporter)

    def use_exporter(self, exporter: SpanExporter) -> None:
        """Send spans to ``exporter`` from now on (call before traffic: the previous exporter
        is shut down, after the spans it had not sent yet are flushed)."""
        old = self._processor
        self._processor = BatchSpanProcessor(
            exporter, export_timeout_millis=self.config.export_timeout_s * 1000
        )
        if old is not None:
            old.shutdown()  # type: ignore[no-untyped-call]  # untyped in the SDK

    def use_provider_types(self, lookup: Callable[[], Mapping[str, str]]) -> None:
        """Where to read each configured provider's ``type`` (provider name → type; it changes
        on reload), for ``gen_ai.provider.name``."""
        self._provider_types = lookup

    def observe(self, record: CallRecord, view: CallView) -> None:
        processor = self._processor
        if processor is None:
            return
        try:
            for span in self._spans(record, view):
                processor.on_end(span)
        except Exception as exc:  # an observer must never fail the call it watched
            log.warning(
                "trace of a call not recorded",
                extra={"call_id": record.id, "error_class": type(exc).__name__},
            )

    def force_flush(self, timeout_s: float = 10.0) -> bool:
        """Export every finished span now; False if that did not finish in time."""
        if self._processor is None:
            return True
        return self._processor.force_flush(int(timeout_s * 1000))

    def shutdown(self) -> None:
        """Flush the spans not exported yet and stop the exporter (graceful shutdown)."""
        processor, self._processor = self._processor, None
        if processor is not None:
            processor.shutdown()  # type: ignore[no-untyped-call]  # untyped in the SDK

    def evaluated(self, record: CallRecord, scores: Sequence[ScoreRecord]) -> None:
        """The online evaluators' verdicts on a call whose span was exported earlier: one
        zero-length child span of the call's span, ``evaluate``, carrying one
        ``gen_ai.evaluation.result`` event per score (OpenTelemetry GenAI's evaluation
        attributes). Called from the quality room's worker thread, after the checks."""
        processor = self._processor
        if processor is None or not scores:
            return
        trace_id = int(record.trace_id, 16)
        decision = self._sampler.should_sample(None, trace_id, "evaluate").decision
        if not decision.is_sampled():  # type: ignore[no-untyped-call]  # untyped in the SDK
            return
        parent = SpanContext(trace_id, call_span_id(record.id), False, _SAMPLED)
        now = _ns(max(s.at for s in scores))
        events = [Event(A.EVALUATION_RESULT, _evaluation_attributes(s), _ns(s.at)) for s in scores]
        try:
            processor.on_end(
                ReadableSpan(
                    "evaluate",
                    context=SpanContext(trace_id, self._ids.generate_span_id(), False, _SAMPLED),
                    parent=parent,
                    resource=self._resource,
                    attributes={A.CALL_ID: record.id},
                    events=events,
                    kind=SpanKind.INTERNAL,
                    start_time=now,
                    end_time=now,
                    instrumentation_scope=SCOPE,
                )
            )
        except Exception as exc:  # never fail the quality room's worker
            log.warning(
                "evaluation events not recorded",
                extra={"call_id": record.id, "error_class": type(exc).__name__},
            )

    # -- building the spans ------------------------------------------------------------------

    def _spans(self, record: CallRecord, view: CallView) -> list[ReadableSpan]:
        name = f"{record.operation} {record.alias}" if record.alias else record.operation
        parent: SpanContext | None = None
        caller: Context | None = None
        if view.traceparent is not None:
            caller = self._propagator.extract({"traceparent": view.traceparent})
            found = trace.get_current_span(caller).get_span_context()
            if found.is_valid:
                parent = found
            else:
                caller = None
        if parent is not None:
            trace_id = parent.trace_id
        else:
            trace_id = int(record.trace_id, 16) or self._ids.generate_trace_id()
        sampled = self._sampler.should_sample(caller, trace_id, name).decision
        if not sampled.is_sampled():  # type: ignore[no-untyped-call]  # untyped in the SDK
            return []
        ctx = SpanContext(trace_id, call_span_id(record.id), False, _SAMPLED)
        status = _OK if record.status == "ok" else Status(StatusCode.ERROR, record.error_message)
        spans = [
            ReadableSpan(
                name,
                context=ctx,
                parent=parent,
                resource=self._resource,
                attributes=self._call_attributes(record, view),
                kind=SpanKind.SERVER,
                status=status,
                start_time=_ns(record.started_at),
                end_time=_ns(record.ended_at),
                instrumentation_scope=SCOPE,
            )
        ]
        if record.attempts:
            for attempt in record.attempt_log or (_the_attempt(record),):
                spans.append(self._attempt_span(ctx, record.operation, attempt))
        return spans

    def _provider_name(self, provider: str) -> str | None:
        ptype = self._provider_types().get(provider, provider)
        return A.PROVIDER_NAMES.get(ptype)

    def _call_attributes(self, record: CallRecord, view: CallView) -> Attributes:
        attrs: Attributes = {
            A.OPERATION_NAME: record.operation,
            A.CALL_ID: record.id,
            A.STATUS: record.status,
            A.HTTP_RESPONSE_STATUS_CODE: record.http_status,
            A.STREAM: record.stream,
            A.ATTEMPTS: record.attempts,
            A.PROJECT: record.project,
        }
        if record.alias:
            attrs[A.REQUEST_MODEL] = record.alias
        if record.provider is not None:
            attrs[A.PROVIDER] = record.provider
            _put(attrs, A.PROVIDER_NAME, self._provider_name(record.provider))
            _put(attrs, A.DEPLOYMENT, record.deployment)
        _put(attrs, A.RESPONSE_MODEL, record.served_model)
        _put(attrs, A.OPENAI_RESPONSE_SYSTEM_FINGERPRINT, record.fingerprint)
        _put(attrs, A.RESPONSE_ID, view.response_id)
        if view.finish_reasons:
            attrs[A.RESPONSE_FINISH_REASONS] = view.finish_reasons
        if record.status == "ok" or record.input_tokens or record.output_tokens:
            attrs[A.USAGE_INPUT_TOKENS] = record.input_tokens
            if record.operation != "embeddings":
                attrs[A.USAGE_OUTPUT_TOKENS] = record.output_tokens
        if record.cached_input_tokens:
            attrs[A.USAGE_CACHE_READ_INPUT_TOKENS] = record.cached_input_tokens
        if record.cache_write_tokens:
            attrs[A.USAGE_CACHE_CREATION_INPUT_TOKENS] = record.cache_write_tokens
        if record.reasoning_tokens:
            attrs[A.REASONING_TOKENS] = record.reasoning_tokens
        if record.tokens_estimated:
            attrs[A.TOKENS_ESTIMATED] = True
        if record.cost_nanousd is not None:
            attrs[A.COST_USD] = record.cost_nanousd / _NANOUSD
        _put(attrs, A.PRICE_REF, record.price_ref)
        _put(attrs, A.TTFT_MS, record.ttft_ms)
        _put(attrs, A.ERROR_TYPE, record.error_class)
        _put(attrs, A.BUDGET_DECISION, _budget_decision(record))
        if record.cache_status is not None:
            attrs[A.CACHE] = record.cache_status
            if record.saved_nanousd is not None:
                attrs[A.SAVED_USD] = record.saved_nanousd / _NANOUSD
        _put(attrs, A.WORKFLOW, record.workflow)
        _put(attrs, A.FEATURE, record.feature)
        _put(attrs, A.AGENT, record.agent)
        if record.session is not None:
            attrs[A.SESSION] = attrs[A.CONVERSATION_ID] = record.session
        _put(attrs, A.ENVIRONMENT, record.environment)
        _put(attrs, A.KEY_ID, record.key_id)
        if record.prompt_name is not None:
            attrs[A.PROMPT_NAME] = record.prompt_name
            _put(attrs, A.PROMPT_VERSION, record.prompt_version)
            _put(attrs, A.PROMPT_LABEL, record.prompt_label)
            _put(attrs, A.PROMPT_HASH, record.prompt_hash)
        if view.request is not None:
            _request_attributes(attrs, view.request)
            if self.config.capture_content:
                self._content(attrs, view)
        return attrs

    def _content(self, attrs: Attributes, view: CallView) -> None:
        truncated = False
        assert view.request is not None
        sent = content.input_messages(view.request)
        if sent is not None:
            attrs[A.INPUT_MESSAGES], cut = content.serialize(sent, self._redact)
            truncated |= cut
        got = content.output_messages(view.response) if view.response is not None else None
        if got is not None:
            attrs[A.OUTPUT_MESSAGES], cut = content.serialize(got, self._redact)
            truncated |= cut
        if truncated:
            attrs[A.CONTENT_TRUNCATED] = True

    def _attempt_span(
        self, parent: SpanContext, operation: str, attempt: AttemptRecord
    ) -> ReadableSpan:
        attrs: Attributes = {
            A.OPERATION_NAME: operation,
            A.REQUEST_MODEL: attempt.model,
            A.PROVIDER: attempt.provider,
            A.DEPLOYMENT: attempt.deployment,
            A.ATTEMPT: attempt.n,
            A.ATTEMPT_OUTCOME: attempt.outcome,
        }
        _put(attrs, A.PROVIDER_NAME, self._provider_name(attempt.provider))
        _put(attrs, A.HTTP_RESPONSE_STATUS_CODE, attempt.upstream_status)
        _put(attrs, A.ERROR_TYPE, attempt.error_class)
        _put(attrs, A.RETRY_DECISION, attempt.decision)
        if attempt.delay_ms:
            attrs[A.RETRY_DELAY_MS] = attempt.delay_ms
        return ReadableSpan(
            f"{operation} {attempt.model}",
            context=SpanContext(parent.trace_id, self._ids.generate_span_id(), False, _SAMPLED),
            parent=parent,
            resource=self._resource,
            attributes=attrs,
            kind=SpanKind.CLIENT,
            status=_OK if attempt.outcome == "ok" else _ERROR,
            start_time=_ns(attempt.started_at),
            end_time=_ns(attempt.started_at + attempt.latency_ms / 1000),
            instrumentation_scope=SCOPE,
        )


def call_span_id(call_id: str) -> int:
    """The span id of a call's span, derived from its (random) call id, so that spans made
    later -- the online evaluators' -- can name it as their parent without a lookup table."""
    digest = hashlib.blake2b(call_id.encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") or 1


def _evaluation_attributes(score: ScoreRecord) -> Attributes:
    attrs: Attributes = {A.EVALUATION_NAME: score.evaluator}
    if score.value is not None:
        attrs[A.EVALUATION_SCORE_VALUE] = score.value
    if score.label is not None:
        attrs[A.EVALUATION_SCORE_LABEL] = score.label
    if score.explanation is not None:
        attrs[A.EVALUATION_EXPLANATION] = score.explanation
    return attrs


def build_exporter(cfg: TracesConfig, secrets: SecretRegistry) -> SpanExporter | None:
    """The configured exporter (None for ``exporter: none``). Header values are secret
    references, resolved here (a bad one raises :class:`SecretError` naming its key)."""
    if cfg.exporter == "none":
        return None
    if cfg.exporter == "console":
        return ConsoleSpanExporter(out=sys.stderr)
    headers = {}
    for name, ref in cfg.headers.items():
        try:
            headers[name.lower()] = secrets.resolve(ref)
        except SecretError as exc:
            raise SecretError(f"telemetry.traces.headers.{name}: {exc}") from None
    endpoint = str(cfg.endpoint) if cfg.endpoint is not None else None
    if cfg.export_process:
        url = (
            (endpoint or DEFAULT_GRPC_ENDPOINT).rstrip("/")
            if cfg.exporter == "otlp_grpc"
            else traces_url(endpoint or DEFAULT_HTTP_ENDPOINT)
        )
        spec = ExporterSpec(cfg.exporter, url, headers, cfg.export_timeout_s, cfg.service_name)
        return ProcessSpanExporter(spec)
    if cfg.exporter == "otlp_grpc":
        from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import (
            OTLPSpanExporter as GrpcExporter,
        )

        return GrpcExporter(
            endpoint=(endpoint or DEFAULT_GRPC_ENDPOINT).rstrip("/"),
            headers=headers,
            timeout=cfg.export_timeout_s,
        )
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import (
        OTLPSpanExporter as HttpExporter,
    )

    return HttpExporter(
        endpoint=traces_url(endpoint or DEFAULT_HTTP_ENDPOINT),
        headers=headers,
        timeout=cfg.export_timeout_s,
    )


def traces_url(endpoint: str) -> str:
    """The OTLP/HTTP traces URL of a collector's base endpoint (``/v1/traces`` appended,
    unless it is already there)."""
    base = endpoint.rstrip("/")
    return base if base.endswith("/v1/traces") else f"{base}/v1/traces"


def _the_attempt(record: CallRecord) -> AttemptRecord:
    """The one upstream attempt of a call that made one (the record keeps no attempt log
    then): the call's own times, deployment and outcome."""
    status = record.status
    return AttemptRecord(
        n=1,
        started_at=record.started_at,
        latency_ms=(record.ended_at - record.started_at) * 1000,
        provider=record.provider or "",
        deployment=record.deployment or "",
        model=_upstream_model(record),
        outcome="ok" if status == "ok" else "cancelled" if status == "cancelled" else "error",
        # The upstream's status: 200 for an answer, and an upstream error status is passed to
        # the client as it came (UpstreamStatusError keeps it); others had no HTTP status.
        upstream_status=(
            200
            if status == "ok"
            else record.http_status
            if record.error_class == "UpstreamStatusError"
            else None
        ),
        error_class=record.error_class,
    )


def _upstream_model(record: CallRecord) -> str:
    deployment = record.deployment or ""
    # A deployment is named ``{provider}/{model}`` unless the config gave it a name.
    prefix = f"{record.provider}/"
    if deployment.startswith(prefix):
        return deployment[len(prefix) :]
    return record.served_model or record.alias


def _budget_decision(record: CallRecord) -> str | None:
    if record.attempts or record.cache_status is not None:
        return "admitted"
    if record.error_class in A.SPEND_REFUSALS:
        return "refused"
    return None


#: Request parameters → attribute, by the type the convention wants.
_INT_PARAMS = (
    ("max_tokens", A.REQUEST_MAX_TOKENS),
    ("max_completion_tokens", A.REQUEST_MAX_TOKENS),
    ("seed", A.REQUEST_SEED),
    ("dimensions", A.EMBEDDINGS_DIMENSION_COUNT),
)
_FLOAT_PARAMS = (
    ("temperature", A.REQUEST_TEMPERATURE),
    ("top_p", A.REQUEST_TOP_P),
    ("top_k", A.REQUEST_TOP_K),
    ("frequency_penalty", A.REQUEST_FREQUENCY_PENALTY),
    ("presence_penalty", A.REQUEST_PRESENCE_PENALTY),
)


def _request_attributes(attrs: Attributes, body: dict[str, Any]) -> None:
    """The request parameters the conventions name, when the client sent them with the type
    the convention expects (a wrong-typed value is left out, never coerced)."""
    get = body.get
    for key, name in _INT_PARAMS:
        value = get(key)
        if type(value) is int:
            attrs[name] = value
    for key, name in _FLOAT_PARAMS:
        value = get(key)
        if type(value) is float or type(value) is int:
            attrs[name] = float(value)
    n = get("n")
    if type(n) is int and n != 1:
        attrs[A.REQUEST_CHOICE_COUNT] = n
    stop = get("stop")
    if isinstance(stop, str):
        attrs[A.REQUEST_STOP_SEQUENCES] = (stop,)
    elif isinstance(stop, list) and stop and all(isinstance(s, str) for s in stop):
        attrs[A.REQUEST_STOP_SEQUENCES] = tuple(stop)
    fmt = get("response_format")
    if isinstance(fmt, dict):
        kind = fmt.get("type")
        if kind in ("json_object", "json_schema"):
            attrs[A.OUTPUT_TYPE] = "json"
        elif kind == "text":
            attrs[A.OUTPUT_TYPE] = "text"
    encoding = get("encoding_format")
    if isinstance(encoding, str):
        attrs[A.REQUEST_ENCODING_FORMATS] = (encoding,)


def _ns(seconds: float) -> int:
    return int(seconds * 1e9)


def _put(attrs: Attributes, key: str, value: object) -> None:
    if value is not None:
        attrs[key] = value
