"""The scrape-time half of ``/metrics``: values the gateway gathers just before a scrape
(:class:`~daytwo.telemetry.state.ScrapeState`) turned into metric families. Nothing is kept
between scrapes: a collector is made per scrape, so a breaker or budget that disappears with a
config reload stops being reported at once.

Label values here come from the config (deployment, provider, budget names and their concrete
scopes), never from clients, so they need no cardinality guard.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.metrics_core import Metric
from prometheus_client.registry import Collector

from daytwo.telemetry.labels import UNKNOWN
from daytwo.telemetry.state import ScrapeState

BREAKER_STATES = ("closed", "open", "half_open")
_METRIC_NAME = re.compile(r"^[a-zA-Z_:][a-zA-Z0-9_:]*$")


class ScrapeCollector(Collector):
    """The gauges (and the ledger writer's counters) of one scrape."""

    def __init__(self, state: ScrapeState) -> None:
        self.state = state

    def collect(self) -> Iterator[Metric]:
        yield from self._deployments()
        yield from self._budgets()
        yield from self._connections()
        yield from self._process()

    def _deployments(self) -> Iterator[Metric]:
        labels = ("deployment", "provider")
        breaker = GaugeMetricFamily(
            "daytwo_breaker_state",
            "Circuit breaker state per deployment, one-hot: 1 for the current state.",
            labels=(*labels, "state"),
        )
        errors = GaugeMetricFamily(
            "daytwo_deployment_error_rate",
            "Share of the deployment's recent attempts that failed (the breaker's window).",
            labels=labels,
        )
        requests = GaugeMetricFamily(
            "daytwo_upstream_remaining_requests",
            "Requests the upstream said are left in its rate-limit window (its headers).",
            labels=labels,
        )
        tokens = GaugeMetricFamily(
            "daytwo_upstream_remaining_tokens",
            "Tokens the upstream said are left in its rate-limit window (its headers).",
            labels=labels,
        )
        for dep in self.state.deployments:
            key = [dep.deployment, dep.provider or UNKNOWN]
            for state in BREAKER_STATES:
                breaker.add_metric([*key, state], 1.0 if dep.state == state else 0.0)
            errors.add_metric(key, dep.error_rate)
            if dep.remaining_requests is not None:
                requests.add_metric(key, dep.remaining_requests)
            if dep.remaining_tokens is not None:
                tokens.add_metric(key, dep.remaining_tokens)
        yield from (breaker, errors, requests, tokens)

    def _budgets(self) -> Iterator[Metric]:
        ratio = GaugeMetricFamily(
            "daytwo_budget_utilization_ratio",
            "Share of a budget's cap spent in its current window (1 = exhausted), per unit.",
            labels=("budget", "scope", "window", "unit"),
        )
        for use in self.state.budgets:
            key = [use.name, use.scope, use.window]
            if use.cap_nanousd is not None:
                ratio.add_metric([*key, "usd"], _ratio(use.spent_nanousd, use.cap_nanousd))
            if use.cap_tokens is not None:
                ratio.add_metric([*key, "tokens"], _ratio(use.spent_tokens, use.cap_tokens))
        yield ratio

    def _connections(self) -> Iterator[Metric]:
        if not self.state.connections:
            return
        open_ = GaugeMetricFamily(
            "daytwo_connections_open", "Client connections open now.", labels=("listener",)
        )
        refused = CounterMetricFamily(
            "daytwo_connections_refused",
            "Connections closed by a limit since start: header_too_large (431), header_timeout "
            "and body_timeout (408), shed_idle (closed to make room), overloaded (503).",
            labels=("listener", "reason"),
        )
        for c in self.state.connections:
            open_.add_metric([c.listener], c.open)
            for reason, n in sorted(c.refused.items()):
                refused.add_metric([c.listener, reason], n)
        yield from (open_, refused)

    def _process(self) -> Iterator[Metric]:
        s = self.state
        yield GaugeMetricFamily(
            "daytwo_kill_switches_active",
            "Kill switches on now (tripped budgets included).",
            value=s.active_switches,
        )
        yield GaugeMetricFamily(
            "daytwo_inflight_requests", "Calls in flight in this process.", value=s.inflight
        )
        yield GaugeMetricFamily(
            "daytwo_ledger_queue_depth",
            "Ledger records in memory, not yet stored.",
            value=s.ledger_queued,
        )
        dropped = CounterMetricFamily(
            "daytwo_ledger_dropped_records",
            "Ledger records that left the normal path to the database since start: spilled "
            "(to the spill file, replayed later) or rejected (refused by the database as data, "
            "kept in the .rejected file, never stored).",
            labels=("reason",),
        )
        dropped.add_metric(["spilled"], s.ledger_spilled)
        dropped.add_metric(["rejected"], s.ledger_rejected)
        yield dropped
        yield CounterMetricFamily(
            "daytwo_ledger_scores_dropped",
            "Scores (online evaluators) the ledger writer dropped since start: score queue "
            "full, refused as data, or not stored by close. Scores are never spilled.",
            value=s.ledger_scores_dropped,
        )
        yield CounterMetricFamily(
            "daytwo_ledger_write_errors",
            "Failed ledger batch writes since start (each batch was retried).",
            value=s.ledger_write_errors,
        )
        yield GaugeMetricFamily(
            "daytwo_retry_budget_requests",
            "Calls counted in the retry budget's current window.",
            value=s.retry_budget_requests,
        )
        yield GaugeMetricFamily(
            "daytwo_retry_budget_retries",
            "Retries spent from the retry budget in its current window.",
            value=s.retry_budget_retries,
        )
        for name, value in sorted(s.extra.items()):
            if _METRIC_NAME.match(name):
                yield GaugeMetricFamily(name, "Reported by the gateway.", value=value)


def _ratio(spent: int, cap: int) -> float:
    if cap <= 0:
        return 1.0
    return spent / cap
