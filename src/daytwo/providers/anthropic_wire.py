"""Anthropic's Messages wire format, translated both ways; pure functions, no I/O.

* requests: OpenAI Chat Completions body → Messages body (egress), and Messages body → OpenAI
  body (the ``/v1/messages`` door and the simulator's ``/v1/messages`` route). That direction
  keeps what Chat Completions cannot say in the places the upstreams read: a ``tool_result``
  with ``is_error: true`` becomes a ``tool`` message whose content starts with
  :data:`TOOL_ERROR_PREFIX`, and ``top_k`` travels as vLLM's top-level ``top_k`` (sent on to
  Anthropic, dropped by the Gemini, Bedrock and Azure egresses);
* answers: a Messages ``message`` → ``chat.completion``; the Messages SSE events
  (``message_start``, ``content_block_*``, ``message_delta``, ``message_stop``, ``ping``,
  ``error``) → ``chat.completion.chunk`` dicts (``anthropic_stream.StreamTranslator``);
* usage: Anthropic's ``input_tokens`` excludes cache reads and writes; daytwo's
  :class:`~daytwo.core.types.Usage` includes them, so they are added up here, once;
* errors: ``{"type": "error", "error": {"type", "message"}}`` → :class:`UpstreamStatusError`.
  A 529 ``overloaded_error`` becomes a retryable 503 (an OpenAI client knows no 529); the type
  ``overloaded_error`` stays, so an Anthropic ingress can turn it back into a 529.

Structured outputs cross both ways: ``response_format: json_schema`` ↔ ``output_config.format``
(``json_schema``). Thinking (``output_tokens_details.thinking_tokens``) is counted as
``reasoning_tokens``; thinking blocks themselves have no Chat Completions counterpart and are not
translated (the Anthropic door relays them untranslated from an Anthropic upstream: see
``anthropic_native``).

What cannot be honoured is refused with a 400 naming the parameter, never dropped silently:
``n`` > 1, ``response_format: json_object``, ``logprobs``, audio/file parts, non-function tools.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import orjson

from daytwo.core.errors import UpstreamProtocolError, UpstreamStatusError
from daytwo.core.types import Usage
from daytwo.providers.chat_answers import (
    assistant_message,
    completion,
    completion_choice,
    tool_call,
)
from daytwo.providers.chat_parts import (
    Conversation,
    PartWriter,
    bad,
    data_url,
    declaration,
    function_calls,
    function_tool,
    image_url,
    max_tokens,
    object_schema,
    part_text,
    text_of,
    tool_choice,
    user_parts,
)
from daytwo.providers.openai_wire import error_json, passed_headers, status_message, token_count

ANTHROPIC_VERSION = "2023-06-01"

#: Anthropic ``stop_reason`` → OpenAI ``finish_reason``.
FINISH_REASONS = {
    "end_turn": "stop",
    "stop_sequence": "stop",
    "max_tokens": "length",
    "tool_use": "tool_calls",
    "pause_turn": "stop",
    "refusal": "content_filter",
}
#: OpenAI ``finish_reason`` → Anthropic ``stop_reason`` (the simulator's encoder uses it).
STOP_REASONS = {"stop": "end_turn", "length": "max_tokens", "tool_calls": "tool_use"}

#: Starts the content of a ``tool_result`` sent with ``is_error: true`` once it is an OpenAI
#: ``tool`` message (which has no such flag), so every upstream's model still reads the failure.
TOOL_ERROR_PREFIX = "Error: "

#: Anthropic error ``type`` → the HTTP status daytwo reports (used for errors inside a stream,
#: which arrive with HTTP 200 already sent).
_STATUS_BY_TYPE = {
    "invalid_request_error": 400,
    "authentication_error": 401,
    "billing_error": 402,
    "permission_error": 403,
    "not_found_error": 404,
    "request_too_large": 413,
    "rate_limit_error": 429,
    "api_error": 500,
    "overloaded_error": 503,
}

#: OpenAI parameters with no Anthropic counterpart that change nothing a client relies on.
_IGNORED = frozenset(
    {
        "model", "messages", "stream", "stream_options", "user", "seed", "frequency_penalty",
        "presence_penalty", "logit_bias", "service_tier", "store", "metadata", "n",
        "parallel_tool_calls", "reasoning_effort", "prediction", "modalities",
    }
)  # fmt: skip


# ------------------------------------------------------------------ OpenAI → Anthropic request


def to_anthropic_request(
    body: dict[str, Any], *, model: str, default_max_tokens: int, stream: bool = False
) -> dict[str, Any]:
    """An OpenAI Chat Completions body → an Anthropic Messages body for ``model``.

    Raises :class:`InvalidRequest` (400, naming the parameter) for what Anthropic cannot honour.
    """
    n = body.get("n")
    if n not in (None, 1):
        raise bad("`n` greater than 1 is not supported by this deployment (Anthropic).", "n")
    output_format = _anthropic_output_format(body.get("response_format"))
    if body.get("logprobs") or body.get("top_logprobs"):
        raise bad("`logprobs` is not supported by this deployment (Anthropic).", "logprobs")
    system, messages = _to_anthropic_messages(body.get("messages"))
    out: dict[str, Any] = {"model": model, "messages": messages}
    if system:
        out["system"] = system[0] if len(system) == 1 else _text_blocks(system)
    limit = max_tokens(body)
    out["max_tokens"] = default_max_tokens if limit is None else limit
    stop = body.get("stop")
    if isinstance(stop, str):
        out["stop_sequences"] = [stop]
    elif isinstance(stop, list) and stop:
        out["stop_sequences"] = stop
    temperature = body.get("temperature")
    if temperature is not None:
        if isinstance(temperature, int | float) and temperature > 1:
            raise bad(
                "`temperature` above 1 is not supported by this deployment (Anthropic accepts "
                "0 to 1).",
                "temperature",
            )
        out["temperature"] = temperature
    for key in ("top_p", "top_k"):  # top_k: set by the Anthropic door (vLLM also knows it)
        if body.get(key) is not None:
            out[key] = body[key]
    tools = body.get("tools")
    if tools:
        out["tools"] = [_to_anthropic_tool(t, i) for i, t in enumerate(tools)]
    choice = _to_anthropic_tool_choice(body.get("tool_choice"), body.get("parallel_tool_calls"))
    if choice is not None and tools:
        out["tool_choice"] = choice
    user = body.get("user")
    if isinstance(user, str) and user:
        out["metadata"] = {"user_id": user}
    if output_format is not None:
        out["output_config"] = {"format": output_format}
    if stream:
        out["stream"] = True
    return out


def _anthropic_output_format(fmt: Any) -> dict[str, Any] | None:
    """OpenAI ``response_format`` → Anthropic's ``output_config.format`` (structured outputs);
    JSON mode without a schema has no Anthropic counterpart and is refused."""
    kind = fmt.get("type") if isinstance(fmt, dict) else None
    if kind in (None, "text"):
        return None
    spec = fmt.get("json_schema") if isinstance(fmt, dict) else None
    if kind == "json_schema" and isinstance(spec, dict) and isinstance(spec.get("schema"), dict):
        return {"type": "json_schema", "schema": spec["schema"]}
    raise bad(
        f"response_format `{kind}` is not supported by this deployment (Anthropic accepts "
        "`json_schema` with a schema, or `text`).",
        "response_format",
    )


def _text_blocks(texts: list[str]) -> list[dict[str, Any]]:
    return [{"type": "text", "text": t} for t in texts]


def _to_anthropic_messages(messages: Any) -> tuple[list[str], list[dict[str, Any]]]:
    conversation = Conversation(messages)
    out: list[dict[str, Any]] = []
    for role, msg, param in conversation:
        if role == "user":
            blocks = user_parts(msg.get("content"), f"{param}.content", "Anthropic", _USER_PARTS)
        elif role == "assistant":
            blocks = _assistant_blocks(msg, param)
            if not blocks:
                continue
        elif role == "tool":
            role = "user"
            blocks = [
                {
                    "type": "tool_result",
                    "tool_use_id": str(msg.get("tool_call_id") or ""),
                    "content": text_of(msg.get("content"), f"{param}.content"),
                }
            ]
        else:
            raise bad(f"role `{role}` is not supported by this deployment (Anthropic).", param)
        # Anthropic wants alternating turns; consecutive same-role messages (tool results, a
        # user message after them) become one turn.
        if out and out[-1]["role"] == role:
            prev = out[-1]
            if isinstance(prev["content"], str):
                prev["content"] = _text_blocks([prev["content"]])
            prev["content"].extend(blocks)
        else:
            content: Any = blocks
            if (
                len(blocks) == 1
                and blocks[0]["type"] == "text"
                and isinstance(msg.get("content"), str)
            ):
                content = blocks[0]["text"]
            out.append({"role": role, "content": content})
    return conversation.system, out


def _image_block(part: dict[str, Any], param: str) -> dict[str, Any]:
    where = f"{param}.image_url"
    url = image_url(part.get("image_url"), where)
    if url.startswith("data:"):
        parsed = data_url(url)
        if parsed is None or not parsed[0].startswith("image/"):
            raise bad("expected a data URL of the form data:image/<type>;base64,<data>.", where)
        media_type, data = parsed
        return {
            "type": "image",
            "source": {"type": "base64", "media_type": media_type, "data": data},
        }
    if url.startswith(("https://", "http://")):
        return {"type": "image", "source": {"type": "url", "url": url}}
    raise bad("expected an http(s) URL or a base64 data URL.", where)


_USER_PARTS: dict[str, PartWriter] = {
    "text": lambda part, _: {"type": "text", "text": part_text(part)},
    "image_url": _image_block,
}


def _assistant_blocks(msg: dict[str, Any], param: str) -> list[dict[str, Any]]:
    text = text_of(msg.get("content"), f"{param}.content", skip_refusals=True)
    blocks: list[dict[str, Any]] = _text_blocks([text]) if text else []
    for call in function_calls(msg, param):
        blocks.append(
            {
                "type": "tool_use",
                "id": str(call.id or f"toolu_{call.index}"),
                "name": call.name,
                "input": call.arguments if isinstance(call.arguments, dict) else {},
            }
        )
    return blocks


def _to_anthropic_tool(tool: Any, i: int) -> dict[str, Any]:
    fn = function_tool(tool, i, "Anthropic")
    return {**declaration(fn), "input_schema": object_schema(fn.get("parameters"))}


def _to_anthropic_tool_choice(choice: Any, parallel: Any) -> dict[str, Any] | None:
    mode = tool_choice(choice)
    out: dict[str, Any]
    if mode is None:
        if parallel is not False:
            return None
        out = {"type": "auto"}
    elif mode == "none":
        return {"type": "none"}
    elif isinstance(mode, dict):
        out = {"type": "tool", "name": str(mode.get("name"))}
    else:
        out = {"type": "auto" if mode == "auto" else "any"}
    if parallel is False:
        out["disable_parallel_tool_use"] = True
    return out


# ------------------------------------------------------------------ Anthropic → OpenAI request


def openai_request_from_anthropic(
    body: dict[str, Any], *, skipped: list[str] | None = None
) -> dict[str, Any]:
    """An Anthropic Messages body → the equivalent OpenAI Chat Completions body.

    Raises :class:`InvalidRequest` naming the Anthropic parameter it cannot translate -- unless
    ``skipped`` is given: content blocks and tools Chat Completions has no words for
    (``document``, server tools, images in tool results, ...) are then left out and their
    paths appended to it (the Anthropic door keeps the client's body for an Anthropic upstream,
    which reads them; the simulator answers without them).
    """
    model = body.get("model")
    if not isinstance(model, str) or not model:
        raise bad("model: Field required", "model")
    limit = body.get("max_tokens")
    if not isinstance(limit, int) or isinstance(limit, bool) or limit < 1:
        raise bad("max_tokens: Field required (an integer of at least 1)", "max_tokens")
    raw = body.get("messages")
    if not isinstance(raw, list) or not raw:
        raise bad("messages: Field required (a non-empty array)", "messages")
    messages: list[dict[str, Any]] = []
    system = body.get("system")
    if system:
        messages.append({"role": "system", "content": _anthropic_text(system, "system")})
    for i, msg in enumerate(raw):
        param = f"messages.{i}"
        role = msg.get("role") if isinstance(msg, dict) else None
        if role == "user":
            messages.extend(_openai_user_messages(msg.get("content"), f"{param}.content", skipped))
        elif role == "assistant":
            content = msg.get("content")
            messages.append(_openai_assistant_message(content, f"{param}.content", skipped))
        else:
            raise bad(f"{param}.role: Input should be 'user' or 'assistant'", f"{param}.role")
    out: dict[str, Any] = {"model": model, "messages": messages, "max_tokens": limit}
    # top_k has no Chat Completions name; it travels as vLLM's `top_k`, which the Anthropic
    # egress sends on and the Gemini, Bedrock and Azure egresses drop.
    for key in ("temperature", "top_p", "top_k"):
        if body.get(key) is not None:
            out[key] = body[key]
    stops = body.get("stop_sequences")
    if stops is not None:
        if not (isinstance(stops, list) and all(isinstance(s, str) for s in stops)):
            # a string is refused as Anthropic refuses it (list("END") would be three stops)
            raise bad("stop_sequences: Input should be a valid list of strings", "stop_sequences")
        if stops:
            out["stop"] = list(stops)
    tools = body.get("tools")
    if tools:
        functions = [_openai_tool(t, i, skipped) for i, t in enumerate(tools)]
        if any(functions):
            out["tools"] = [f for f in functions if f is not None]
    choice = body.get("tool_choice")
    if choice is not None:
        if not isinstance(choice, dict):
            raise bad("tool_choice: Input should be a valid dictionary", "tool_choice")
        kind = choice.get("type")
        if kind == "auto":
            out["tool_choice"] = "auto"
        elif kind == "any":
            out["tool_choice"] = "required"
        elif kind == "none":
            out["tool_choice"] = "none"
        elif kind == "tool":
            out["tool_choice"] = {"type": "function", "function": {"name": choice.get("name")}}
        else:
            raise bad(f"tool_choice.type: unknown value {kind!r}", "tool_choice")
        if choice.get("disable_parallel_tool_use"):
            out["parallel_tool_calls"] = False
    meta = body.get("metadata")
    if isinstance(meta, dict) and isinstance(meta.get("user_id"), str):
        out["user"] = meta["user_id"]
    schema = output_schema(body.get("output_config"))
    if schema is None and body.get("output_format") is not None:  # the beta API's older name
        schema = format_schema(body["output_format"], "output_format")
    if schema is not None:
        # Structured outputs: OpenAI's strict json_schema is the same promise (an answer valid
        # against the schema); the Gemini and Bedrock egresses read it from here too.
        spec = {"name": "output", "schema": schema, "strict": True}
        out["response_format"] = {"type": "json_schema", "json_schema": spec}
    if body.get("stream") is True:
        out["stream"] = True
        out["stream_options"] = {"include_usage": True}
    return out


def output_schema(config: Any) -> dict[str, Any] | None:
    """The JSON schema of ``output_config.format`` (None without one); raises
    :class:`InvalidRequest` naming the field that is wrong."""
    if config is None:
        return None
    if not isinstance(config, dict):
        raise bad("output_config: Input should be a valid dictionary", "output_config")
    fmt = config.get("format")
    return None if fmt is None else format_schema(fmt, "output_config.format")


def format_schema(fmt: Any, where: str) -> dict[str, Any]:
    """The schema of a ``{type: json_schema, schema}`` output format found at ``where``."""
    if not isinstance(fmt, dict):
        raise bad(f"{where}: Input should be a valid dictionary", where)
    if fmt.get("type") != "json_schema":
        raise bad(f"{where}.type: Input should be 'json_schema'", f"{where}.type")
    schema = fmt.get("schema")
    if not isinstance(schema, dict):
        raise bad(f"{where}.schema: Input should be a valid dictionary", f"{where}.schema")
    return schema


def _skip(skipped: list[str] | None, where: str, error: str, param: str, kind: Any) -> None:
    """Leave out a block or tool of a ``kind`` that cannot be translated (noting ``where``),
    or refuse it. Something with no type at all is malformed: always refused."""
    if skipped is None or not isinstance(kind, str):
        raise bad(error, param)
    skipped.append(where)


def _anthropic_text(content: Any, param: str, skipped: list[str] | None = None) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        parts = []
        for j, block in enumerate(content):
            kind = block.get("type") if isinstance(block, dict) else None
            if kind != "text":
                error = f"{param}: only text blocks are supported here"
                _skip(skipped, f"{param}.{j}", error, param, kind)
                continue
            parts.append(str(block.get("text", "")))
        return "\n".join(parts)
    raise bad(f"{param}: expected a string or an array of blocks", param)


def _openai_user_messages(
    content: Any, param: str, skipped: list[str] | None = None
) -> list[dict[str, Any]]:
    if isinstance(content, str):
        return [{"role": "user", "content": content}]
    if not isinstance(content, list):
        raise bad(f"{param}: expected a string or an array of blocks", param)
    tools: list[dict[str, Any]] = []
    parts: list[dict[str, Any]] = []
    for j, block in enumerate(content):
        kind = block.get("type") if isinstance(block, dict) else None
        if kind == "tool_result":
            result = block.get("content")
            text = "" if result is None else _anthropic_text(result, f"{param}.{j}", skipped)
            if block.get("is_error") is True:
                # Chat Completions has no error flag on tool results: the model reads it here
                text = TOOL_ERROR_PREFIX + text
            tools.append(
                {"role": "tool", "tool_call_id": str(block.get("tool_use_id", "")), "content": text}
            )
        elif kind == "text":
            parts.append({"type": "text", "text": str(block.get("text", ""))})
        elif kind == "image":
            parts.append({"type": "image_url", "image_url": {"url": _image_url(block, param)}})
        else:
            unsupported = f"{param}.{j}.type: {kind!r} is not supported by this gateway"
            _skip(skipped, f"{param}.{j}", unsupported, param, kind)
    out = tools
    if parts:
        only_text = all(p["type"] == "text" for p in parts)
        body: Any = "\n".join(p["text"] for p in parts) if only_text else parts
        out.append({"role": "user", "content": body})
    return out


def _image_url(block: dict[str, Any], param: str) -> str:
    src = block.get("source")
    if isinstance(src, dict) and src.get("type") == "base64":
        return f"data:{src.get('media_type')};base64,{src.get('data')}"
    if isinstance(src, dict) and src.get("type") == "url" and isinstance(src.get("url"), str):
        return str(src["url"])
    raise bad(f"{param}: image source must be base64 or url", param)


def _openai_assistant_message(
    content: Any, param: str, skipped: list[str] | None = None
) -> dict[str, Any]:
    if isinstance(content, str):
        return {"role": "assistant", "content": content}
    if not isinstance(content, list):
        raise bad(f"{param}: expected a string or an array of blocks", param)
    texts: list[str] = []
    calls: list[dict[str, Any]] = []
    for j, block in enumerate(content):
        kind = block.get("type") if isinstance(block, dict) else None
        if kind == "text":
            texts.append(str(block.get("text", "")))
        elif kind == "tool_use":
            calls.append(_tool_call(block))
        elif kind in ("thinking", "redacted_thinking"):
            continue  # reasoning is not replayed to an OpenAI-shaped upstream
        else:
            unsupported = f"{param}.{j}.type: {kind!r} is not supported by this gateway"
            _skip(skipped, f"{param}.{j}", unsupported, param, kind)
    msg: dict[str, Any] = {"role": "assistant", "content": "".join(texts) if texts else None}
    if calls:
        msg["tool_calls"] = calls
    return msg


def _openai_tool(tool: Any, i: int, skipped: list[str] | None = None) -> dict[str, Any] | None:
    if (
        not isinstance(tool, dict)
        or tool.get("type") not in (None, "custom")
        or not isinstance(tool.get("name"), str)
    ):
        error = f"tools.{i}: only client tools (name, input_schema) are supported"
        kind = tool.get("type") if isinstance(tool, dict) else None
        _skip(skipped, f"tools.{i}", error, "tools", kind if kind != "custom" else None)
        return None
    fn: dict[str, Any] = {"name": tool["name"]}
    if tool.get("description"):
        fn["description"] = tool["description"]
    fn["parameters"] = tool.get("input_schema") or {"type": "object", "properties": {}}
    return {"type": "function", "function": fn}


# ------------------------------------------------------------------ answers, usage, errors


def usage_from_anthropic(data: Any) -> Usage | None:
    """Anthropic ``usage`` → :class:`Usage` (input includes cache reads and writes); None when
    absent or its input count is not a count. Optional counts that are not counts are 0."""
    if not isinstance(data, dict):
        return None
    inp = token_count(data.get("input_tokens"))
    if inp is None:
        return None
    read = token_count(data.get("cache_read_input_tokens")) or 0
    write = token_count(data.get("cache_creation_input_tokens")) or 0
    out = token_count(data.get("output_tokens")) or 0
    details = data.get("output_tokens_details")
    thinking = token_count(details.get("thinking_tokens")) if isinstance(details, dict) else None
    return Usage(
        input_tokens=inp + read + write,
        output_tokens=out,
        cached_input_tokens=read,
        cache_write_tokens=write,
        reasoning_tokens=min(thinking or 0, out),
    )


def finish_reason(stop_reason: Any) -> str:
    return FINISH_REASONS.get(stop_reason, "stop") if isinstance(stop_reason, str) else "stop"


def _tool_call(block: dict[str, Any]) -> dict[str, Any]:
    """A ``tool_use`` block → an OpenAI tool call (its input as JSON text)."""
    args = orjson.dumps(block.get("input") or {}).decode()
    return tool_call(str(block.get("id", "")), str(block.get("name", "")), args)


def to_openai_completion(msg: dict[str, Any], *, created: int | None = None) -> dict[str, Any]:
    """An Anthropic ``message`` → an OpenAI ``chat.completion`` (usage included when known)."""
    if msg.get("type") != "message" or not isinstance(msg.get("content"), list):
        raise UpstreamProtocolError("upstream sent a body that is not an Anthropic message")
    texts: list[str] = []
    calls: list[dict[str, Any]] = []
    for block in msg["content"]:
        kind = block.get("type") if isinstance(block, dict) else None
        if kind == "text":
            texts.append(str(block.get("text", "")))
        elif kind == "tool_use":
            calls.append(_tool_call(block))
    message = assistant_message(texts, calls)
    return completion(
        completion_id=str(msg.get("id", "")),
        model=str(msg.get("model", "")),
        choices=[completion_choice(message, finish_reason(msg.get("stop_reason")))],
        usage=usage_from_anthropic(msg.get("usage")),
        created=created,
    )


def error_from_anthropic(
    status: int, body: bytes, headers: dict[str, str], redact: Callable[[str], str]
) -> UpstreamStatusError:
    """An Anthropic error response → :class:`UpstreamStatusError` keeping its class and
    ``retry-after``. ``headers`` must have lower-case names."""
    kind: str | None = None
    parsed = error_json(body)
    message = status_message(status, body if parsed is None else b"")
    err = parsed.get("error") if isinstance(parsed, dict) else None
    if isinstance(err, dict):
        if isinstance(err.get("message"), str) and err["message"]:
            message = err["message"]
        kind = err["type"] if isinstance(err.get("type"), str) else None
    if status == 529:  # Anthropic's "overloaded": an OpenAI client knows it as a 503
        status, kind = 503, kind or "overloaded_error"
    passed = passed_headers(headers)
    return UpstreamStatusError(status, redact(message), upstream_type=kind, headers=passed)


def error_from_event(data: dict[str, Any], redact: Callable[[str], str]) -> UpstreamStatusError:
    """An ``error`` event inside a stream (HTTP 200 already sent) → its error class."""
    err = data.get("error")
    kind = err.get("type") if isinstance(err, dict) else None
    msg = err.get("message") if isinstance(err, dict) else None
    kind = kind if isinstance(kind, str) else "api_error"
    return UpstreamStatusError(
        _STATUS_BY_TYPE.get(kind, 500),
        redact(f"upstream stream error: {msg if isinstance(msg, str) else kind}"),
        upstream_type=kind,
    )
