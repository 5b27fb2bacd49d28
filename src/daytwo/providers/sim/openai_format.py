"""The simulator's OpenAI encoder: engine answers → Chat Completions / Embeddings wire format.

Shapes follow OpenAI's API as the official ``openai`` SDK parses it: ``chat.completion``,
``chat.completion.chunk`` SSE events (a role chunk, one content or tool-call-argument delta per
token, a finish chunk, then -- when usage was asked for -- a ``choices: []`` usage chunk, with
``"usage": null`` on the chunks before it, then ``data: [DONE]``), the embeddings ``list`` (float
arrays or base64 little-endian float32), error bodies, and the ``x-request-id``,
``x-ratelimit-*``, ``openai-*`` and ``retry-after`` headers.

``model`` in answers is the model name asked for, unchanged (OpenAI would return the dated name it
served; the simulator keeps the name so reports stay predictable).
"""

from __future__ import annotations

import base64
import sys
from typing import Any

import orjson

from daytwo.config.schema import SimSettings
from daytwo.providers.sim.engine import Fault, SimChoice, SimEmbeddings, SimReply
from daytwo.providers.sim.exchange import Headers

#: What ``GET /v1/models`` lists (any model name is served, these are examples).
LISTED_MODELS = (
    "gpt-4o-mini",
    "gpt-4o",
    "gpt-4.1-mini",
    "text-embedding-3-small",
    "text-embedding-3-large",
)
_MODELS_CREATED = 1_700_000_000
_OWNER = "daytwo-sim"
_RPM_LIMIT = 10_000
_TPM_LIMIT = 10_000_000


class OpenAIFormat:
    """Encoder for OpenAI's wire format (implements ``exchange.WireFormat``)."""

    end_frame: bytes | None = b"data: [DONE]\n\n"

    def __init__(self, settings: SimSettings) -> None:
        retry = str(settings.faults.retry_after_s).encode()
        self._retry_after_s = settings.faults.retry_after_s
        base: Headers = [
            (b"openai-version", b"2020-10-01"),
            (b"openai-organization", _OWNER.encode()),
            (b"x-ratelimit-limit-requests", str(_RPM_LIMIT).encode()),
            (b"x-ratelimit-limit-tokens", str(_TPM_LIMIT).encode()),
        ]
        self._ok: Headers = [
            *base,
            (b"x-ratelimit-remaining-requests", str(_RPM_LIMIT - 1).encode()),
            (b"x-ratelimit-remaining-tokens", str(_TPM_LIMIT - 1000).encode()),
            (b"x-ratelimit-reset-requests", b"6ms"),
            (b"x-ratelimit-reset-tokens", b"6ms"),
        ]
        self._limited: Headers = [
            *base,
            (b"x-ratelimit-remaining-requests", b"0"),
            (b"x-ratelimit-remaining-tokens", str(_TPM_LIMIT - 1000).encode()),
            (b"x-ratelimit-reset-requests", retry + b"s"),
            (b"x-ratelimit-reset-tokens", b"6ms"),
            (b"retry-after", retry),
        ]

    # ------------------------------------------------------------------ chat

    def completion(self, reply: SimReply) -> dict[str, Any]:
        return {
            "id": reply.id,
            "object": "chat.completion",
            "created": reply.created,
            "model": reply.model,
            "choices": [
                {
                    "index": c.index,
                    "message": _message(c),
                    "logprobs": None,
                    "finish_reason": c.finish_reason,
                }
                for c in reply.choices
            ],
            "usage": usage_body(reply),
            "service_tier": "default",
            "system_fingerprint": reply.fingerprint,
        }

    def chunks(self, reply: SimReply, *, include_usage: bool) -> list[tuple[int, dict[str, Any]]]:
        head = {
            "id": reply.id,
            "object": "chat.completion.chunk",
            "created": reply.created,
            "model": reply.model,
            "service_tier": "default",
            "system_fingerprint": reply.fingerprint,
        }

        def chunk(choice: dict[str, Any]) -> dict[str, Any]:
            out = {**head, "choices": [choice]}
            if include_usage:
                out["usage"] = None
            return out

        out: list[tuple[int, dict[str, Any]]] = []
        for c in reply.choices:
            out.append((0, chunk(_delta(c.index, _role_delta(c)))))
        steps = reply.steps
        for step in range(steps):
            for c in reply.choices:
                delta = _token_delta(c, step)
                if delta is not None:
                    out.append((step, chunk(_delta(c.index, delta))))
        last = max(steps - 1, 0)
        for c in reply.choices:
            out.append((last, chunk(_delta(c.index, {}, c.finish_reason))))
        if include_usage:
            out.append((last, {**head, "choices": [], "usage": usage_body(reply)}))
        return out

    def frame(self, chunk: dict[str, Any]) -> bytes:
        return b"data: " + orjson.dumps(chunk) + b"\n\n"

    # ------------------------------------------------------------ embeddings

    def embeddings(self, emb: SimEmbeddings) -> dict[str, Any]:
        data = []
        for i, vec in enumerate(emb.vectors):
            value: Any
            if emb.base64:
                if sys.byteorder == "big":  # the wire is little-endian float32
                    vec = vec.__copy__()
                    vec.byteswap()
                value = base64.b64encode(vec.tobytes()).decode("ascii")
            else:
                value = vec.tolist()
            data.append({"object": "embedding", "index": i, "embedding": value})
        return {
            "object": "list",
            "data": data,
            "model": emb.model,
            "usage": {"prompt_tokens": emb.input_tokens, "total_tokens": emb.input_tokens},
        }

    # ---------------------------------------------------------------- errors

    def error(
        self, message: str, *, type: str, param: str | None = None, code: str | None = None
    ) -> dict[str, Any]:
        return {"error": {"message": message, "type": type, "param": param, "code": code}}

    def fault_error(self, fault: Fault, *, model: str) -> tuple[int, str, str, str | None]:
        if fault == "429":
            return (
                429,
                f"Rate limit reached for {model} in organization {_OWNER} on requests per min "
                f"(RPM): Limit {_RPM_LIMIT}, Used {_RPM_LIMIT}, Requested 1. Please try again in "
                f"{self._retry_after_s}s. (simulated by daytwo sim)",
                "rate_limit_error",
                "rate_limit_exceeded",
            )
        if fault == "503":
            return 503, "The server is overloaded or not ready yet.", "server_error", None
        return (
            500,
            "The server had an error while processing your request. Sorry about that!",
            "server_error",
            None,
        )

    # --------------------------------------------------------------- headers

    def headers(
        self, request_id: str, *, stream: bool, processing_ms: int, fault: Fault | None
    ) -> Headers:
        ctype = b"text/event-stream; charset=utf-8" if stream else b"application/json"
        out: Headers = [
            (b"content-type", ctype),
            (b"x-request-id", request_id.encode()),
            (b"openai-processing-ms", str(processing_ms).encode()),
        ]
        out.extend(self._limited if fault == "429" else self._ok)
        if stream:
            out.append((b"cache-control", b"no-cache"))
        return out

    def dumps(self, data: dict[str, Any]) -> bytes:
        return orjson.dumps(data)

    def models(self, names: tuple[str, ...] = LISTED_MODELS) -> dict[str, Any]:
        return {"object": "list", "data": [self.model(n) for n in names]}

    def model(self, name: str) -> dict[str, Any]:
        return {"id": name, "object": "model", "created": _MODELS_CREATED, "owned_by": _OWNER}


