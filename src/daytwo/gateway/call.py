"""One call's state as it moves through the pipeline's stages (see pipeline.py), and the
spend-control subject it is counted under."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from daytwo.control.gate import SpendGate, Ticket
from daytwo.control.scopes import Subject
from daytwo.core.record import AttemptRecord, CacheStatus, CallStatus
from daytwo.core.types import Attribution, Cost, LLMRequest, Usage
from daytwo.gateway.runtime import Runtime
from daytwo.keys.model import KeyPrincipal
from daytwo.providers.base import Target
from daytwo.rollout.model import Rollout
from daytwo.state.base import SwitchRecord


@dataclass(slots=True)
class Call:
    """One call's state as it moves through the stages."""

    id: str
    trace_id: str
    started_at: float
    t0: float
    runtime: Runtime
    operation: str = "chat"
    alias: str = ""
    stream: bool = False
    request: LLMRequest | None = None
    attribution: Attribution = field(default_factory=Attribution)
    principal: KeyPrincipal | None = None
    target: Target | None = None
    attempts: int = 0
    served_model: str | None = None
    fingerprint: str | None = None
    upstream_request_id: str | None = None
    usage: Usage | None = None
    cost: Cost | None = None
    ttft_ms: float | None = None
    finished: bool = False
    #: Spend control: what the call holds (reservation, lease) and the gate that admitted it.
    ticket: Ticket | None = None
    gate: SpendGate | None = None
    #: Set (by a kill switch flipped while the call streams) to end the stream.
    killed: SwitchRecord | None = None
    #: The attempts that failed, and when the one that answered started (wall, perf clock).
    failed_attempts: list[AttemptRecord] = field(default_factory=list)
    answering_since: tuple[float, float] | None = None
    #: Answered without an upstream call (a cache hit, an idempotent replay), and what the
    #: answer cost when it was first produced.
    cache_status: CacheStatus | None = None
    saved_nanousd: int | None = None
    #: The recorded status, once :meth:`Pipeline.finish` ran.
    outcome: CallStatus | None = None
    #: For observers: the incoming ``traceparent``, the answer (non-streamed, or a stream's
    #: when assembled), its finish reasons and id.
    traceparent: str | None = None
    answer: dict[str, Any] | None = None
    finish_reasons: list[str] = field(default_factory=list)
    response_id: str | None = None
    #: The prompt the call named (stage 3): name, version, label it was reached by, hash.
    prompt: tuple[str, int, str | None, str] | None = None
    #: The client's address: the TCP peer (no forwarded header is trusted).
    client_ip: str | None = None
    #: Degraded mode (gateway/degrade.py): the switch, how the call was answered (``static``,
    #: ``cached``, ``alias``), and the answer itself when no upstream gives it.
    degraded: SwitchRecord | None = None
    degraded_as: str | None = None
    canned: dict[str, Any] | None = None
    #: The rollout that routed the call and the arm that serves it; ``mirror``: the rollout
    #: whose shadow stage mirrors this call to its candidate once answered.
    rollout: tuple[str, str] | None = None
    mirror: Rollout | None = None
    mirror_body: dict[str, Any] | None = None


def sticky_key(call: Call, sticky: str) -> str:
    """The value a rollout keeps a call's arm by (its session, user or key); the call id when
    the call has none (then not sticky)."""
    a = call.attribution
    if sticky == "session":
        value = a.session
    elif sticky == "user":
        value = a.user
    else:
        value = call.principal.key_id if call.principal is not None else None
    return value or call.id


def subject_of(call: Call) -> Subject:
    principal, target = call.principal, call.target
    return Subject.of(
        call.attribution,
        key=principal.key_id if principal else None,
        model=call.alias,
        provider=target.provider if target else None,
    )
