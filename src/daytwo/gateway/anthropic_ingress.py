"""The Anthropic Messages door (``POST /v1/messages``): Anthropic clients, any upstream.

Requests are checked the way Anthropic checks them (a 400 ``invalid_request_error`` whose
message names the field, ``max_tokens: Field required``), then translated into the normalized
OpenAI Chat body by :func:`daytwo.providers.anthropic_wire.openai_request_from_anthropic` -- the
same translation the simulator's ``/v1/messages`` uses. Answers, streams and errors are encoded
by :mod:`daytwo.gateway.anthropic_encode`.

The key may come as ``x-api-key`` (what the Anthropic SDK sends); the pipeline reads it when
there is no ``Authorization: Bearer``.

The client's body is also kept as it came (a :class:`~daytwo.core.types.NativeRequest`, with its
``anthropic-beta`` flags): an Anthropic upstream gets it nearly unchanged and its answer comes
back untranslated (:mod:`daytwo.providers.anthropic_native`), so ``cache_control``,
``thinking``, ``output_config`` and ``top_k`` work as they do direct. Fields only an Anthropic
upstream can honour (:func:`anthropic_only`) restrict routing to Anthropic deployments.
``output_config.format`` is translated for the others (OpenAI's ``response_format``).

``POST /v1/messages/count_tokens`` bodies are checked here too (:func:`parse_count_tokens`).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import orjson

from daytwo.core.errors import DaytwoError, InvalidRequest
from daytwo.core.tokens import estimate_input_tokens
from daytwo.core.types import LLMRequest, LLMResponse, NativeRequest
from daytwo.gateway.anthropic_encode import AnthropicStreamEncoder, error_object, error_status
from daytwo.gateway.anthropic_encode import message as encode_message
from daytwo.gateway.ingress import StreamEncoder
from daytwo.gateway.openai_format import decode_json
from daytwo.gateway.rag_context import take_context
from daytwo.providers.anthropic_native import WIRE
from daytwo.providers.anthropic_wire import openai_request_from_anthropic, output_schema


def _number(v: Any) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool)


def _integer(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _text_or_blocks(v: Any) -> bool:
    return isinstance(v, str | list)


def _strings(v: Any) -> bool:
    return isinstance(v, list) and all(isinstance(s, str) for s in v)


#: Optional top-level fields: (check, what Anthropic says it expected).
_FIELDS: dict[str, tuple[Callable[[Any], bool], str]] = {
    "system": (_text_or_blocks, "a valid string or a list of text blocks"),
    "stream": (lambda v: isinstance(v, bool), "a valid boolean"),
    "temperature": (_number, "a valid number"),
    "top_p": (_number, "a valid number"),
    "top_k": (_integer, "a valid integer"),
    "stop_sequences": (_strings, "a valid list of strings"),
    "tools": (lambda v: isinstance(v, list), "a valid list"),
    "tool_choice": (lambda v: isinstance(v, dict), "a valid dictionary"),
    "metadata": (lambda v: isinstance(v, dict), "a valid dictionary"),
    "thinking": (lambda v: isinstance(v, dict), "a valid dictionary"),
    "output_config": (lambda v: isinstance(v, dict), "a valid dictionary"),
    "cache_control": (lambda v: isinstance(v, dict), "a valid dictionary"),
}
_THINKING_TYPES = ("enabled", "disabled", "adaptive", "between_tools")
_EFFORTS = ("low", "medium", "high", "xhigh", "max")
#: Anthropic's smallest thinking budget.
MIN_THINKING_BUDGET = 1024
BETA_HEADER = b"anthropic-beta"


def _bad(param: str, problem: str) -> InvalidRequest:
    return InvalidRequest(f"{param}: {problem}", param=param)


def _required(body: dict[str, Any], name: str) -> Any:
    value = body.get(name)
    if value is None:
        raise _bad(name, "Field required")
    return value


def _check(body: dict[str, Any], *, counting: bool = False) -> None:
    model = _required(body, "model")
    if not isinstance(model, str) or not model:
        raise _bad("model", "Input should be a valid string")
    limit: int | None = None
    if not counting:  # a token count has no max_tokens
        limit = _required(body, "max_tokens")
        if not _integer(limit):
            raise _bad("max_tokens", "Input should be a valid integer")
        if limit < 1:
            raise _bad("max_tokens", "Input should be greater than or equal to 1")
    messages = _required(body, "messages")
    if not isinstance(messages, list):
        raise _bad("messages", "Input should be a valid list")
    if not messages:
        raise _bad("messages", "at least one message is required")
    for i, msg in enumerate(messages):
        if not isinstance(msg, dict):
            raise _bad(f"messages.{i}", "Input should be a valid dictionary")
        if msg.get("role") not in ("user", "assistant"):
            raise _bad(f"messages.{i}.role", "Input should be 'user' or 'assistant'")
        if not _text_or_blocks(msg.get("content")):
            raise _bad(f"messages.{i}.content", "Input should be a valid string or list")
    for name, (check, expected) in _FIELDS.items():
        value = body.get(name)
        if value is not None and not check(value):
            raise _bad(name, f"Input should be {expected}")
    _check_thinking(body.get("thinking"), limit)
    config = body.get("output_config")
    if config is not None:
        output_schema(config)
        effort = config.get("effort")
        if effort is not None and effort not in _EFFORTS:
            allowed = ", ".join(f"'{e}'" for e in _EFFORTS)
            raise _bad("output_config.effort", f"Input should be {allowed}")


def _check_thinking(thinking: Any, limit: int | None) -> None:
    if thinking is None:
        return
    kind = thinking.get("type")
    if kind not in _THINKING_TYPES:
        allowed = ", ".join(f"'{t}'" for t in _THINKING_TYPES)
        raise _bad("thinking.type", f"Input should be {allowed}")
    if kind != "enabled":
        return
    budget = thinking.get("budget_tokens")
    if budget is None:
        raise _bad("thinking.budget_tokens", "Field required")
    if not _integer(budget):
        raise _bad("thinking.budget_tokens", "Input should be a valid integer")
    if budget < MIN_THINKING_BUDGET:
        least = f"Input should be greater than or equal to {MIN_THINKING_BUDGET}"
        raise _bad("thinking.budget_tokens", least)
    if limit is not None and budget >= limit:
        raise _bad("thinking.budget_tokens", "must be less than max_tokens")


def anthropic_only(body: dict[str, Any], untranslated: Sequence[str] = ()) -> str | None:
    """The first field of a Messages body that only an Anthropic upstream can honour: thinking
    (other than ``disabled``), ``output_config.effort``, and the content blocks and tools the
    translation left out (``untranslated``: ``document`` blocks, server tools, ...). Everything
    else translates, or -- ``cache_control``, ``top_k`` -- is a hint the other upstreams go
    without (docs/providers.md)."""
    thinking = body.get("thinking")
    if isinstance(thinking, dict) and thinking.get("type") != "disabled":
        return "thinking"
    config = body.get("output_config")
    if isinstance(config, dict) and config.get("effort") is not None:
        return "output_config.effort"
    return untranslated[0] if untranslated else None


def _beta(headers: Mapping[bytes, bytes] | None) -> tuple[str, ...]:
    raw = headers.get(BETA_HEADER) if headers is not None else None
    if not raw:
        return ()
    return tuple(f for f in (p.strip() for p in raw.decode("latin-1").split(",")) if f)


def parse_messages(raw: bytes, headers: Mapping[bytes, bytes] | None = None) -> LLMRequest:
    """A Messages request body → the normalized request, the client's body kept beside it
    (raises :class:`InvalidRequest`)."""
    body = decode_json(raw)
    context = take_context(body)  # before the body is translated or kept as the native one
    _check(body)
    untranslated: list[str] = []
    chat = openai_request_from_anthropic(body, skipped=untranslated)
    native = NativeRequest(WIRE, body, _beta(headers), anthropic_only(body, untranslated))
    return LLMRequest(
        operation="chat",
        model=body["model"],
        body=chat,
        stream=chat.get("stream") is True,
        native=native,
        context=context,
    )


def parse_count_tokens(raw: bytes, headers: Mapping[bytes, bytes] | None = None) -> LLMRequest:
    """A ``/v1/messages/count_tokens`` body (a Messages body without ``max_tokens``) → the
    normalized request whose input is to be counted."""
    body = decode_json(raw)
    take_context(body)  # checked and dropped: counting has no evaluators
    _check(body, counting=True)
    # The translation wants an output cap; any will do for counting the input.
    untranslated: list[str] = []
    chat = openai_request_from_anthropic(
        {**body, "max_tokens": 1, "stream": False}, skipped=untranslated
    )
    native = NativeRequest(WIRE, body, _beta(headers), anthropic_only(body, untranslated))
    return LLMRequest(operation="chat", model=body["model"], body=chat, native=native)


class AnthropicMessagesIngress:
    """Anthropic Messages (``POST /v1/messages``)."""

    name = "anthropic"
    request_id_header = b"request-id"

    def parse(self, raw: bytes, headers: Mapping[bytes, bytes] | None = None) -> LLMRequest:
        return parse_messages(raw, headers)

    def response(self, resp: LLMResponse, req: LLMRequest | None = None) -> bytes:
        if resp.raw is not None and resp.wire == WIRE:  # an Anthropic upstream's own answer
            return resp.raw
        return orjson.dumps(encode_message(resp))

    def stream(self, req: LLMRequest) -> StreamEncoder:
        return AnthropicStreamEncoder(estimate_input_tokens(req.body))

    def error(self, exc: DaytwoError) -> tuple[int, bytes]:
        return error_status(exc)[0], orjson.dumps(error_object(exc))


ANTHROPIC_MESSAGES = AnthropicMessagesIngress()
