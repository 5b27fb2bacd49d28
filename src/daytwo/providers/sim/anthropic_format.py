"""The simulator's Anthropic encoder: engine answers → the Messages API wire format.

Shapes follow Anthropic's API as the official ``anthropic`` SDK parses it: a ``message`` object
(text and ``tool_use`` content blocks, ``stop_reason``, ``usage`` with the cache fields), and the
SSE stream ``message_start`` → ``content_block_start`` / ``ping`` / ``content_block_delta``
(``text_delta``, ``input_json_delta``) / ``content_block_stop`` per block → ``message_delta``
(``stop_reason``, cumulative ``output_tokens``) → ``message_stop``, each framed as
``event: <type>`` + ``data: <json>``. Errors are ``{"type": "error", "error": {"type",
"message"}}``; an overload is HTTP 529 ``overloaded_error``. Headers: ``request-id``,
``anthropic-ratelimit-*`` and, on a 429, ``retry-after``.

The engine is OpenAI-shaped: :func:`messages_exchange` translates the Anthropic request with
:func:`~daytwo.providers.anthropic_wire.openai_request_from_anthropic` first (so ``top_k`` is
accepted and ``output_config.format`` gives JSON valid against its schema, as the engine answers
``response_format``). Prompt caching and thinking are modelled in
:mod:`~daytwo.providers.sim.anthropic_plan`. ``POST /v1/messages/count_tokens`` answers the
input count a Messages call with the same body reports (:func:`count_exchange`).
"""

from __future__ import annotations

import os
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson

from daytwo.config.schema import SimSettings
from daytwo.core.errors import InvalidRequest
from daytwo.core.tokens import estimate_input_tokens
from daytwo.providers.anthropic_wire import STOP_REASONS, openai_request_from_anthropic
from daytwo.providers.sim.anthropic_plan import Plan, PromptCache, Thinking, plan
from daytwo.providers.sim.engine import Fault, SimChoice, SimEmbeddings, SimReply
from daytwo.providers.sim.exchange import Exchange, Headers, Simulator

_RPM_LIMIT = 4_000
_TPM_LIMIT = 2_000_000


