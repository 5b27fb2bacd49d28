"""Call records for tests that feed the telemetry sinks (metrics, traces) directly."""

from __future__ import annotations

from typing import Any

from daytwo.core.record import CallRecord


def call_record(n: int, **fields: Any) -> CallRecord:
    """A successful, priced chat call on ``openai/gpt-4o-mini``; ``fields`` override any."""
    base: dict[str, Any] = {
        "id": f"c{n}",
        "started_at": 0.0,
        "ended_at": 0.1,
        "latency_ms": 100.0,
        "status": "ok",
        "http_status": 200,
        "operation": "chat",
        "alias": "gpt-4o-mini",
        "trace_id": "t",
        "provider": "openai",
        "deployment": "openai/gpt-4o-mini",
        "attempts": 1,
        "input_tokens": 10,
        "output_tokens": 5,
        "cost_nanousd": 1000,
    }
    return CallRecord(**(base | fields))