def usage_body(reply: SimReply) -> dict[str, Any]:
    out = reply.output_tokens
    return {
        "prompt_tokens": reply.input_tokens,
        "completion_tokens": out,
        "total_tokens": reply.input_tokens + out,
        "prompt_tokens_details": {"cached_tokens": 0, "audio_tokens": 0},
        "completion_tokens_details": {
            "reasoning_tokens": 0,
            "audio_tokens": 0,
            "accepted_prediction_tokens": 0,
            "rejected_prediction_tokens": 0,
        },
    }


def _message(c: SimChoice) -> dict[str, Any]:
    # A structured-outputs refusal is in ``refusal`` with no content; any other refusal is text.
    in_field = c.refusal == "field"
    msg: dict[str, Any] = {
        "role": "assistant",
        "content": None if c.tool_calls or in_field else c.text,
        "refusal": c.text if in_field else None,
        "annotations": [],
    }
    if c.tool_calls:
        msg["tool_calls"] = [
            {
                "id": call.id,
                "type": "function",
                "function": {"name": call.name, "arguments": call.arguments},
            }
            for call in c.tool_calls
        ]
    return msg


def _delta(index: int, delta: dict[str, Any], finish: str | None = None) -> dict[str, Any]:
    return {"index": index, "delta": delta, "logprobs": None, "finish_reason": finish}


def _role_delta(c: SimChoice) -> dict[str, Any]:
    if c.refusal == "field":
        return {"role": "assistant", "content": None, "refusal": ""}
    if not c.tool_calls:
        return {"role": "assistant", "content": "", "refusal": None}
    calls = [
        {
            "index": i,
            "id": call.id,
            "type": "function",
            "function": {"name": call.name, "arguments": ""},
        }
        for i, call in enumerate(c.tool_calls)
    ]
    return {"role": "assistant", "content": None, "tool_calls": calls, "refusal": None}


def _token_delta(c: SimChoice, step: int) -> dict[str, Any] | None:
    """The delta carrying token ``step`` of a choice: text pieces first, then each tool call's
    argument pieces in order."""
    if step < len(c.pieces):
        return {"refusal" if c.refusal == "field" else "content": c.pieces[step]}
    step -= len(c.pieces)
    for i, call in enumerate(c.tool_calls):
        if step < len(call.pieces):
            return {"tool_calls": [{"index": i, "function": {"arguments": call.pieces[step]}}]}
        step -= len(call.pieces)
    return None
