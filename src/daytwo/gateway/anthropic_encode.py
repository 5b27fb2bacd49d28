"""OpenAI-shaped answers → Anthropic's Messages wire format, for the ``/v1/messages`` door.

Pure functions and one per-call stream encoder; no I/O. Shapes follow Anthropic's API reference
(https://docs.claude.com/en/api/messages, .../en/docs/build-with-claude/streaming and
.../en/api/errors) as the official ``anthropic`` SDK parses them:

* a complete answer is a ``message`` object: ``text`` and ``tool_use`` content blocks (tool
  input as a parsed object), ``stop_reason``, ``stop_sequence`` and ``usage``;
* a stream is ``message_start`` → ``ping`` → per block ``content_block_start`` /
  ``content_block_delta`` (``text_delta``, ``input_json_delta``) / ``content_block_stop`` →
  ``message_delta`` (``stop_reason`` and cumulative ``usage``) → ``message_stop``, each framed
  ``event: <type>`` + ``data: <json>``; a failure after the first byte is an ``error`` event;
* usage: Anthropic's ``input_tokens`` *excludes* cache reads and writes, daytwo's
  :class:`~daytwo.core.types.Usage` includes them, so they are subtracted here, once;
* errors: ``{"type": "error", "error": {"type", "message"}}`` with Anthropic's status and type.
  An overloaded upstream (type ``overloaded_error``, or any upstream 503) is Anthropic's 529.

An Anthropic upstream's answer to a call that came in by this door is relayed as it came
(``LLMResponse.wire`` / ``StreamChunk.wire`` is ``anthropic``): nothing here re-encodes it.

The OpenAI upstreams never say *which* stop sequence matched; ``stop_sequence`` is filled only
when the upstream does (vLLM's ``choices[].stop_reason`` string).
"""

from __future__ import annotations

from typing import Any

import orjson

from daytwo.core.errors import DaytwoError, ProviderError, SpendControlError, UpstreamStatusError
from daytwo.core.ids import new_call_id
from daytwo.core.tokens import tokens_for_chars
from daytwo.core.types import LLMResponse, StreamChunk, Usage
from daytwo.gateway.openai_format import spend_fields
from daytwo.gateway.stream_encode import ChunkEncoder, first_choice, sse_event
from daytwo.providers.anthropic_native import WIRE
from daytwo.providers.anthropic_wire import STOP_REASONS

#: OpenAI ``finish_reason`` → Anthropic ``stop_reason``.
STOP_REASON = {**STOP_REASONS, "content_filter": "refusal", "function_call": "tool_use"}

#: The error types Anthropic documents; an upstream type among them is kept as it is.
ERROR_TYPES = frozenset(
    {
        "invalid_request_error", "authentication_error", "billing_error", "permission_error",
        "not_found_error", "request_too_large", "rate_limit_error", "timeout_error", "api_error",
        "overloaded_error",
    }
)  # fmt: skip
_TYPE_BY_STATUS = {
    400: "invalid_request_error",
    401: "authentication_error",
    402: "billing_error",
    403: "permission_error",
    404: "not_found_error",
    413: "request_too_large",
    429: "rate_limit_error",
    500: "api_error",
    504: "timeout_error",
    529: "overloaded_error",
}
OVERLOADED = 529


# ------------------------------------------------------------------------------ errors


def error_status(exc: DaytwoError) -> tuple[int, str]:
    """The HTTP status and Anthropic error ``type`` for any daytwo error."""
    status = exc.status_code()
    if isinstance(exc, ProviderError):
        upstream = exc.wire_type if isinstance(exc, UpstreamStatusError) else None
        # Anthropic clients know an overload as 529 (their SDK raises OverloadedError); the
        # Anthropic egress turned a 529 into a 503 for OpenAI clients, this turns it back.
        if status == 503 or upstream == "overloaded_error":
            return OVERLOADED, "overloaded_error"
        if upstream in ERROR_TYPES:
            return status, upstream
    kind = _TYPE_BY_STATUS.get(status)
    if kind is None:  # Anthropic uses invalid_request_error for other 4xx, api_error for 5xx
        kind = "api_error" if status >= 500 else "invalid_request_error"
    return status, kind


