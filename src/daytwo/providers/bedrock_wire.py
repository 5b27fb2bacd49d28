"""Amazon Bedrock's Converse wire format, translated both ways; pure functions, no I/O.

Shapes follow the ``bedrock-runtime`` service model (2023-09-30) that ships with botocore
(``botocore/data/bedrock-runtime/2023-09-30/service-2.json``) and the Converse API reference
(https://docs.aws.amazon.com/bedrock/latest/APIReference/API_runtime_Converse.html).

* requests: an OpenAI Chat Completions body → a Converse body (``system``, ``messages`` of
  content blocks -- ``text``, ``image`` with base64 ``bytes``, ``toolUse``, ``toolResult`` --
  ``inferenceConfig``, ``toolConfig``);
* answers: a Converse response (``output.message``, ``stopReason``, ``usage``) → a
  ``chat.completion``; stream events are translated in :mod:`daytwo.providers.bedrock_stream`;
* usage: Converse's ``inputTokens`` excludes cache reads and writes; daytwo's
  :class:`~daytwo.core.types.Usage` includes them, so they are added up here, once;
* errors: ``{"message": ...}`` with the exception name in the ``x-amzn-ErrorType`` header →
  :class:`UpstreamStatusError` keeping the status (the name goes to ``code``);
* embeddings: InvokeModel bodies of the embedding families daytwo knows (:data:`EMBEDDERS`).

JSON mode. Converse has no ``response_format``; a ``json_schema`` (or ``json_object``) request is
sent as one forced tool whose input schema is the requested schema, and the tool's input comes
back as the message content (``finish_reason: "stop"``) -- it works with every model that can
call tools. Asking for JSON mode and for tools at once is refused with a 400.

What cannot be honoured is refused with a 400 naming the parameter, never dropped silently:
``n`` > 1, ``logprobs``, image URLs that are not ``data:`` URLs (Converse takes image bytes,
not links), audio/file parts, non-function tools, ``tool_choice: none`` once tools were used.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
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
    add_turn,
    bad,
    bad_tool_choice,
    data_url,
    declaration,
    function_calls,
    function_tool,
    image_url,
    max_tokens,
    object_schema,
    part_text,
    stop_sequences,
    text_inputs,
    text_of,
    tool_choice,
    user_parts,
)
from daytwo.providers.openai_wire import error_json, passed_headers, status_message, token_count

#: Converse ``stopReason`` → OpenAI ``finish_reason``.
FINISH_REASONS = {
    "end_turn": "stop",
    "stop_sequence": "stop",
    "max_tokens": "length",
    "model_context_window_exceeded": "length",
    "tool_use": "tool_calls",
    "guardrail_intervened": "content_filter",
    "content_filtered": "content_filter",
}
#: OpenAI ``finish_reason`` → Converse ``stopReason`` (the simulator's encoder uses it).
STOP_REASONS = {"stop": "end_turn", "length": "max_tokens", "tool_calls": "tool_use"}

#: Exception name → HTTP status, from the service model (errors inside a stream arrive with
#: HTTP 200 already sent, named in lower camel case: ``throttlingException``).
STATUS_BY_EXCEPTION = {
    "AccessDeniedException": 403,
    "ConflictException": 400,
    "InternalServerException": 500,
    "ModelErrorException": 424,
    "ModelNotReadyException": 429,
    "ModelStreamErrorException": 424,
    "ModelTimeoutException": 408,
    "ResourceNotFoundException": 404,
    "ServiceQuotaExceededException": 400,
    "ServiceUnavailableException": 503,
    "ThrottlingException": 429,
    "ValidationException": 400,
}

#: Image media types Converse accepts (``ImageFormat``).
_IMAGE_FORMATS = {
    "image/png": "png",
    "image/jpeg": "jpeg",
    "image/jpg": "jpeg",
    "image/gif": "gif",
    "image/webp": "webp",
}
#: The forced tool's name when a ``json_object`` request (or an unnamed schema) asks for JSON.
JSON_TOOL = "json_response"


# ------------------------------------------------------------------ OpenAI → Converse request


@dataclass(frozen=True, slots=True)
class ConverseCall:
    """A translated request: the Converse body, and the forced tool that carries JSON mode's
    answer (None when the request did not ask for JSON)."""

    body: dict[str, Any]
    json_tool: str | None = None


def to_converse_request(body: dict[str, Any]) -> ConverseCall:
    """An OpenAI Chat Completions body → a Converse body (the model goes in the URL).

    Raises :class:`InvalidRequest` (400, naming the parameter) for what Converse cannot honour.
    """
    if body.get("n") not in (None, 1):
        raise bad("`n` greater than 1 is not supported by this deployment (Bedrock).", "n")
    if body.get("logprobs") or body.get("top_logprobs"):
        raise bad("`logprobs` is not supported by this deployment (Bedrock).", "logprobs")
    system, messages = _to_converse_messages(body.get("messages"))
    out: dict[str, Any] = {"messages": messages}
    if system:
        out["system"] = system
    inference = _inference_config(body)
    if inference:
        out["inferenceConfig"] = inference
    tools = [_to_tool_spec(t, i) for i, t in enumerate(body.get("tools") or ())]
    choice = body.get("tool_choice")
    json_tool = _json_mode(body.get("response_format"), tools)
    if json_tool is not None:
        name, schema = json_tool
        tools = [{"toolSpec": {"name": name, "inputSchema": {"json": schema}}}]
        out["toolConfig"] = {"tools": tools, "toolChoice": {"tool": {"name": name}}}
        return ConverseCall(out, name)
    if tools:
        config: dict[str, Any] = {"tools": tools}
        if choice == "none":
            if _uses_tools(messages):
                raise bad(
                    "`tool_choice: none` is not supported by this deployment once tools were "
                    "used (Bedrock Converse needs its tools to read the conversation).",
                    "tool_choice",
                )
            return ConverseCall(out)
        converse_choice = _to_tool_choice(choice)
        if converse_choice is not None:
            config["toolChoice"] = converse_choice
        out["toolConfig"] = config
    elif choice not in (None, "none", "auto"):
        raise bad("`tool_choice` needs `tools`.", "tool_choice")
    return ConverseCall(out)


def _inference_config(body: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    limit = max_tokens(body)
    if limit is not None:
        out["maxTokens"] = limit
    if body.get("temperature") is not None:
        out["temperature"] = body["temperature"]
    if body.get("top_p") is not None:
        out["topP"] = body["top_p"]
    stop = stop_sequences(body)
    if stop is not None:
        out["stopSequences"] = stop
    return out


def _to_converse_messages(messages: Any) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    conversation = Conversation(messages)
    out: list[dict[str, Any]] = []
    for role, msg, param in conversation:
        if role == "user":
            blocks = user_parts(msg.get("content"), f"{param}.content", "Bedrock", _USER_PARTS)
        elif role == "assistant":
            blocks = _assistant_blocks(msg, param)
        elif role == "tool":
            role = "user"
            result = text_of(msg.get("content"), f"{param}.content")
            blocks = [
                {
                    "toolResult": {
                        "toolUseId": str(msg.get("tool_call_id") or ""),
                        "content": [{"text": result}] if result else [],
                    }
                }
            ]
        else:
            raise bad(f"role `{role}` is not supported by this deployment (Bedrock).", param)
        if blocks:
            add_turn(out, role, blocks, "content")
    return [{"text": t} for t in conversation.system], out


def _image_block(part: dict[str, Any], param: str) -> dict[str, Any]:
    where = f"{param}.image_url"
    url = image_url(part.get("image_url"), where)
    if not url.startswith("data:"):
        raise bad(
            "image URLs are not supported by this deployment (Bedrock Converse takes the "
            "image's bytes): send a data URL (data:image/png;base64,...).",
            where,
        )
    parsed = data_url(url)
    fmt = _IMAGE_FORMATS.get(parsed[0].lower()) if parsed is not None else None
    if parsed is None or fmt is None:
        raise bad(
            "expected a data URL of the form data:image/<png|jpeg|gif|webp>;base64,<data>.", where
        )
    # The JSON protocol carries blobs as base64 text: the data URL's payload is already that.
    return {"image": {"format": fmt, "source": {"bytes": parsed[1]}}}


_USER_PARTS: dict[str, PartWriter] = {
    "text": lambda part, _: {"text": part_text(part)},
    "image_url": _image_block,
}


def _assistant_blocks(msg: dict[str, Any], param: str) -> list[dict[str, Any]]:
    text = text_of(msg.get("content"), f"{param}.content", skip_refusals=True)
    blocks: list[dict[str, Any]] = [{"text": text}] if text else []
    for call in function_calls(msg, param):
        use = {
            "toolUseId": str(call.id or f"tooluse_{call.index}"),
            "name": call.name,
            "input": call.arguments if isinstance(call.arguments, dict) else {},
        }
        blocks.append({"toolUse": use})
    return blocks


def _to_tool_spec(tool: Any, i: int) -> dict[str, Any]:
    fn = function_tool(tool, i, "Bedrock")
    schema = object_schema(fn.get("parameters"))
    return {"toolSpec": {**declaration(fn), "inputSchema": {"json": schema}}}


def _to_tool_choice(choice: Any) -> dict[str, Any] | None:
    mode = tool_choice(choice)
    if isinstance(mode, dict):
        return {"tool": {"name": str(mode.get("name"))}}
    if mode == "auto":
        return {"auto": {}}
    if mode == "required":
        return {"any": {}}
    if mode is None:
        return None
    raise bad_tool_choice()  # `none` is answered earlier, by sending no tools


def _uses_tools(messages: list[dict[str, Any]]) -> bool:
    return any("toolUse" in b or "toolResult" in b for m in messages for b in m["content"])


def _json_mode(fmt: Any, tools: list[dict[str, Any]]) -> tuple[str, dict[str, Any]] | None:
    """(tool name, schema) of the forced tool that carries a JSON answer, or None."""
    kind = fmt.get("type") if isinstance(fmt, dict) else None
    if kind in (None, "text"):
        return None
    if kind not in ("json_object", "json_schema"):
        raise bad(f"response_format `{kind}` is not supported.", "response_format")
    if tools:
        raise bad(
            "`response_format` together with `tools` is not supported by this deployment "
            "(Bedrock has no JSON mode; daytwo answers it with a forced tool).",
            "response_format",
        )
    assert isinstance(fmt, dict)
    if kind == "json_object":
        return JSON_TOOL, {"type": "object"}
    spec = fmt.get("json_schema")
    schema = spec.get("schema") if isinstance(spec, dict) else None
    if not isinstance(schema, dict):
        raise bad("`response_format.json_schema.schema` must be an object.", "response_format")
    if schema.get("type", "object") != "object":
        raise bad(
            "a JSON schema whose root is not an object is not supported by this deployment "
            "(Bedrock tool input is an object).",
            "response_format",
        )
    name = spec.get("name") if isinstance(spec, dict) else None
    return (name if isinstance(name, str) and name else JSON_TOOL), schema


# ------------------------------------------------------------------ answers, usage, errors


def usage_from_converse(data: Any) -> Usage | None:
    """Converse ``usage`` → :class:`Usage` (input includes cache reads and writes)."""
    if not isinstance(data, dict):
        return None
    given = token_count(data.get("inputTokens"))
    out = token_count(data.get("outputTokens"))
    if given is None or out is None:
        return None
    read = token_count(data.get("cacheReadInputTokens")) or 0
    write = token_count(data.get("cacheWriteInputTokens")) or 0
    return Usage(
        input_tokens=given + read + write,
        output_tokens=out,
        cached_input_tokens=read,
        cache_write_tokens=write,
    )


def finish_reason(stop_reason: Any, json_tool: str | None = None) -> str:
    if json_tool is not None and stop_reason == "tool_use":
        return "stop"  # the forced tool is how the JSON answer travels, not a call to make
    return FINISH_REASONS.get(stop_reason, "stop") if isinstance(stop_reason, str) else "stop"


def completion_id(request_id: str | None) -> str:
    """Converse answers carry no id; the request id stands in (random when there is none)."""
    return f"chatcmpl-{request_id or os.urandom(12).hex()}"


def to_openai_completion(
    data: dict[str, Any],
    *,
    model: str,
    request_id: str | None = None,
    json_tool: str | None = None,
    created: int | None = None,
) -> dict[str, Any]:
    """A Converse response → an OpenAI ``chat.completion`` (usage included when known)."""
    output = data.get("output")
    msg = output.get("message") if isinstance(output, dict) else None
    content = msg.get("content") if isinstance(msg, dict) else None
    if not isinstance(content, list):
        raise UpstreamProtocolError("upstream sent a body that is not a Converse response")
    texts: list[str] = []
    calls: list[dict[str, Any]] = []
    for block in content:
        if not isinstance(block, dict):
            raise UpstreamProtocolError("upstream sent a content block that is not an object")
        if isinstance(block.get("text"), str):
            texts.append(block["text"])
        elif isinstance(block.get("toolUse"), dict):
            use = block["toolUse"]
            args = orjson.dumps(use.get("input") or {}).decode()
            if json_tool is not None and use.get("name") == json_tool:
                texts.append(args)
                continue
            calls.append(tool_call(str(use.get("toolUseId", "")), str(use.get("name", "")), args))
        # reasoningContent, citationsContent and later block types are not relayed
    finish = finish_reason(data.get("stopReason"), json_tool)
    return completion(
        completion_id=completion_id(request_id),
        model=model,
        choices=[completion_choice(assistant_message(texts, calls), finish)],
        usage=usage_from_converse(data.get("usage")),
        created=created,
    )


def exception_name(value: str | None) -> str | None:
    """``ValidationException:http://internal.amazon.com/...`` or ``...#ValidationException`` →
    ``ValidationException``."""
    if not value:
        return None
    return value.split(":", 1)[0].rsplit("#", 1)[-1] or None


def error_from_bedrock(
    status: int, body: bytes, headers: dict[str, str], redact: Callable[[str], str]
) -> UpstreamStatusError:
    """A Bedrock error response → :class:`UpstreamStatusError` keeping its status, message and
    ``retry-after``; the exception name becomes ``code``. ``headers`` have lower-case names."""
    parsed = error_json(body)
    message = status_message(status, b"" if isinstance(parsed, dict) else body)
    name = exception_name(headers.get("x-amzn-errortype"))
    if isinstance(parsed, dict):
        text = parsed.get("message", parsed.get("Message"))
        if isinstance(text, str) and text:
            message = text
        if name is None and isinstance(parsed.get("__type"), str):
            name = exception_name(parsed["__type"])
    passed = passed_headers(headers, ("retry-after",))
    return UpstreamStatusError(status, redact(message), code=name, headers=passed)


def error_from_exception_event(
    name: str, payload: bytes, redact: Callable[[str], str]
) -> UpstreamStatusError:
    """An exception event inside a ConverseStream (HTTP 200 already sent) → its error class."""
    parsed = error_json(payload)
    text = parsed.get("message") if isinstance(parsed, dict) else None
    upper = name[:1].upper() + name[1:]
    return UpstreamStatusError(
        STATUS_BY_EXCEPTION.get(upper, 500),
        redact(f"upstream stream error ({upper}): {text if isinstance(text, str) else upper}"),
        code=upper,
    )


# ------------------------------------------------------------------ embeddings (InvokeModel)


@dataclass(frozen=True, slots=True)
class Embedder:
    """How one embedding family is called through InvokeModel.

    ``batch``: inputs per call (Titan takes one, Cohere up to 96). ``request`` builds a body from
    the inputs and the OpenAI request; ``vectors`` reads the vectors and, when the body reports
    it, the input token count.
    """

    batch: int
    request: Callable[[list[str], dict[str, Any]], dict[str, Any]]
    vectors: Callable[[dict[str, Any]], tuple[list[list[float]], int | None]]


def _titan_request(texts: list[str], body: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {"inputText": texts[0]}
    if body.get("dimensions") is not None:
        out["dimensions"] = body["dimensions"]
    return out


def _titan_vectors(data: dict[str, Any]) -> tuple[list[list[float]], int | None]:
    vec = data.get("embedding")
    if not isinstance(vec, list):
        raise UpstreamProtocolError("upstream sent a Titan answer without an `embedding`")
    return [vec], token_count(data.get("inputTextTokenCount"))


def _cohere_request(texts: list[str], body: dict[str, Any]) -> dict[str, Any]:
    if body.get("dimensions") is not None:
        raise bad("`dimensions` is not supported by Cohere Embed on Bedrock.", "dimensions")
    return {"texts": texts, "input_type": "search_document"}


def _cohere_vectors(data: dict[str, Any]) -> tuple[list[list[float]], int | None]:
    vecs = data.get("embeddings")
    if isinstance(vecs, dict):  # asked for by type: {"float": [...]}
        vecs = vecs.get("float")
    if not isinstance(vecs, list) or not all(isinstance(v, list) for v in vecs):
        raise UpstreamProtocolError("upstream sent a Cohere answer without `embeddings`")
    return vecs, None


#: Model id prefix → how that family embeds (first match wins; a cross-region prefix such as
#: ``us.`` is ignored). Request and answer shapes: Titan Text Embeddings V2 and Cohere Embed
#: in the Bedrock user guide's "Inference request parameters" pages.
EMBEDDERS: tuple[tuple[str, Embedder], ...] = (
    ("amazon.titan-embed-text", Embedder(1, _titan_request, _titan_vectors)),
    ("amazon.titan-embed-g1-text", Embedder(1, _titan_request, _titan_vectors)),
    ("cohere.embed", Embedder(96, _cohere_request, _cohere_vectors)),
)
_REGION_PREFIXES = ("us.", "eu.", "apac.", "jp.", "au.", "us-gov.", "global.")


def embedder_for(model: str) -> Embedder:
    base = model.rsplit("/", 1)[-1]
    for prefix in _REGION_PREFIXES:
        base = base.removeprefix(prefix)
    for prefix, embedder in EMBEDDERS:
        if base.startswith(prefix):
            return embedder
    known = ", ".join(f"{p}*" for p, _ in EMBEDDERS)
    raise bad(
        f"`{model}` is not an embedding model daytwo can call on Bedrock (known: {known}).",
        "model",
    )


def embedding_inputs(body: dict[str, Any]) -> list[str]:
    return text_inputs(body, " (Bedrock takes text, not tokens).")
