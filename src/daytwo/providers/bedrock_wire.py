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

import base64
import os
import sys
import time
from array import array
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import orjson

from daytwo.core.errors import InvalidRequest, UpstreamProtocolError, UpstreamStatusError
from daytwo.core.types import Usage
from daytwo.providers.openai_wire import openai_usage, token_count

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
_PASS_HEADERS = ("retry-after",)

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


def _bad(message: str, param: str) -> InvalidRequest:
    return InvalidRequest(message, param=param)


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
        raise _bad("`n` greater than 1 is not supported by this deployment (Bedrock).", "n")
    if body.get("logprobs") or body.get("top_logprobs"):
        raise _bad("`logprobs` is not supported by this deployment (Bedrock).", "logprobs")
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
                raise _bad(
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
        raise _bad("`tool_choice` needs `tools`.", "tool_choice")
    return ConverseCall(out)


def _inference_config(body: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    limit = body.get("max_completion_tokens")
    if limit is None:
        limit = body.get("max_tokens")
    if limit is not None:
        out["maxTokens"] = limit
    if body.get("temperature") is not None:
        out["temperature"] = body["temperature"]
    if body.get("top_p") is not None:
        out["topP"] = body["top_p"]
    stop = body.get("stop")
    if isinstance(stop, str) and stop:
        out["stopSequences"] = [stop]
    elif isinstance(stop, list) and stop:
        out["stopSequences"] = stop
    return out


def _text_of(content: Any, param: str) -> str:
    """A system/developer/tool message's content (a string or text parts) as one string."""
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        texts = []
        for part in content:
            if not (isinstance(part, dict) and part.get("type") == "text"):
                raise _bad("only text parts are supported here.", param)
            texts.append(str(part.get("text", "")))
        return "\n".join(texts)
    raise _bad("expected a string or an array of content parts.", param)


def _to_converse_messages(messages: Any) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    if not isinstance(messages, list) or not messages:
        raise _bad("`messages` must be a non-empty array.", "messages")
    system: list[dict[str, Any]] = []
    out: list[dict[str, Any]] = []
    for i, msg in enumerate(messages):
        param = f"messages[{i}]"
        if not isinstance(msg, dict):
            raise _bad("expected an object.", param)
        role = msg.get("role")
        if role in ("system", "developer"):
            text = _text_of(msg.get("content"), f"{param}.content")
            if text:  # Converse refuses blank system text
                system.append({"text": text})
            continue
        if role == "user":
            blocks = _user_blocks(msg.get("content"), f"{param}.content")
        elif role == "assistant":
            blocks = _assistant_blocks(msg, param)
        elif role == "tool":
            role = "user"
            result = _text_of(msg.get("content"), f"{param}.content")
            blocks = [
                {
                    "toolResult": {
                        "toolUseId": str(msg.get("tool_call_id") or ""),
                        "content": [{"text": result}] if result else [],
                    }
                }
            ]
        else:
            raise _bad(f"role `{role}` is not supported by this deployment (Bedrock).", param)
        if not blocks:
            continue
        # Converse wants alternating turns; consecutive same-role messages (several tool
        # results, a user message after them) become one turn.
        if out and out[-1]["role"] == role:
            out[-1]["content"].extend(blocks)
        else:
            out.append({"role": role, "content": blocks})
    return system, out


def _user_blocks(content: Any, param: str) -> list[dict[str, Any]]:
    if isinstance(content, str):
        return [{"text": content}]
    if not isinstance(content, list):
        raise _bad("expected a string or an array of content parts.", param)
    blocks = []
    for j, part in enumerate(content):
        kind = part.get("type") if isinstance(part, dict) else None
        if kind == "text":
            blocks.append({"text": str(part.get("text", ""))})
        elif kind == "image_url":
            blocks.append(_image_block(part.get("image_url"), f"{param}[{j}].image_url"))
        else:
            raise _bad(
                f"content part type `{kind}` is not supported by this deployment (Bedrock).",
                f"{param}[{j}]",
            )
    return blocks


def _image_block(spec: Any, param: str) -> dict[str, Any]:
    url = spec.get("url") if isinstance(spec, dict) else spec
    if not isinstance(url, str):
        raise _bad("expected an image URL.", param)
    if not url.startswith("data:"):
        raise _bad(
            "image URLs are not supported by this deployment (Bedrock Converse takes the "
            "image's bytes): send a data URL (data:image/png;base64,...).",
            param,
        )
    head, sep, data = url[5:].partition(",")
    media_type, _, encoding = head.partition(";")
    fmt = _IMAGE_FORMATS.get(media_type.lower())
    if not sep or encoding != "base64" or fmt is None:
        raise _bad(
            "expected a data URL of the form data:image/<png|jpeg|gif|webp>;base64,<data>.", param
        )
    # The JSON protocol carries blobs as base64 text: the data URL's payload is already that.
    return {"image": {"format": fmt, "source": {"bytes": data}}}


def _assistant_blocks(msg: dict[str, Any], param: str) -> list[dict[str, Any]]:
    content = msg.get("content")
    if isinstance(content, list):
        content = [p for p in content if not (isinstance(p, dict) and p.get("type") == "refusal")]
    text = _text_of(content, f"{param}.content")
    blocks: list[dict[str, Any]] = [{"text": text}] if text else []
    for k, call in enumerate(msg.get("tool_calls") or ()):
        fn = call.get("function") if isinstance(call, dict) else None
        if not isinstance(fn, dict) or not isinstance(fn.get("name"), str):
            raise _bad("expected a function call.", f"{param}.tool_calls[{k}]")
        try:
            args = orjson.loads(fn.get("arguments") or "{}")
        except orjson.JSONDecodeError as exc:
            raise _bad(
                "`arguments` must be a JSON object.", f"{param}.tool_calls[{k}].function.arguments"
            ) from exc
        blocks.append(
            {
                "toolUse": {
                    "toolUseId": str(call.get("id") or f"tooluse_{k}"),
                    "name": fn["name"],
                    "input": args if isinstance(args, dict) else {},
                }
            }
        )
    return blocks


def _to_tool_spec(tool: Any, i: int) -> dict[str, Any]:
    fn = tool.get("function") if isinstance(tool, dict) else None
    if (
        not isinstance(tool, dict)
        or tool.get("type", "function") != "function"
        or not (isinstance(fn, dict) and isinstance(fn.get("name"), str))
    ):
        raise _bad("only function tools are supported by this deployment (Bedrock).", f"tools[{i}]")
    spec: dict[str, Any] = {"name": fn["name"]}
    if fn.get("description"):
        spec["description"] = fn["description"]
    params = fn.get("parameters")
    schema = params if isinstance(params, dict) else {"type": "object", "properties": {}}
    spec["inputSchema"] = {"json": schema}
    return {"toolSpec": spec}


def _to_tool_choice(choice: Any) -> dict[str, Any] | None:
    if choice is None:
        return None
    if choice == "auto":
        return {"auto": {}}
    if choice == "required":
        return {"any": {}}
    if isinstance(choice, dict) and isinstance(choice.get("function"), dict):
        return {"tool": {"name": str(choice["function"].get("name"))}}
    raise _bad("expected `auto`, `required`, `none` or a named function.", "tool_choice")


def _uses_tools(messages: list[dict[str, Any]]) -> bool:
    return any("toolUse" in b or "toolResult" in b for m in messages for b in m["content"])


def _json_mode(fmt: Any, tools: list[dict[str, Any]]) -> tuple[str, dict[str, Any]] | None:
    """(tool name, schema) of the forced tool that carries a JSON answer, or None."""
    kind = fmt.get("type") if isinstance(fmt, dict) else None
    if kind in (None, "text"):
        return None
    if kind not in ("json_object", "json_schema"):
        raise _bad(f"response_format `{kind}` is not supported.", "response_format")
    if tools:
        raise _bad(
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
        raise _bad("`response_format.json_schema.schema` must be an object.", "response_format")
    if schema.get("type", "object") != "object":
        raise _bad(
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
            calls.append(
                {
                    "id": str(use.get("toolUseId", "")),
                    "type": "function",
                    "function": {"name": str(use.get("name", "")), "arguments": args},
                }
            )
        # reasoningContent, citationsContent and later block types are not relayed
    message: dict[str, Any] = {
        "role": "assistant",
        "content": "".join(texts) if texts or not calls else None,
        "refusal": None,
    }
    if calls:
        message["tool_calls"] = calls
    out: dict[str, Any] = {
        "id": completion_id(request_id),
        "object": "chat.completion",
        "created": int(time.time()) if created is None else created,
        "model": model,
        "choices": [
            {
                "index": 0,
                "message": message,
                "logprobs": None,
                "finish_reason": finish_reason(data.get("stopReason"), json_tool),
            }
        ],
    }
    usage = usage_from_converse(data.get("usage"))
    if usage is not None:
        out["usage"] = openai_usage(usage)
    return out


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
    message = f"upstream returned HTTP {status}"
    try:
        parsed = orjson.loads(body) if body else None
    except orjson.JSONDecodeError:
        parsed = None
    name = exception_name(headers.get("x-amzn-errortype"))
    if isinstance(parsed, dict):
        text = parsed.get("message", parsed.get("Message"))
        if isinstance(text, str) and text:
            message = text
        if name is None and isinstance(parsed.get("__type"), str):
            name = exception_name(parsed["__type"])
    elif body:
        message = f"{message}: {body[:200].decode('utf-8', 'replace')}"
    passed = {k: headers[k] for k in _PASS_HEADERS if k in headers}
    return UpstreamStatusError(status, redact(message), code=name, headers=passed)


def error_from_exception_event(
    name: str, payload: bytes, redact: Callable[[str], str]
) -> UpstreamStatusError:
    """An exception event inside a ConverseStream (HTTP 200 already sent) → its error class."""
    try:
        parsed = orjson.loads(payload) if payload else None
    except orjson.JSONDecodeError:
        parsed = None
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
        raise _bad("`dimensions` is not supported by Cohere Embed on Bedrock.", "dimensions")
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
    raise _bad(
        f"`{model}` is not an embedding model daytwo can call on Bedrock (known: {known}).",
        "model",
    )


def embedding_inputs(body: dict[str, Any]) -> list[str]:
    raw = body.get("input")
    if isinstance(raw, str):
        return [raw]
    if isinstance(raw, list) and raw and all(isinstance(x, str) for x in raw):
        return list(raw)
    raise _bad(
        "`input` must be a string or an array of strings (Bedrock takes text, not tokens).",
        "input",
    )


def openai_embeddings(
    vectors: list[list[float]], *, model: str, input_tokens: int, base64_out: bool
) -> dict[str, Any]:
    data = []
    for i, vec in enumerate(vectors):
        value: Any = vec
        if base64_out:  # little-endian float32, as OpenAI sends (and its SDK's default asks)
            packed = array("f", vec)
            if sys.byteorder == "big":
                packed.byteswap()
            value = base64.b64encode(packed.tobytes()).decode("ascii")
        data.append({"object": "embedding", "index": i, "embedding": value})
    return {
        "object": "list",
        "data": data,
        "model": model,
        "usage": {"prompt_tokens": input_tokens, "total_tokens": input_tokens},
    }
