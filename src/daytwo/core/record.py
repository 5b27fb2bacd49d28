"""The call record: one row in the ledger per call, whatever its outcome."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

CallStatus = Literal["ok", "error", "rejected", "cancelled"]


@dataclass(slots=True)
class CallRecord:
    """Everything the ledger keeps about one call. Times are Unix seconds (float)."""

    id: str
    started_at: float
    ended_at: float
    latency_ms: float
    status: CallStatus
    http_status: int
    operation: str
    alias: str
    trace_id: str
    ttft_ms: float | None = None
    error_class: str | None = None
    error_message: str | None = None
    stream: bool = False
    # attribution
    project: str = "default"
    workflow: str | None = None
    feature: str | None = None
    agent: str | None = None
    session: str | None = None
    user: str | None = None
    environment: str | None = None
    tags: dict[str, str] = field(default_factory=dict)
    attributed: bool = False
    key_id: str | None = None
    # routing
    provider: str | None = None
    deployment: str | None = None
    served_model: str | None = None
    attempts: int = 0
    upstream_request_id: str | None = None
    # usage and cost
    input_tokens: int = 0
    output_tokens: int = 0
    cached_input_tokens: int = 0
    cache_write_tokens: int = 0
    reasoning_tokens: int = 0
    tokens_estimated: bool = False
    cost_nanousd: int | None = None
    price_ref: str | None = None
