"""The call record: one row in the ledger per call, whatever its outcome, and one attempt record
per upstream attempt of a call that made more than one."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

CallStatus = Literal["ok", "error", "rejected", "cancelled"]
AttemptOutcome = Literal["ok", "error", "cancelled"]
#: How a call was answered without an upstream call: ``hit`` from the response cache,
#: ``replay`` the stored outcome of an earlier request with the same ``Idempotency-Key``.
CacheStatus = Literal["hit", "replay"]


@dataclass(slots=True)
class AttemptRecord:
    """One upstream attempt of a call (the ledger's ``attempts`` table, keyed by call id and
    ``n``). Times are Unix seconds; ``latency_ms`` runs to the answer (a stream: its end)."""

    n: int  #: 1 = the first attempt
    started_at: float
    latency_ms: float
    provider: str
    deployment: str
    model: str  #: the model name the upstream knows
    outcome: AttemptOutcome
    upstream_status: int | None = None  #: the upstream's HTTP status, when it sent one
    error_class: str | None = None
    #: What daytwo decided after a failed attempt (``RetryPolicy.should_retry``'s reason:
    #: ``retry``, ``not_retryable``, ``attempts``, ``deadline``, ``budget``, ``streamed``);
    #: None for the attempt that answered.
    decision: str | None = None
    #: The wait before the next attempt, milliseconds.
    delay_ms: float = 0.0
    input_tokens: int = 0
    output_tokens: int = 0
    cost_nanousd: int | None = None


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
    #: The provider's fingerprint of the serving system (OpenAI's ``system_fingerprint``; None
    #: where the wire format has none: Anthropic, Gemini, Bedrock). Stored as the ``calls``
    #: column ``system_fingerprint``.
    fingerprint: str | None = field(default=None, metadata={"column": "system_fingerprint"})
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
    # answered without an upstream call
    cache_status: CacheStatus | None = None
    #: What the answer would have cost from the upstream (cache hits and replays).
    saved_nanousd: int | None = None
    # the prompt that made the call (name, version, the label it was reached by, content hash)
    prompt_name: str | None = None
    prompt_version: int | None = None
    prompt_label: str | None = None
    prompt_hash: str | None = None
    #: The client's address as the gateway saw it (the TCP peer; no forwarded header is
    #: trusted), and the checkpoint (hash) of the effective config the call ran under.
    client_ip: str | None = None
    config_hash: str | None = None
    #: Answered in degraded mode: ``static`` (the switch's message), ``cached`` (the last good
    #: cached answer) or ``alias`` (by the safe alias); None for every other call.
    degraded: str | None = None
    #: The rollout that routed the call (daytwo.rollout) and the arm that served it:
    #: ``control`` or ``candidate`` (a shadow call is the candidate's, tagged ``shadow``).
    rollout_id: str | None = None
    rollout_arm: str | None = None
    #: Every upstream attempt, when there was more than one (not a ``calls`` column: the
    #: ledger stores them in ``attempts``).
    attempt_log: tuple[AttemptRecord, ...] = field(default=(), metadata={"column": False})
    #: What the audit trail keeps of the call beyond this record (its capture policy, content
    #: and the spend-control decisions), set by the pipeline before the record is submitted;
    #: None when the call is not audited. Not a column: the audit room writes it.
    audit: Any = field(default=None, metadata={"column": False})