def error_object(exc: DaytwoError) -> dict[str, Any]:
    err: dict[str, Any] = {"type": error_status(exc)[1], "message": exc.message}
    if isinstance(exc, SpendControlError):
        # Anthropic's types are coarse (a budget refusal is a rate_limit_error to the SDK);
        # daytwo's own type and the refusal's facts ride along for apps that look.
        err["daytwo_type"] = exc.type
        err["code"] = exc.code
        err.update(spend_fields(exc))
    return {"type": "error", "error": err}


# ----------------------------------------------------------------------------- answers


def anthropic_usage(usage: Usage) -> dict[str, int]:
    """:class:`Usage` → Anthropic ``usage`` (``input_tokens`` without the cached parts)."""
    read, write = usage.cached_input_tokens, usage.cache_write_tokens
    return {
        "input_tokens": max(usage.input_tokens - read - write, 0),
        "cache_creation_input_tokens": write,
        "cache_read_input_tokens": read,
        "output_tokens": usage.output_tokens,
    }


def message_id(completion_id: Any) -> str:
    if isinstance(completion_id, str) and completion_id:
        if completion_id.startswith("msg_"):
            return completion_id
        return "msg_" + completion_id.removeprefix("chatcmpl-")
    return f"msg_{new_call_id()}"


def stop_of(choice: dict[str, Any]) -> tuple[str, str | None]:
    """A choice's ``(stop_reason, stop_sequence)``."""
    finish = choice.get("finish_reason")
    matched = choice.get("stop_reason")  # vLLM: the stop string that ended the answer
    if finish == "stop" and isinstance(matched, str) and matched:
        return "stop_sequence", matched
    reason = STOP_REASON.get(finish, "end_turn") if isinstance(finish, str) else "end_turn"
    return reason, None


def tool_input(arguments: Any) -> dict[str, Any]:
    # Anthropic sends tool input parsed. Arguments cut short by max_tokens do not parse; the
    # block then carries {} (the raw text is in no field Anthropic has).
    try:
        value = orjson.loads(arguments) if isinstance(arguments, str) and arguments else {}
    except orjson.JSONDecodeError:
        return {}
    return value if isinstance(value, dict) else {}


def message(resp: LLMResponse) -> dict[str, Any]:
    """A complete ``chat.completion`` → an Anthropic ``message`` object."""
    body = resp.body
    choice, msg = first_choice(body)
    text = msg.get("content") or msg.get("refusal") or ""
    calls = msg.get("tool_calls") or []
    content: list[dict[str, Any]] = []
    if text or not calls:
        content.append({"type": "text", "text": text if isinstance(text, str) else ""})
    for call in calls:
        fn = call.get("function") or {}
        content.append(
            {
                "type": "tool_use",
                "id": str(call.get("id", "")),
                "name": str(fn.get("name", "")),
                "input": tool_input(fn.get("arguments")),
            }
        )
    stop_reason, stop_sequence = stop_of(choice)
    return {
        "id": message_id(body.get("id")),
        "type": "message",
        "role": "assistant",
        "model": str(body.get("model") or resp.served_model or ""),
        "content": content,
        "stop_reason": stop_reason,
        "stop_sequence": stop_sequence,
        "usage": anthropic_usage(resp.usage),
    }


# ------------------------------------------------------------------------------ stream


_PING = sse_event({"type": "ping"})


