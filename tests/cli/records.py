"""Call records for CLI tests that read a real ledger."""

from __future__ import annotations

from daytwo.core.record import CallRecord


def call_record(n: int, started_at: float, **kw: object) -> CallRecord:
    """A priced, successful, attributed call (``$1.50``, 1,000 in / 100 out tokens on
    ``openai``/``gpt-4o``); keyword arguments override any field."""
    fields: dict[str, object] = {
        "id": f"c{n:04d}",
        "started_at": started_at,
        "ended_at": started_at + 1,
        "latency_ms": 1000.0,
        "status": "ok",
        "http_status": 200,
        "operation": "chat",
        "alias": "smart",
        "trace_id": "t",
        "project": "search",
        "workflow": "rag",
        "attributed": True,
        "provider": "openai",
        "served_model": "gpt-4o",
        "cost_nanousd": 1_500_000_000,
        "input_tokens": 1_000,
        "output_tokens": 100,
    }
    fields.update(kw)
    return CallRecord(**fields)  # type: ignore[arg-type]
