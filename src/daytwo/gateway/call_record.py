"""Stage 8's record: the one :class:`~daytwo.core.record.CallRecord` a finished call leaves in
the ledger, with its attempt log when it took more than one attempt."""

from __future__ import annotations

import time

from daytwo.core.record import AttemptRecord, CallRecord, CallStatus
from daytwo.core.types import Usage
from daytwo.gateway.call import Call


def call_record(
    call: Call,
    status: CallStatus,
    http_status: int,
    err_class: str | None,
    err_msg: str | None,
) -> CallRecord:
    """What the ledger keeps of ``call`` (settled: its cost is known), ending now."""
    ended = time.time()
    usage = call.usage or Usage()
    cost = call.cost
    attr = call.attribution
    target = call.target
    attempt_log: tuple[AttemptRecord, ...] = ()
    if call.attempts > 1:
        attempt_log = tuple(call.failed_attempts)
        if call.answering_since is not None and target is not None:
            since, t_try = call.answering_since
            attempt_log += (
                AttemptRecord(
                    n=call.attempts,
                    started_at=since,
                    latency_ms=(time.perf_counter() - t_try) * 1000,
                    provider=target.provider,
                    deployment=target.deployment,
                    model=target.model,
                    outcome="ok"
                    if status == "ok"
                    else "cancelled"
                    if status == "cancelled"
                    else "error",
                    error_class=err_class,
                    input_tokens=usage.input_tokens,
                    output_tokens=usage.output_tokens,
                    cost_nanousd=cost.nanousd if cost else None,
                ),
            )
    record = CallRecord(
        id=call.id,
        started_at=call.started_at,
        ended_at=ended,
        latency_ms=(time.perf_counter() - call.t0) * 1000,
        status=status,
        http_status=http_status,
        operation=call.operation,
        alias=call.alias,
        trace_id=call.trace_id,
        ttft_ms=call.ttft_ms,
        error_class=err_class,
        error_message=err_msg,
        stream=call.stream,
        project=attr.project,
        workflow=attr.workflow,
        feature=attr.feature,
        agent=attr.agent,
        session=attr.session,
        user=attr.user,
        environment=attr.environment,
        tags=attr.tags,
        attributed=attr.attributed,
        key_id=call.principal.key_id if call.principal else None,
        provider=target.provider if target else None,
        deployment=target.deployment if target else None,
        served_model=call.served_model,
        fingerprint=call.fingerprint,
        attempts=call.attempts,
        upstream_request_id=call.upstream_request_id,
        input_tokens=usage.input_tokens,
        output_tokens=usage.output_tokens,
        cached_input_tokens=usage.cached_input_tokens,
        cache_write_tokens=usage.cache_write_tokens,
        reasoning_tokens=usage.reasoning_tokens,
        tokens_estimated=usage.estimated,
        cost_nanousd=cost.nanousd if cost else None,
        price_ref=cost.price_ref if cost else None,
        cache_status=call.cache_status,
        saved_nanousd=call.saved_nanousd,
        client_ip=call.client_ip,
        config_hash=call.runtime.config_hash,
        degraded=call.degraded_as,
        rollout_id=call.rollout[0] if call.rollout else None,
        rollout_arm=call.rollout[1] if call.rollout else None,
        attempt_log=attempt_log,
    )
    if call.prompt is not None:
        (
            record.prompt_name,
            record.prompt_version,
            record.prompt_label,
            record.prompt_hash,
        ) = call.prompt
    return record
