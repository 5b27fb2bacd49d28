"""``POST /v1/messages/count_tokens``: Anthropic's token counting (the SDK's
``messages.count_tokens``, LangChain's ``get_num_tokens_from_messages``).

The answer is ``{"input_tokens": n}``. When the model's first deployment (after the routing
rules a real call would meet: a key's model list, tiers, fields only Anthropic honours) is an
Anthropic upstream, ``n`` is the upstream's own count, forwarded to its
``/v1/messages/count_tokens`` -- exact. Otherwise ``n`` is daytwo's estimate
(:func:`daytwo.core.tokens.estimate_input_tokens`, the count spend control reserves on). The
``x-daytwo-token-count`` header says which: ``upstream`` or ``estimate``. An Anthropic upstream
that cannot count right now (unreachable, overloaded, rate-limited: what a call would retry)
gets the estimate too; one that refuses the body (a 4xx) is answered with its error.

A count is not a model call: it spends nothing, so it writes no ledger row and meets no budget,
rate limit or kill switch. It is authenticated as ``/v1/messages`` is (``x-api-key`` or bearer),
and a key limited to some models may count only for those. Errors are Anthropic-shaped.
"""

from __future__ import annotations

from daytwo.core.errors import DaytwoError, ProviderError
from daytwo.core.tokens import estimate_input_tokens
from daytwo.core.types import LLMRequest
from daytwo.gateway.anthropic_ingress import ANTHROPIC_MESSAGES, parse_count_tokens
from daytwo.gateway.http import JSON_HEADERS, Receive, Scope, Send, read_body, send_bytes
from daytwo.gateway.pipeline import Call, Pipeline
from daytwo.providers.anthropic import AnthropicAdapter
from daytwo.providers.guard import guarded, unguarded
from daytwo.resilience.policy import is_retryable

#: The answer header that says where the count came from.
SOURCE_HEADER = b"x-daytwo-token-count"


async def count_tokens(
    pipeline: Pipeline, max_body_bytes: int, scope: Scope, receive: Receive, send: Send
) -> None:
    headers = dict(scope["headers"])
    call = pipeline.open("count_tokens")
    try:
        await pipeline.identify(call, headers)  # as /v1/messages: a new key works at once
        raw = await read_body(receive, headers, max_body_bytes)
        req = parse_count_tokens(raw, headers)
        count, source = await _count(pipeline, call, req, headers)
    except DaytwoError as exc:
        status, body = ANTHROPIC_MESSAGES.error(exc)
        extra = [(k.encode(), v.encode()) for k, v in exc.wire_headers().items()]
        await send_bytes(send, status, body, [*JSON_HEADERS, *extra])
        return
    finally:
        call.runtime.release()  # opened for authentication and routing only: no record
    body = b'{"input_tokens":%d}' % count
    await send_bytes(send, 200, body, [*JSON_HEADERS, (SOURCE_HEADER, source)])


async def _count(
    pipeline: Pipeline, call: Call, req: LLMRequest, headers: dict[bytes, bytes]
) -> tuple[int, bytes]:
    route = pipeline.begin(call, req, headers)
    target = route.targets[0]
    adapter = call.runtime.adapters[target.provider]
    inner = unguarded(adapter)  # adapters sit behind providers/guard.py
    if isinstance(inner, AnthropicAdapter):
        try:
            return await guarded(adapter, inner.count_tokens(req, target)), b"upstream"
        except ProviderError as exc:
            if not is_retryable(exc):  # the upstream refused the body: the client should know
                raise
            # Unreachable, overloaded or rate-limited: a count is advice, the estimate will do
            # (and the header says it is one).
    return estimate_input_tokens(req.body), b"estimate"
