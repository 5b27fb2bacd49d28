"""Prometheus metrics of every call, rendered at ``GET /metrics``.

Two halves:

* Counters and histograms, updated once per finished call by :meth:`Metrics.observe` (a call
  observer, on the event loop). The label children a call needs are bound once and kept in a
  dict keyed by the label tuple, so a call costs a few dictionary look-ups and increments.
* Gauges read at scrape time from a :class:`~daytwo.telemetry.state.ScrapeState` (breakers,
  budgets, kill switches, the ledger writer): ``telemetry/gauges.py``.

Every metric lives in a registry of its own (never prometheus-client's global one: one process
may run many gateways, in tests). The ``*_created`` samples prometheus-client adds to counters
and histograms are left out: they double the series count and Prometheus does not need them.

The call labels are ``provider, model, project, workflow``; ``model`` is the alias the client
asked for (the served model is in the ledger and on the trace). ``project``, ``workflow`` and
``model`` come from clients, so they pass through a :class:`~daytwo.telemetry.labels.LabelGuard`
each. ``docs/observability.md`` lists every metric with its type, labels and meaning.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from typing import Generic, TypeVar

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Histogram,
    PlatformCollector,
    ProcessCollector,
)
from prometheus_client.exposition import CONTENT_TYPE_PLAIN_0_0_4, generate_latest
from prometheus_client.metrics import MetricWrapperBase
from prometheus_client.metrics_core import Metric
from prometheus_client.registry import Collector
from prometheus_client.samples import Sample

from daytwo.config.telemetry import MetricsConfig
from daytwo.core.observe import CallView
from daytwo.core.record import AttemptRecord, CallRecord
from daytwo.telemetry.gauges import ScrapeCollector
from daytwo.telemetry.labels import UNKNOWN, LabelGuard
from daytwo.telemetry.state import ScrapeState

#: The Prometheus text format (0.0.4): what every Prometheus 2.x and agent reads.
CONTENT_TYPE = CONTENT_TYPE_PLAIN_0_0_4

#: OpenTelemetry GenAI semantic conventions' advised bucket boundaries.
TOKEN_BUCKETS = (
    1, 4, 16, 64, 256, 1024, 4096, 16384, 65536, 262144, 1048576, 4194304, 16777216, 67108864,
)  # fmt: skip
DURATION_BUCKETS = (
    0.01, 0.02, 0.04, 0.08, 0.16, 0.32, 0.64, 1.28, 2.56, 5.12, 10.24, 20.48, 40.96, 81.92,
)  # fmt: skip
TTFT_BUCKETS = (
    0.001, 0.005, 0.01, 0.02, 0.04, 0.06, 0.08, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0,
)  # fmt: skip

CALL_LABELS = ("provider", "model", "project", "workflow")
#: The ``provider`` of a call no upstream was chosen for (refused, malformed, a cache hit).
NO_PROVIDER = "none"
#: Spend control's refusals (``daytwo_ratelimit_rejections_total``).
SPEND_REFUSALS = frozenset({"BudgetExceeded", "RateLimited", "FeatureDisabled"})
#: A model the gateway does not serve: the alias is the client's free text, not worth a value.
UNSERVED = "ModelNotFound"
NANOS_PER_USD = 1e9

M = TypeVar("M", Counter, Histogram)


class _Children(Generic[M]):
    """One metric's label children, bound on first use and kept by label tuple."""

    __slots__ = ("_children", "metric")

    def __init__(self, metric: M) -> None:
        self.metric: M = metric
        self._children: dict[tuple[str, ...], M] = {}

    def __call__(self, key: tuple[str, ...]) -> M:
        child = self._children.get(key)
        if child is None:
            child = self._children[key] = self.metric.labels(*key)
        return child


def _counter(name: str, doc: str, labels: Sequence[str]) -> _Children[Counter]:
    return _Children(Counter(name, doc, labels, registry=None))


def _histogram(
    name: str, doc: str, labels: Sequence[str], buckets: Sequence[float]
) -> _Children[Histogram]:
    return _Children(Histogram(name, doc, labels, registry=None, buckets=buckets))


class _WithoutCreated(Collector):
    """The call metrics, without prometheus-client's ``*_created`` samples."""

    def __init__(self, metrics: Iterable[MetricWrapperBase]) -> None:
        self._metrics = tuple(metrics)

    def collect(self) -> Iterator[Metric]:
        for metric in self._metrics:
            for family in metric.collect():
                family.samples = [s for s in family.samples if not _created(s)]
                yield family


def _created(sample: Sample) -> bool:
    return sample.name.endswith("_created")


