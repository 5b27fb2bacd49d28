"""The OpenAI Responses door (``POST /v1/responses``), stateless: any upstream.

A Responses request is translated into the normalized OpenAI Chat body (field names from the
API reference, https://platform.openai.com/docs/api-reference/responses/create):

* ``instructions`` → a leading ``system`` message; ``input`` (a string, or items: messages with
  ``input_text`` / ``input_image`` parts, replayed assistant messages, ``function_call`` and
  ``function_call_output`` items) → ``messages``; ``reasoning`` items are not replayed;
* function ``tools`` (flat: ``name``, ``parameters`` at the top) → Chat's nested
  ``function`` shape; ``tool_choice`` likewise; ``text.format`` → ``response_format``;
  ``max_output_tokens`` → ``max_completion_tokens``; ``reasoning.effort`` →
  ``reasoning_effort``; temperature, top_p, parallel_tool_calls, metadata and user pass on.

daytwo keeps no responses, so what needs OpenAI's stored state answers a 400 naming the field:
``previous_response_id``, ``conversation``, ``prompt``, ``background: true``, item references,
file ids and the hosted tools (web search, file search, ...). ``store`` is accepted and every
response says ``"store": false``. Errors are OpenAI's JSON, as on ``/v1/chat/completions``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import orjson

from daytwo.core.errors import DaytwoError, InvalidRequest
from daytwo.core.tokens import estimate_input_tokens
from daytwo.core.types import LLMRequest, LLMResponse
from daytwo.gateway import openai_format as oai
from daytwo.gateway.ingress import StreamEncoder
from daytwo.gateway.rag_context import take_context
from daytwo.gateway.responses_encode import ResponsesStreamEncoder, default_echo
from daytwo.gateway.responses_encode import response as encode_response

#: Optional top-level fields and their types (None is always allowed).
FIELDS: dict[str, oai.Check] = {
    "instructions": oai._is_str,
    "stream": oai._is_bool,
    "store": oai._is_bool,
    "background": oai._is_bool,
    "max_output_tokens": oai._is_int,
    "temperature": oai._is_num,
    "top_p": oai._is_num,
    "tools": oai._is_list,
    "tool_choice": oai._str_or_obj,
    "parallel_tool_calls": oai._is_bool,
    "text": oai._is_obj,
    "reasoning": oai._is_obj,
    "metadata": oai._is_obj,
    "user": oai._is_str,
    "include": oai._is_list,
    "truncation": oai._is_str,
}

#: Features that live in OpenAI's stored state: refused, never silently ignored.
STATEFUL = {
    "previous_response_id": "responses are not stored here; send the whole conversation in `input`",
    "conversation": "conversations are not stored here; send the whole conversation in `input`",
    "prompt": "stored prompt templates are not available here; send `instructions` and `input`",
}

#: Settings Chat Completions takes under the same name.
_SAME = ("temperature", "top_p", "parallel_tool_calls", "metadata", "user")
_ROLES = frozenset({"user", "assistant", "system", "developer"})
_DETAILS = frozenset({"auto", "low", "high"})
_ASSISTANT_PARTS = ("output_text", "input_text", "refusal")
#: Request settings a response echoes as they were given.
_ECHOED = (
    "instructions", "max_output_tokens", "user", "truncation", "tool_choice", "metadata", "tools",
    "temperature", "top_p", "parallel_tool_calls",
)  # fmt: skip


@dataclass(slots=True)
class ResponsesRequest(LLMRequest):
    """The normalized request plus the settings the ``response`` object echoes back."""

    echo: dict[str, Any] = field(default_factory=default_echo)


def _bad(message: str, param: str, code: str | None = None) -> InvalidRequest:
    return InvalidRequest(message, param=param, code=code)


def _unsupported(param: str, why: str) -> InvalidRequest:
    message = f"'{param}' is not supported by this gateway: {why}."
    return _bad(message, param, "unsupported_parameter")


# ------------------------------------------------------------------------------- input


def _text_parts(content: Any, param: str, kinds: tuple[str, ...]) -> str:
    """Text from a string or from parts of the given ``kinds`` (other parts are refused)."""
    if isinstance(content, str):
        return content
    if not isinstance(content, list):
        raise oai._bad_type(param, oai._str_or_list, content)
    texts = []
    for j, part in enumerate(content):
        kind = part.get("type") if isinstance(part, dict) else None
        if kind not in kinds:
            raise _bad(f"Invalid content part type {kind!r} here.", f"{param}[{j}].type")
        texts.append(str(part.get("text") if kind != "refusal" else part.get("refusal")))
    return "".join(texts)


def _image(part: dict[str, Any], param: str) -> dict[str, Any]:
    url = part.get("image_url")
    if part.get("file_id") is not None and url is None:
        raise _unsupported(f"{param}.file_id", "uploaded files are not available here")
    if not isinstance(url, str) or not url:
        raise oai._missing(f"{param}.image_url")
    spec: dict[str, Any] = {"url": url}
    if part.get("detail") in _DETAILS:
        spec["detail"] = part["detail"]
    return {"type": "image_url", "image_url": spec}


def _user_content(content: Any, param: str) -> Any:
    if isinstance(content, str):
        return content
    if not isinstance(content, list):
        raise oai._bad_type(param, oai._str_or_list, content)
    parts: list[dict[str, Any]] = []
    for j, part in enumerate(content):
        kind = part.get("type") if isinstance(part, dict) else None
        if kind == "input_text":
            parts.append({"type": "text", "text": str(part.get("text", ""))})
        elif kind == "input_image":
            parts.append(_image(part, f"{param}[{j}]"))
        elif kind == "input_file":
            raise _unsupported(f"{param}[{j}]", "file inputs are not translated to Chat")
        else:
            raise _bad(
                f"Invalid value: {kind!r}. Supported values are: 'input_text' and 'input_image'.",
                f"{param}[{j}].type",
                "invalid_value",
            )
    return parts


def _assistant(messages: list[dict[str, Any]]) -> dict[str, Any]:
    """The assistant message the next output item joins (a new one unless the last is one)."""
    if messages and messages[-1]["role"] == "assistant":
        return messages[-1]
    msg: dict[str, Any] = {"role": "assistant", "content": None}
    messages.append(msg)
    return msg


def _item(item: Any, i: int, messages: list[dict[str, Any]]) -> None:
    param = f"input[{i}]"
    if not isinstance(item, dict):
        raise oai._bad_type(param, oai._is_obj, item)
    kind = item.get("type", "message" if "role" in item else None)
    if kind == "message":
        role = item.get("role")
        if role not in _ROLES:
            raise _bad(
                f"Invalid value: {role!r}. Supported values are: 'user', 'assistant', 'system' "
                "and 'developer'.",
                f"{param}.role",
                "invalid_value",
            )
        content = item.get("content")
        if role == "assistant":
            text = _text_parts(content, f"{param}.content", _ASSISTANT_PARTS)
            msg = _assistant(messages)
            msg["content"] = (msg["content"] or "") + text
        elif role == "user":
            messages.append({"role": "user", "content": _user_content(content, f"{param}.content")})
        else:
            text = _text_parts(content, f"{param}.content", ("input_text",))
            messages.append({"role": role, "content": text})
    elif kind == "function_call":
        call_id, name, args = item.get("call_id"), item.get("name"), item.get("arguments")
        for key, value in (("call_id", call_id), ("name", name), ("arguments", args)):
            if value is None:
                raise oai._missing(f"{param}.{key}")
            if not isinstance(value, str):
                raise oai._bad_type(f"{param}.{key}", oai._is_str, value)
        call = {"id": call_id, "type": "function", "function": {"name": name, "arguments": args}}
        _assistant(messages).setdefault("tool_calls", []).append(call)
    elif kind == "function_call_output":
        call_id = item.get("call_id")
        if not isinstance(call_id, str):
            raise oai._missing(f"{param}.call_id")
        output = _text_parts(item.get("output"), f"{param}.output", ("input_text",))
        messages.append({"role": "tool", "tool_call_id": call_id, "content": output})
    elif kind == "reasoning":
        return  # reasoning is not replayed to a Chat-shaped upstream
    elif kind == "item_reference":
        raise _unsupported(f"{param}", "items are not stored here; send the item itself")
    else:
        raise _bad(
            f"Input item type {kind!r} is not supported by this gateway (supported: message, "
            "function_call, function_call_output).",
            f"{param}.type",
            "unsupported_value",
        )


def _messages(body: dict[str, Any]) -> list[dict[str, Any]]:
    messages: list[dict[str, Any]] = []
    instructions = body.get("instructions")
    if instructions:
        messages.append({"role": "system", "content": instructions})
    inp = body.get("input")
    if inp is None:
        raise oai._missing("input")
    if isinstance(inp, str):
        messages.append({"role": "user", "content": inp})
    elif isinstance(inp, list):
        for i, item in enumerate(inp):
            _item(item, i, messages)
    else:
        raise oai._bad_type("input", oai._str_or_list, inp)
    if not messages:
        raise _bad("Invalid 'input': empty array.", "input", "empty_array")
    return messages


# ----------------------------------------------------------------------- tools, format


def _tool(tool: Any, i: int) -> dict[str, Any]:
    param = f"tools[{i}]"
    if not isinstance(tool, dict):
        raise oai._bad_type(param, oai._is_obj, tool)
    kind = tool.get("type")
    if kind != "function":
        raise _bad(
            f"Tool type {kind!r} is not supported by this gateway: only function tools are "
            "(hosted tools run inside OpenAI).",
            f"{param}.type",
            "unsupported_value",
        )
    name = tool.get("name")
    if not isinstance(name, str) or not name:
        raise oai._missing(f"{param}.name")
    fn: dict[str, Any] = {"name": name}
    for key in ("description", "parameters", "strict"):
        if tool.get(key) is not None:
            fn[key] = tool[key]
    return {"type": "function", "function": fn}


def _tool_choice(choice: Any) -> Any:
    if choice in ("auto", "none", "required"):
        return choice
    if isinstance(choice, dict) and choice.get("type") == "function":
        name = choice.get("name")
        if not isinstance(name, str):
            raise oai._missing("tool_choice.name")
        return {"type": "function", "function": {"name": name}}
    raise _bad(
        "Invalid 'tool_choice': expected 'auto', 'none', 'required' or a function "
        '({"type": "function", "name": ...}).',
        "tool_choice",
        "invalid_value",
    )


def _response_format(fmt: Any) -> dict[str, Any] | None:
    if fmt is None:
        return None
    if not isinstance(fmt, dict):
        raise oai._bad_type("text.format", oai._is_obj, fmt)
    kind = fmt.get("type")
    if kind == "text":
        return None
    if kind == "json_object":
        return {"type": "json_object"}
    if kind == "json_schema":
        for key in ("name", "schema"):
            if fmt.get(key) is None:
                raise oai._missing(f"text.format.{key}")
        spec = {k: fmt[k] for k in ("name", "schema", "description", "strict") if k in fmt}
        return {"type": "json_schema", "json_schema": spec}
    raise _bad(
        f"Invalid value: {kind!r}. Supported values are: 'text', 'json_object' and 'json_schema'.",
        "text.format.type",
        "invalid_value",
    )


# ------------------------------------------------------------------------------- parse


def _echo(body: dict[str, Any]) -> dict[str, Any]:
    echo = default_echo()
    for key in _ECHOED:
        if body.get(key) is not None:
            echo[key] = body[key]
    text = body.get("text")
    if isinstance(text, dict):
        echo["text"] = {**echo["text"], **text}
    reasoning = body.get("reasoning")
    if isinstance(reasoning, dict):
        echo["reasoning"] = {**echo["reasoning"], **reasoning}
    return echo


def parse_responses(raw: bytes) -> ResponsesRequest:
    """A Responses request body → the normalized request (raises :class:`InvalidRequest`)."""
    body = oai.decode_json(raw)
    context = take_context(body)
    model = oai._model(body)
    for name, why in STATEFUL.items():
        if body.get(name) is not None:
            raise _unsupported(name, why)
    oai._check_fields(body, FIELDS)
    if body.get("background") is True:
        raise _unsupported("background", "background responses need stored state")
    chat: dict[str, Any] = {"model": model, "messages": _messages(body)}
    limit = body.get("max_output_tokens")
    if limit is not None:
        if limit < 1:
            raise _bad("Invalid 'max_output_tokens': must be positive.", "max_output_tokens")
        chat["max_completion_tokens"] = limit
    for key in _SAME:
        if body.get(key) is not None:
            chat[key] = body[key]
    tools = body.get("tools")
    if tools:
        chat["tools"] = [_tool(t, i) for i, t in enumerate(tools)]
    if body.get("tool_choice") is not None:
        chat["tool_choice"] = _tool_choice(body["tool_choice"])
    text = body.get("text") or {}
    fmt = _response_format(text.get("format"))
    if fmt is not None:
        chat["response_format"] = fmt
    if isinstance(text.get("verbosity"), str):
        chat["verbosity"] = text["verbosity"]
    effort = (body.get("reasoning") or {}).get("effort")
    if isinstance(effort, str):
        chat["reasoning_effort"] = effort
    stream = body.get("stream") is True
    if stream:
        chat["stream"] = True
        chat["stream_options"] = {"include_usage": True}
    return ResponsesRequest(
        operation="chat", model=model, body=chat, stream=stream, echo=_echo(body), context=context
    )


class ResponsesIngress:
    """OpenAI Responses (``POST /v1/responses``), stateless."""

    name = "responses"
    request_id_header = b"x-request-id"

    def parse(self, raw: bytes, headers: Mapping[bytes, bytes] | None = None) -> LLMRequest:
        return parse_responses(raw)

    def response(self, resp: LLMResponse, req: LLMRequest | None = None) -> bytes:
        # The echoed settings are the caller's own; without the request, OpenAI's defaults.
        echo = req.echo if isinstance(req, ResponsesRequest) else default_echo()
        return orjson.dumps(encode_response(resp, echo))

    def stream(self, req: LLMRequest) -> StreamEncoder:
        echo = req.echo if isinstance(req, ResponsesRequest) else default_echo()
        return ResponsesStreamEncoder(echo, estimate_input_tokens(req.body))

    def error(self, exc: DaytwoError) -> tuple[int, bytes]:
        return exc.status_code(), oai.error_body(exc)


RESPONSES = ResponsesIngress()