class AnthropicStreamEncoder(ChunkEncoder):
    """``chat.completion.chunk`` dicts in, Anthropic SSE events out, for one call.

    ``input_estimate`` fills ``message_start``'s ``input_tokens``: an OpenAI-shaped upstream
    reports usage only at the end, so the exact count follows in ``message_delta`` (whose
    counts are cumulative and replace the start's, as Anthropic's SDK applies them).
    """

    def __init__(self, input_estimate: int) -> None:
        super().__init__()
        self._input_estimate = input_estimate
        self._blocks = 0  # content blocks started so far
        self._open: int | None = None  # index of the block not yet stopped
        self._text_block: int | None = None  # the open block when it is a text block
        self._tools: dict[int, int] = {}  # OpenAI tool call index → block index
        self._stop: tuple[str, str | None] | None = None
        #: Relaying an Anthropic upstream's own events (the whole stream comes from one).
        self._relay = False

    def chunk(self, chunk: StreamChunk) -> bytes:
        if chunk.wire == WIRE:
            self._relay = True
            return chunk.raw or b""
        return super().chunk(chunk)

    def _start(self, data: dict[str, Any]) -> bytes:
        self._started = True
        msg: dict[str, Any] = {
            "id": message_id(data.get("id")),
            "type": "message",
            "role": "assistant",
            "model": str(data.get("model") or ""),
            "content": [],
            "stop_reason": None,
            "stop_sequence": None,
            "usage": {
                "input_tokens": self._input_estimate,
                "cache_creation_input_tokens": 0,
                "cache_read_input_tokens": 0,
                "output_tokens": 0,
            },
        }
        return sse_event({"type": "message_start", "message": msg}) + _PING

    def _close(self) -> bytes:
        if self._open is None:
            return b""
        out = sse_event({"type": "content_block_stop", "index": self._open})
        self._open = self._text_block = None
        return out

    def _begin_block(self, block: dict[str, Any]) -> tuple[int, bytes]:
        out = self._close()
        index = self._open = self._blocks
        self._blocks += 1
        block_start = {"type": "content_block_start", "index": index, "content_block": block}
        return index, out + sse_event(block_start)

    def _text(self, text: str) -> bytes:
        out = b""
        if self._text_block is None:
            self._text_block, out = self._begin_block({"type": "text", "text": ""})
        delta = {"type": "text_delta", "text": text}
        block_delta = {"type": "content_block_delta", "index": self._text_block, "delta": delta}
        return out + sse_event(block_delta)

    def _tool(self, call: dict[str, Any]) -> bytes:
        out = b""
        n = call.get("index", 0)
        fn = call.get("function") or {}
        index = self._tools.get(n)
        if index is None:
            block = {
                "type": "tool_use",
                "id": str(call.get("id") or ""),
                "name": str(fn.get("name") or ""),
                "input": {},
            }
            index, out = self._begin_block(block)
            self._tools[n] = index
        args = fn.get("arguments")
        if isinstance(args, str) and args:
            # A late fragment of an earlier (already stopped) call still goes to its own block
            # index; the SDK accumulates by index. OpenAI streams calls one after the other.
            self._chars += len(args)
            delta = {"type": "input_json_delta", "partial_json": args}
            out += sse_event({"type": "content_block_delta", "index": index, "delta": delta})
        return out

    def _on_finish(self, choice: dict[str, Any]) -> None:
        self._stop = stop_of(choice)

    def end(self) -> bytes:
        if self._relay:  # the upstream's message_stop was relayed already
            return b""
        out = self._opening({})
        if self._blocks == 0:  # same shape as a complete answer: one (empty) text block
            out += self._begin_block({"type": "text", "text": ""})[1]
        out += self._close()
        stop_reason, stop_sequence = self._stop or ("end_turn", None)
        if self._usage is not None:
            usage: dict[str, int] = anthropic_usage(self._usage)
        else:  # no report from upstream: counted, as the ledger counts it
            usage = {"output_tokens": tokens_for_chars(self._chars)}
        delta = {"stop_reason": stop_reason, "stop_sequence": stop_sequence}
        out += sse_event({"type": "message_delta", "delta": delta, "usage": usage})
        return out + sse_event({"type": "message_stop"})

    def error(self, exc: DaytwoError) -> bytes:
        return sse_event(error_object(exc))