class AnthropicFormat:
    """Encoder for Anthropic's Messages wire format (implements ``exchange.WireFormat``)."""

    #: The stream ends with a ``message_stop`` event, not a sentinel frame.
    end_frame: bytes | None = None

    def __init__(self, settings: SimSettings) -> None:
        self._retry_after_s = settings.faults.retry_after_s
        self._retry = str(settings.faults.retry_after_s).encode()
        self.seed = settings.seed
        self.cache = PromptCache()
        #: The plan of the request being answered. Set by :func:`messages_exchange` around the
        #: engine's call, which builds the whole exchange synchronously (no await in between),
        #: so concurrent requests never see each other's.
        self.plan = Plan()

    # ------------------------------------------------------------------ chat

    def completion(self, reply: SimReply) -> dict[str, Any]:
        c = reply.choices[0]
        content: list[dict[str, Any]] = []
        thinking = self.plan.thinking
        if thinking is not None:
            content.append(
                {"type": "thinking", "thinking": thinking.text, "signature": thinking.signature}
            )
        if c.pieces or not c.tool_calls:
            content.append({"type": "text", "text": c.text})
        for call in c.tool_calls:
            content.append(
                {
                    "type": "tool_use",
                    "id": _tool_id(call.id),
                    "name": call.name,
                    "input": _input(call.arguments),
                }
            )
        return {
            **_message_head(reply),
            "content": content,
            "stop_reason": _stop_reason(c),
            "usage": self.plan.usage(reply.input_tokens, c.tokens),
        }

    def chunks(self, reply: SimReply, *, include_usage: bool) -> list[tuple[int, dict[str, Any]]]:
        # Anthropic always reports usage in streams; ``include_usage`` (an OpenAI notion) is moot.
        c = reply.choices[0]
        start = {**_message_head(reply), "content": [], "stop_reason": None}
        usage = self.plan.usage(reply.input_tokens, c.tokens)
        start["usage"] = {**usage, "output_tokens": 1}
        start["usage"].pop("output_tokens_details", None)
        out: list[tuple[int, dict[str, Any]]] = [(0, {"type": "message_start", "message": start})]
        index = 0
        step = 0
        thinking = self.plan.thinking
        if thinking is not None:
            out.extend(_thinking_events(index, thinking))
            index += 1
        if c.pieces or not c.tool_calls:
            out.append((0, _block_start(index, {"type": "text", "text": ""})))
            out.append((0, {"type": "ping"}))
            for piece in c.pieces:
                out.append((step, _block_delta(index, {"type": "text_delta", "text": piece})))
                step += 1
            out.append((max(step - 1, 0), {"type": "content_block_stop", "index": index}))
            index += 1
        for call in c.tool_calls:
            block = {"type": "tool_use", "id": _tool_id(call.id), "name": call.name, "input": {}}
            begin = step
            out.append((step, _block_start(index, block)))
            out.append(
                (step, _block_delta(index, {"type": "input_json_delta", "partial_json": ""}))
            )
            for piece in call.pieces:
                delta = {"type": "input_json_delta", "partial_json": piece}
                out.append((step, _block_delta(index, delta)))
                step += 1
            out.append((max(step - 1, begin), {"type": "content_block_stop", "index": index}))
            index += 1
        last = max(reply.steps - 1, 0)
        stop = {"stop_reason": _stop_reason(c), "stop_sequence": None}
        # Cumulative counts; the input side is repeated, as the current API does.
        final = {k: v for k, v in usage.items() if k != "service_tier"}
        out.append((last, {"type": "message_delta", "delta": stop, "usage": final}))
        out.append((last, {"type": "message_stop"}))
        return out

    def frame(self, chunk: dict[str, Any]) -> bytes:
        return (
            b"event: " + str(chunk["type"]).encode() + b"\ndata: " + orjson.dumps(chunk) + b"\n\n"
        )

    def embeddings(self, emb: SimEmbeddings) -> dict[str, Any]:
        return self.error("Anthropic has no embeddings API.", type="not_found_error")

    # ---------------------------------------------------------------- errors

    def error(
        self, message: str, *, type: str, param: str | None = None, code: str | None = None
    ) -> dict[str, Any]:
        return {"type": "error", "error": {"type": type, "message": message}}

    def fault_error(self, fault: Fault, *, model: str) -> tuple[int, str, str, str | None]:
        if fault == "429":
            return (
                429,
                f"This request would exceed the rate limit for your organization of {_RPM_LIMIT} "
                f"requests per minute for {model}. Please retry after {self._retry_after_s}s. "
                "(simulated by daytwo sim)",
                "rate_limit_error",
                None,
            )
        if fault == "503":
            return 529, "Overloaded", "overloaded_error", None
        return 500, "Internal server error", "api_error", None

    # --------------------------------------------------------------- headers

    def headers(
        self, request_id: str, *, stream: bool, processing_ms: int, fault: Fault | None
    ) -> Headers:
        ctype = b"text/event-stream; charset=utf-8" if stream else b"application/json"
        limited = fault == "429"
        reset = datetime.now(UTC) + timedelta(seconds=self._retry_after_s if limited else 1)
        stamp = reset.strftime("%Y-%m-%dT%H:%M:%SZ").encode()
        out: Headers = [
            (b"content-type", ctype),
            (b"request-id", request_id.encode()),
            (b"anthropic-organization-id", b"daytwo-sim"),
            (b"anthropic-ratelimit-requests-limit", str(_RPM_LIMIT).encode()),
            (
                b"anthropic-ratelimit-requests-remaining",
                b"0" if limited else str(_RPM_LIMIT - 1).encode(),
            ),
            (b"anthropic-ratelimit-requests-reset", stamp),
            (b"anthropic-ratelimit-tokens-limit", str(_TPM_LIMIT).encode()),
            (b"anthropic-ratelimit-tokens-remaining", str(_TPM_LIMIT - 1000).encode()),
            (b"anthropic-ratelimit-tokens-reset", stamp),
        ]
        if limited:
            out.append((b"retry-after", self._retry))
        if stream:
            out.append((b"cache-control", b"no-cache"))
        return out

    def dumps(self, data: dict[str, Any]) -> bytes:
        return orjson.dumps(data)


