"""OpenAI wire format at the gateway's edge: decode and check request bodies, encode errors.

Checks are deliberately hand-written and table-driven: they run on every request, must cost a few
microseconds, and must name the offending field the way OpenAI does
(``Invalid type for 'messages[0].role': expected a string, but got an integer instead.``).
Unknown fields pass through untouched to OpenAI-compatible upstreams.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import orjson

from daytwo.core.errors import (
    DaytwoError,
    InvalidRequest,
    SpendControlError,
    UpstreamStatusError,
)
from daytwo.core.money import nanos_to_usd
from daytwo.core.types import LLMRequest, json_type_name
from daytwo.gateway.rag_context import take_context

Check = Callable[[Any], bool]


def _is_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _is_num(v: Any) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool)


def _is_str(v: Any) -> bool:
    return isinstance(v, str)


def _is_bool(v: Any) -> bool:
    return isinstance(v, bool)


def _is_list(v: Any) -> bool:
    return isinstance(v, list)


def _is_obj(v: Any) -> bool:
    return isinstance(v, dict)


def _str_or_list(v: Any) -> bool:
    return isinstance(v, str | list)


def _str_or_obj(v: Any) -> bool:
    return isinstance(v, str | dict)


_EXPECT: dict[Check, str] = {
    _is_int: "an integer",
    _is_num: "a number",
    _is_str: "a string",
    _is_bool: "a boolean",
    _is_list: "an array",
    _is_obj: "an object",
    _str_or_list: "a string or an array",
    _str_or_obj: "a string or an object",
}

#: Optional top-level chat fields and their types (None is always allowed for these).
CHAT_FIELDS: dict[str, Check] = {
    "stream": _is_bool,
    "max_tokens": _is_int,
    "max_completion_tokens": _is_int,
    "n": _is_int,
    # not OpenAI's, but OpenAI-compatible servers (vLLM) generate `best_of` choices and bill them
    "best_of": _is_int,
    "temperature": _is_num,
    "top_p": _is_num,
    "presence_penalty": _is_num,
    "frequency_penalty": _is_num,
    "seed": _is_int,
    "stop": _str_or_list,
    "tools": _is_list,
    "tool_choice": _str_or_obj,
    "parallel_tool_calls": _is_bool,
    "response_format": _is_obj,
    "stream_options": _is_obj,
    "user": _is_str,
    "metadata": _is_obj,
    "logit_bias": _is_obj,
    "logprobs": _is_bool,
    "top_logprobs": _is_int,
}

EMBED_FIELDS: dict[str, Check] = {
    "encoding_format": _is_str,
    "dimensions": _is_int,
    "user": _is_str,
}

ROLES = frozenset({"system", "developer", "user", "assistant", "tool", "function"})


def _bad_type(param: str, check: Check, value: Any) -> InvalidRequest:
    got = json_type_name(value, article=True)
    return InvalidRequest(
        f"Invalid type for '{param}': expected {_EXPECT[check]}, but got {got} instead.",
        param=param,
        code="invalid_type",
    )


def _missing(param: str) -> InvalidRequest:
    return InvalidRequest(
        f"Missing required parameter: '{param}'.", param=param, code="missing_required_parameter"
    )


def decode_json(raw: bytes) -> dict[str, Any]:
    if not raw:
        raise InvalidRequest("The request body is empty; a JSON object was expected.")
    try:
        body = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise InvalidRequest(
            f"We could not parse the JSON body of your request: {exc.msg} at position {exc.pos}."
        ) from None
    if not isinstance(body, dict):
        got = json_type_name(body, article=True)
        raise InvalidRequest(f"The request body must be a JSON object, but got {got} instead.")
    return body


def _check_fields(body: dict[str, Any], fields: dict[str, Check]) -> None:
    for name, check in fields.items():
        value = body.get(name)
        if value is not None and not check(value):
            raise _bad_type(name, check, value)


def _model(body: dict[str, Any]) -> str:
    model = body.get("model")
    if model is None:
        raise _missing("model")
    if not isinstance(model, str):
        raise _bad_type("model", _is_str, model)
    if not model:
        raise InvalidRequest("Invalid 'model': empty string.", param="model")
    return model


def parse_chat(raw: bytes) -> LLMRequest:
    body = decode_json(raw)
    context = take_context(body)
    model = _model(body)
    messages = body.get("messages")
    if messages is None:
        raise _missing("messages")
    if not isinstance(messages, list):
        raise _bad_type("messages", _is_list, messages)
    if not messages and not model.startswith("prompt:"):  # a prompt may bring every message
        raise InvalidRequest(
            "Invalid 'messages': empty array. Expected an array with minimum length 1.",
            param="messages",
        )
    for i, msg in enumerate(messages):
        if not isinstance(msg, dict):
            raise _bad_type(f"messages[{i}]", _is_obj, msg)
        role = msg.get("role")
        if role is None:
            raise _missing(f"messages[{i}].role")
        if not isinstance(role, str):
            raise _bad_type(f"messages[{i}].role", _is_str, role)
        if role not in ROLES:
            raise InvalidRequest(
                f"Invalid value: '{role}'. Supported values are: 'system', 'developer', 'user', "
                "'assistant', 'tool' and 'function'.",
                param=f"messages[{i}].role",
                code="invalid_value",
            )
        content = msg.get("content")
        if content is not None and not isinstance(content, str | list):
            raise _bad_type(f"messages[{i}].content", _str_or_list, content)
        calls = msg.get("tool_calls")
        if calls is not None:
            _check_tool_calls(calls, f"messages[{i}].tool_calls")
    _check_fields(body, CHAT_FIELDS)
    for name in ("max_tokens", "max_completion_tokens", "n", "best_of"):
        value = body.get(name)
        if value is not None and value < (1 if name in ("n", "best_of") else 0):
            raise InvalidRequest(f"Invalid '{name}': must be positive.", param=name)
    stream = body.get("stream") is True
    return LLMRequest(operation="chat", model=model, body=body, stream=stream, context=context)


def _check_tool_calls(calls: Any, param: str) -> None:
    """An assistant message's ``tool_calls``: an array of objects whose ``function`` is an object
    with string ``name`` and ``arguments`` (as OpenAI checks them)."""
    if not isinstance(calls, list):
        raise _bad_type(param, _is_list, calls)
    for j, call in enumerate(calls):
        if not isinstance(call, dict):
            raise _bad_type(f"{param}[{j}]", _is_obj, call)
        fn = call.get("function")
        if fn is None:
            raise _missing(f"{param}[{j}].function")
        if not isinstance(fn, dict):
            raise _bad_type(f"{param}[{j}].function", _is_obj, fn)
        for key in ("name", "arguments"):
            value = fn.get(key)
            if value is not None and not isinstance(value, str):
                raise _bad_type(f"{param}[{j}].function.{key}", _is_str, value)


def parse_embeddings(raw: bytes) -> LLMRequest:
    body = decode_json(raw)
    model = _model(body)
    if "messages" in body:  # a chat body sent to the embeddings door
        raise InvalidRequest(
            "Unrecognized request argument supplied: messages. Embeddings take `input`.",
            param="messages",
            code="unknown_parameter",
        )
    inp = body.get("input")
    if inp is None:
        raise _missing("input")
    if not isinstance(inp, str | list):
        raise _bad_type("input", _str_or_list, inp)
    if isinstance(inp, list) and not inp:
        raise InvalidRequest("Invalid 'input': empty array.", param="input")
    _check_fields(body, EMBED_FIELDS)
    return LLMRequest(operation="embeddings", model=model, body=body)


def error_body(exc: DaytwoError) -> bytes:
    """The OpenAI error object for any daytwo error (spend-control refusals add which scope,
    the limit, what is committed and when it resets: see :func:`spend_fields`)."""
    err_type = exc.wire_type if isinstance(exc, UpstreamStatusError) else exc.type
    err: dict[str, Any] = {
        "message": exc.message,
        "type": err_type,
        "param": exc.param,
        "code": exc.code,
    }
    if isinstance(exc, SpendControlError):
        err.update(spend_fields(exc))
    return orjson.dumps({"error": err})


def spend_fields(exc: SpendControlError) -> dict[str, Any]:
    """Machine-readable facts of a refusal. Money is in USD (a decimal string, exact); tokens
    and requests are integers; ``resets_at`` is an epoch second (null: a person must act)."""
    usd = exc.unit == "nanousd"
    return {
        "scope": exc.scope,
        "unit": "usd" if usd else exc.unit,
        "limit": _amount(exc.limit, usd),
        "spend": _amount(exc.spend, usd),
        "resets_at": None if exc.reset_at is None else int(exc.reset_at),
    }


def _amount(value: int | None, usd: bool) -> Any:
    if value is None or not usd:
        return value
    return format(nanos_to_usd(value).normalize(), "f")


def error_event(exc: DaytwoError) -> bytes:
    """An error delivered inside an SSE stream (the openai SDK raises APIError on it)."""
    return b"data: " + error_body(exc) + b"\n\n"


DONE_EVENT = b"data: [DONE]\n\n"