class Metrics:
    """The Prometheus metrics of one gateway process (``telemetry.metrics`` in the config)."""

    def __init__(self, cfg: MetricsConfig) -> None:
        self.config = cfg
        limit = cfg.max_label_values
        self._project = LabelGuard(limit)
        self._workflow = LabelGuard(limit)
        self._model = LabelGuard(limit)
        #: One guard over (name, version) pairs: a prompt's every version is one series each.
        self._prompt = LabelGuard(limit)
        self._requests = _counter(
            "daytwo_requests",
            "Calls finished, by outcome (ok, error, rejected, cancelled).",
            ("operation", "status", *CALL_LABELS),
        )
        self._errors = _counter(
            "daytwo_errors",
            "Calls that did not end ok, by error class (the ledger's error_class).",
            ("error_class", *CALL_LABELS),
        )
        self._refusals = _counter(
            "daytwo_ratelimit_rejections",
            "Calls refused by spend control: budget, rate limit or kill switch.",
            ("error_class", "model", "project", "workflow"),
        )
        self._tokens = _histogram(
            "gen_ai_client_token_usage",
            "Tokens used per call (OpenTelemetry gen_ai.client.token.usage).",
            ("gen_ai_token_type", *CALL_LABELS),
            TOKEN_BUCKETS,
        )
        self._duration = _histogram(
            "gen_ai_client_operation_duration_seconds",
            "Call duration as the client saw it (OpenTelemetry gen_ai.client.operation.duration).",
            CALL_LABELS,
            DURATION_BUCKETS,
        )
        self._ttft = _histogram(
            "gen_ai_server_time_to_first_token_seconds",
            "Time to the first streamed token (OpenTelemetry gen_ai.server.time_to_first_token).",
            CALL_LABELS,
            TTFT_BUCKETS,
        )
        self._cost = _counter("daytwo_cost_usd", "What calls cost, US dollars.", CALL_LABELS)
        self._unpriced = _counter(
            "daytwo_unpriced_requests",
            "Calls that used tokens of a model with no known price (their cost is unknown).",
            CALL_LABELS,
        )
        self._retries = _counter(
            "daytwo_retries",
            "Upstream attempts after a failed one, by the deployment that failed.",
            ("model", "deployment"),
        )
        self._fallbacks = _counter(
            "daytwo_fallbacks",
            "Retries that moved to another deployment.",
            ("model", "from_deployment", "to_deployment"),
        )
        self._cache_hits = _counter(
            "daytwo_cache_hits",
            "Calls answered without an upstream call: hit (response cache), replay "
            "(Idempotency-Key).",
            ("kind", "model", "project", "workflow"),
        )
        self._cache_saved = _counter(
            "daytwo_cache_saved_usd",
            "What the answers served from the cache or replayed would have cost, US dollars.",
            ("kind", "model", "project", "workflow"),
        )
        self._prompt_requests = _counter(
            "daytwo_prompt_requests",
            "Calls that named a prompt, by prompt name, version and outcome.",
            ("gen_ai_prompt_name", "gen_ai_prompt_version", "status"),
        )
        self._prompt_cost = _counter(
            "daytwo_prompt_cost_usd",
            "What calls that named a prompt cost, US dollars, by prompt name and version.",
            ("gen_ai_prompt_name", "gen_ai_prompt_version"),
        )
        self.registry = CollectorRegistry()
        families = (
            self._requests, self._errors, self._refusals, self._tokens, self._duration,
            self._ttft, self._cost, self._unpriced, self._retries, self._fallbacks,
            self._cache_hits, self._cache_saved, self._prompt_requests, self._prompt_cost,
        )  # fmt: skip
        self.registry.register(_WithoutCreated(f.metric for f in families))
        ProcessCollector(registry=self.registry)
        PlatformCollector(registry=self.registry)

    def observe(self, record: CallRecord, view: CallView) -> None:
        """Count one finished call (a :class:`~daytwo.core.observe.CallObserver`)."""
        error = record.error_class
        model = UNKNOWN if error == UNSERVED else self._model(record.alias)
        project = self._project(record.project)
        workflow = self._workflow(record.workflow)
        who = (model, project, workflow)
        call = (record.provider or NO_PROVIDER, *who)
        self._requests((record.operation, record.status, *call)).inc()
        if record.prompt_name is not None:
            self._count_prompt(record)
        if error is not None:
            self._errors((error, *call)).inc()
            if error in SPEND_REFUSALS:
                self._refusals((error, *who)).inc()
        cache = record.cache_status
        if cache is not None:
            self._cache_hits((cache, *who)).inc()
            if record.saved_nanousd:
                self._cache_saved((cache, *who)).inc(record.saved_nanousd / NANOS_PER_USD)
        elif record.provider is None:
            return  # never reached a model: refused, malformed, or unroutable
        self._duration(call).observe(record.latency_ms / 1000)
        if record.ttft_ms is not None:
            self._ttft(call).observe(record.ttft_ms / 1000)
        if cache is not None:
            return
        cost = record.cost_nanousd
        if cost:
            self._cost(call).inc(cost / NANOS_PER_USD)
        if record.input_tokens or record.output_tokens:
            self._tokens(("input", *call)).observe(record.input_tokens)
            if record.operation != "embeddings":
                self._tokens(("output", *call)).observe(record.output_tokens)
            if cost is None:
                self._unpriced(call).inc()
        if record.attempts > 1:
            self._count_attempts(model, record.attempts, record.attempt_log)

    def _count_prompt(self, record: CallRecord) -> None:
        pair = self._prompt(f"{record.prompt_name}@v{record.prompt_version}")
        name, _, version = pair.partition("@v")
        labels = (name, version or pair)
        self._prompt_requests((*labels, record.status)).inc()
        if record.cost_nanousd:
            self._prompt_cost(labels).inc(record.cost_nanousd / NANOS_PER_USD)

    def _count_attempts(self, model: str, attempts: int, log: Sequence[AttemptRecord]) -> None:
        # Every attempt but the last failed and was followed by another one. (A call cancelled
        # during an attempt has no row for that attempt, hence the bounds check.)
        for i in range(min(attempts - 1, len(log))):
            failed = log[i].deployment
            self._retries((model, failed)).inc()
            if i + 1 < len(log) and log[i + 1].deployment != failed:
                self._fallbacks((model, failed, log[i + 1].deployment)).inc()

    def render(self, state: ScrapeState) -> bytes:
        """The scrape: every metric in the Prometheus text format (:data:`CONTENT_TYPE`)."""
        return generate_latest(self.registry) + generate_latest(ScrapeCollector(state))