def messages_exchange(sim: Simulator, fmt: AnthropicFormat, body: dict[str, Any]) -> Exchange:
    """An Anthropic Messages request body → the exchange ``sim`` (whose format is ``fmt``)
    plays."""
    try:
        # Blocks and server tools the engine has no use for (documents, web search) are
        # accepted and left out of the answer's making, as a model would use them unseen here.
        openai_body = openai_request_from_anthropic(body, skipped=[])
    except InvalidRequest as exc:
        return sim.invalid(exc)
    fmt.plan = planned = plan(body, fmt.cache, fmt.seed)
    if planned.thinking is not None:  # thinking is part of max_tokens: the text gets the rest
        openai_body["max_tokens"] = max(1, openai_body["max_tokens"] - planned.thinking.tokens)
    try:
        ex = sim.chat(openai_body)
    finally:
        fmt.plan = Plan()
    if ex.status == 200 and planned.prefix_key is not None:
        fmt.cache.add(planned.prefix_key)
    return ex


def count_exchange(sim: Simulator, body: dict[str, Any]) -> Exchange:
    """``/v1/messages/count_tokens``: the input a Messages call with this body reports (cache
    reads and writes included). Not a model call: no fault, no quota, no engine draw."""
    try:
        if not isinstance(body.get("messages"), list) or not body["messages"]:
            raise InvalidRequest("messages: Field required", param="messages")
        count = {**body, "max_tokens": 1, "stream": False}
        openai_body = openai_request_from_anthropic(count, skipped=[])
    except InvalidRequest as exc:
        return sim.invalid(exc)
    payload = {"input_tokens": estimate_input_tokens(openai_body)}
    rid = f"req_{os.urandom(16).hex()}"
    headers = sim.fmt.headers(rid, stream=False, processing_ms=0, fault=None)
    return Exchange(rid, 200, 0.0, headers, sim.fmt.dumps(payload), payload)


def _thinking_events(index: int, thinking: Thinking) -> list[tuple[int, dict[str, Any]]]:
    block = {"type": "thinking", "thinking": "", "signature": ""}
    out: list[tuple[int, dict[str, Any]]] = [(0, _block_start(index, block))]
    if thinking.shown:
        for piece in thinking.pieces:
            out.append((0, _block_delta(index, {"type": "thinking_delta", "thinking": piece})))
    signed = {"type": "signature_delta", "signature": thinking.signature}
    out.append((0, _block_delta(index, signed)))
    out.append((0, {"type": "content_block_stop", "index": index}))
    return out


def _stop_reason(c: SimChoice) -> str:
    # A refusal is Anthropic's ``refusal`` stop reason, the text so far in the content.
    return "refusal" if c.refusal is not None else STOP_REASONS[c.finish_reason]


def _message_head(reply: SimReply) -> dict[str, Any]:
    return {
        "id": "msg_" + reply.id.removeprefix("chatcmpl-"),
        "type": "message",
        "role": "assistant",
        "model": reply.model,
        "stop_sequence": None,
    }


def _tool_id(call_id: str) -> str:
    return "toolu_" + call_id.removeprefix("call_")


def _input(arguments: str) -> dict[str, Any]:
    # A call cut by max_tokens has partial JSON; Anthropic then sends what it parsed, here {}.
    try:
        value = orjson.loads(arguments)
    except orjson.JSONDecodeError:
        return {}
    return value if isinstance(value, dict) else {}


def _block_start(index: int, block: dict[str, Any]) -> dict[str, Any]:
    return {"type": "content_block_start", "index": index, "content_block": block}


def _block_delta(index: int, delta: dict[str, Any]) -> dict[str, Any]:
    return {"type": "content_block_delta", "index": index, "delta": delta}
