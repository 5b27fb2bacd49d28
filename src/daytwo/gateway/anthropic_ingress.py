"""The Anthropic Messages door (``POST /v1/messages``): Anthropic clients, any upstream.

Requests are checked the way Anthropic checks them (a 400 ``invalid_request_error`` whose
message names the field, ``max_tokens: Field required``), then translated into the normalized
OpenAI Chat body by :func:`daytwo.providers.anthropic_wire.openai_request_from_anthropic` -- the
same translation the simulator's ``/v1/messages`` uses. Answers, streams and errors are encoded
by :mod:`daytwo.gateway.anthropic_encode`.

The key may come as ``x-api-key`` (what the Anthropic SDK sends); the pipeline reads it when
there is no ``Authorization: Bearer``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import orjson

from daytwo.core.errors import DaytwoError, InvalidRequest
from daytwo.core.tokens import estimate_input_tokens
from daytwo.core.types import LLMRequest, LLMResponse
from daytwo.gateway.anthropic_encode import AnthropicStreamEncoder, error_object, error_status
from daytwo.gateway.anthropic_encode import message as encode_message
from daytwo.gateway.ingress import StreamEncoder
from daytwo.gateway.openai_format import decode_json
from daytwo.providers.anthropic_wire import openai_request_from_anthropic


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
}


def _bad(param: str, problem: str) -> InvalidRequest:
    return InvalidRequest(f"{param}: {problem}", param=param)


def _required(body: dict[str, Any], name: str) -> Any:
    value = body.get(name)
    if value is None:
        raise _bad(name, "Field required")
    return value


def _check(body: dict[str, Any]) -> None:
    model = _required(body, "model")
    if not isinstance(model, str) or not model:
        raise _bad("model", "Input should be a valid string")
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


def parse_messages(raw: bytes) -> LLMRequest:
    """A Messages request body → the normalized request (raises :class:`InvalidRequest`)."""
    body = decode_json(raw)
    _check(body)
    chat = openai_request_from_anthropic(body)
    return LLMRequest(
        operation="chat", model=body["model"], body=chat, stream=chat.get("stream") is True
    )


class AnthropicMessagesIngress:
    """Anthropic Messages (``POST /v1/messages``)."""

    name = "anthropic"

    def parse(self, raw: bytes) -> LLMRequest:
        return parse_messages(raw)

    def response(self, resp: LLMResponse, req: LLMRequest | None = None) -> bytes:
        return orjson.dumps(encode_message(resp))

    def stream(self, req: LLMRequest) -> StreamEncoder:
        return AnthropicStreamEncoder(estimate_input_tokens(req.body))

    def error(self, exc: DaytwoError) -> tuple[int, bytes]:
        return error_status(exc)[0], orjson.dumps(error_object(exc))


ANTHROPIC_MESSAGES = AnthropicMessagesIngress()
