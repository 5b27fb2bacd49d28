"""Telemetry: Prometheus metrics and OpenTelemetry traces of every call.

Both are call observers (``core/observe.py``): the pipeline hands them each finished call's
record and view once, after the ledger got it. Metrics count into a private prometheus-client
registry rendered at ``GET /metrics``; traces build the call's span (and one child span per
upstream attempt) from the record's own times, so nothing is added before the answer is sent.

::

    logs.py      structured JSON logs through a queue to a writer thread, redacted
    hub.py       Telemetry: builds the configured metrics and tracing, their observers
    metrics.py   Metrics: counters and histograms by provider/model/project/workflow with a
                 cardinality guard; gauges read at scrape time from a ScrapeState
    tracing.py   Tracing: GenAI semantic-convention spans, OTLP export, traceparent honoured,
                 opt-in redacted content capture (genai.py: attribute names and provider
                 names; content.py: semconv messages; redact.py: the redaction step)
    state.py     ScrapeState: what the gateway gathers for a scrape
"""
