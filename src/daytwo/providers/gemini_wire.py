"""Google's Gemini API wire format (``generativelanguage.googleapis.com``), translated both ways;
pure functions, no I/O.

* requests: an OpenAI Chat Completions body → a ``GenerateContentRequest``: ``contents`` (roles
  ``user``/``model``; text, ``inlineData``, ``functionCall``, ``functionResponse`` parts),
  ``systemInstruction``, ``tools[].functionDeclarations``, ``toolConfig`` and
  ``generationConfig``. The model is named in the URL, not the body;
* answers: a ``GenerateContentResponse`` → ``chat.completion`` (streamed events are
  ``GenerateContentResponse`` objects too: ``gemini_stream.StreamTranslator``);
* usage: Gemini's ``candidatesTokenCount`` excludes thinking (``thoughtsTokenCount``) while
  OpenAI's completion tokens include reasoning, so the two are added here, once.
  ``promptTokenCount`` already includes ``cachedContentTokenCount``; ``toolUsePromptTokenCount``
  (results of Google's built-in tools fed to the model) is billed as input and added to it;
* errors: ``{"error": {"code", "message", "status", "details"}}`` → :class:`UpstreamStatusError`
  keeping the status class; the ``google.rpc.RetryInfo`` detail's ``retryDelay`` becomes
  ``retry-after`` (Google sends no such header).

Tool call ids: the Gemini API gives function calls no ids, so daytwo makes them up. Thinking
models attach a ``thoughtSignature`` to a function call that must come back with that call in
the next turn; it travels inside the id (``call_<random>__sig__<signature>``), which OpenAI
clients echo verbatim.

What cannot be honoured is refused with a 400 naming the parameter, never dropped silently:
``logprobs``, http(s) image URLs (Gemini reads images inline), non-function tools, content
parts other than text, images, audio and files.
"""

from __future__ import annotations

import math
import os
import re
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
    add_turn,
    bad,
    bad_tool_choice,
    data_url,
    declaration,
    function_calls,
    function_tool,
    max_tokens,
    part_text,
    stop_sequences,
    text_of,
    tool_choice,
    user_parts,
)
from daytwo.providers.openai_wire import error_json, status_message, token_count

#: Gemini ``finishReason`` → OpenAI ``finish_reason``; anything else (``OTHER``,
#: ``MALFORMED_FUNCTION_CALL``, reasons added after this was written) reads as ``stop``.
FINISH_REASONS = {
    "STOP": "stop",
    "MAX_TOKENS": "length",
    "SAFETY": "content_filter",
    "RECITATION": "content_filter",
    "LANGUAGE": "content_filter",
    "BLOCKLIST": "content_filter",
    "PROHIBITED_CONTENT": "content_filter",
    "SPII": "content_filter",
    "IMAGE_SAFETY": "content_filter",
    "IMAGE_PROHIBITED_CONTENT": "content_filter",
}
#: OpenAI ``finish_reason`` → Gemini ``finishReason`` (the simulator's encoder uses it).
GEMINI_FINISH = {"stop": "STOP", "length": "MAX_TOKENS", "tool_calls": "STOP"}

#: Separates a generated tool call id from the thought signature it carries.
SIGNATURE_SEP = "__sig__"
_ALNUM = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
_RETRY_INFO = "google.rpc.RetryInfo"
_SECONDS = re.compile(r"^\s*(\d+(?:\.\d+)?)s\s*$")

#: Google's canonical error ``status`` → HTTP status (for errors inside a stream, which arrive
#: after HTTP 200 was sent, when the error object carries no numeric ``code``).
_HTTP_BY_STATUS = {
    "INVALID_ARGUMENT": 400,
    "FAILED_PRECONDITION": 400,
    "OUT_OF_RANGE": 400,
    "UNAUTHENTICATED": 401,
    "PERMISSION_DENIED": 403,
    "NOT_FOUND": 404,
    "ABORTED": 409,
    "ALREADY_EXISTS": 409,
    "RESOURCE_EXHAUSTED": 429,
    "CANCELLED": 499,
    "INTERNAL": 500,
    "UNKNOWN": 500,
    "DATA_LOSS": 500,
    "NOT_IMPLEMENTED": 501,
    "UNAVAILABLE": 503,
    "DEADLINE_EXCEEDED": 504,
}


def _int(value: Any) -> int | None:
    return value if type(value) is int else None


# ------------------------------------------------------------------ OpenAI → Gemini request


def to_gemini_request(body: dict[str, Any]) -> dict[str, Any]:
    """An OpenAI Chat Completions body → a Gemini ``GenerateContentRequest``.

    Raises :class:`InvalidRequest` (400, naming the parameter) for what Gemini cannot honour.
    """
    if body.get("logprobs") or body.get("top_logprobs"):
        raise bad("`logprobs` is not supported by this deployment (Gemini).", "logprobs")
    system, contents = _to_contents(body.get("messages"))
    out: dict[str, Any] = {"contents": contents}
    if system:
        out["systemInstruction"] = {"parts": system}
    tools = body.get("tools")
    if tools:
        if not isinstance(tools, list):
            raise bad("expected an array of tools.", "tools")
        out["tools"] = [{"functionDeclarations": [_declaration(t, i) for i, t in enumerate(tools)]}]
        calling = _calling_config(body.get("tool_choice"))
        if calling is not None:
            out["toolConfig"] = {"functionCallingConfig": calling}
    config = _generation_config(body)
    if config:
        out["generationConfig"] = config
    return out


def _generation_config(body: dict[str, Any]) -> dict[str, Any]:
    cfg: dict[str, Any] = {}
    limit = max_tokens(body)
    if limit is not None:
        cfg["maxOutputTokens"] = limit
    stop = stop_sequences(body)
    if stop is not None:
        cfg["stopSequences"] = stop
    for key, name in (
        ("temperature", "temperature"),
        ("top_p", "topP"),
        ("seed", "seed"),
        ("presence_penalty", "presencePenalty"),
        ("frequency_penalty", "frequencyPenalty"),
    ):
        if body.get(key) is not None:
            cfg[name] = body[key]
    n = body.get("n")
    if n not in (None, 1):
        cfg["candidateCount"] = n
    fmt = body.get("response_format")
    kind = fmt.get("type") if isinstance(fmt, dict) else None
    if fmt is None or kind == "text":
        pass
    elif kind == "json_object":
        cfg["responseMimeType"] = "application/json"
    elif kind == "json_schema":
        cfg["responseMimeType"] = "application/json"
        spec = fmt.get("json_schema")
        schema = spec.get("schema") if isinstance(spec, dict) else None
        # responseJsonSchema takes JSON Schema as OpenAI clients write it; responseSchema takes
        # Google's OpenAPI subset and refuses e.g. `additionalProperties`, which strict OpenAI
        # schemas always carry.
        if isinstance(schema, dict):
            cfg["responseJsonSchema"] = schema
    else:
        raise bad(
            "expected `text`, `json_object` or `json_schema`.",
            "response_format.type",
        )
    return cfg


def _text_of(content: Any, param: str) -> str:
    # Refusal parts (an assistant's own earlier refusals) are left out, whatever the role.
    return text_of(content, param, skip_refusals=True)


def _to_contents(messages: Any) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    conversation = Conversation(messages, skip_refusals=True)
    contents: list[dict[str, Any]] = []
    names: dict[str, str] = {}  # tool call id → function name, for the tool results that follow
    for role, msg, param in conversation:
        if role == "user":
            turn, parts = (
                "user",
                user_parts(msg.get("content"), f"{param}.content", "Gemini", _USER),
            )
        elif role == "assistant":
            turn, parts = "model", _model_parts(msg, param, names)
            if not parts:
                continue
        elif role in ("tool", "function"):
            turn, parts = "user", [_function_response(msg, param, names)]
        else:
            raise bad(f"role `{role}` is not supported by this deployment (Gemini).", param)
        # Parallel tool results must reach Gemini as one turn.
        add_turn(contents, turn, parts, "parts")
    if not contents:
        raise bad("at least one user or assistant message is required (Gemini).", "messages")
    return [{"text": t} for t in conversation.system], contents


def _audio_part(part: dict[str, Any], param: str) -> dict[str, Any]:
    audio = part.get("input_audio")
    fmt = audio.get("format") if isinstance(audio, dict) else None
    data = audio.get("data") if isinstance(audio, dict) else None
    if not isinstance(fmt, str) or not isinstance(data, str):
        raise bad("expected `data` and `format`.", f"{param}.input_audio")
    return {"inlineData": {"mimeType": f"audio/{fmt}", "data": data}}


def _file_part(part: dict[str, Any], param: str) -> dict[str, Any]:
    spec = part.get("file")
    file_data = spec.get("file_data") if isinstance(spec, dict) else None
    return _inline_data(file_data, f"{param}.file.file_data")


def _image_part(part: dict[str, Any], param: str) -> dict[str, Any]:
    spec = part.get("image_url")
    url = spec.get("url") if isinstance(spec, dict) else spec
    if isinstance(url, str) and url.startswith(("https://", "http://")):
        raise bad(
            "image URLs are not supported by this deployment (Gemini reads images inline or "
            "from its Files API): send the image as a base64 data URL "
            "(data:image/<type>;base64,<data>).",
            f"{param}.image_url",
        )
    return _inline_data(url, f"{param}.image_url")


def _inline_data(url: Any, param: str) -> dict[str, Any]:
    parsed = data_url(url)
    if parsed is not None and all(parsed):
        mime, data = parsed
        return {"inlineData": {"mimeType": mime, "data": data}}
    raise bad("expected a base64 data URL (data:<mime type>;base64,<data>).", param)


_USER: dict[str, PartWriter] = {
    "text": lambda part, _: {"text": part_text(part)},
    "image_url": _image_part,
    "input_audio": _audio_part,
    "file": _file_part,
}


def _model_parts(msg: dict[str, Any], param: str, names: dict[str, str]) -> list[dict[str, Any]]:
    parts: list[dict[str, Any]] = []
    text = _text_of(msg.get("content"), f"{param}.content")
    if text:
        parts.append({"text": text})
    if not isinstance(msg.get("tool_calls") or (), list | tuple):
        raise bad("expected an array of tool calls.", f"{param}.tool_calls")
    for call in function_calls(msg, param):
        if not isinstance(call.arguments, dict):
            raise bad(
                "`arguments` must be a JSON object.",
                f"{param}.tool_calls[{call.index}].function.arguments",
            )
        out: dict[str, Any] = {"functionCall": {"name": call.name, "args": call.arguments}}
        if isinstance(call.id, str):
            names[call.id] = call.name
            _, _, signature = call.id.partition(SIGNATURE_SEP)
            if signature:
                out["thoughtSignature"] = signature
        parts.append(out)
    return parts


def _function_response(msg: dict[str, Any], param: str, names: dict[str, str]) -> dict[str, Any]:
    call_id = msg.get("tool_call_id")
    name = names.get(call_id) if isinstance(call_id, str) else None
    if name is None and isinstance(msg.get("name"), str):
        name = msg["name"]  # the legacy `function` role names its function
    if name is None:
        raise bad(
            "no earlier assistant tool call has this id (Gemini needs the function's name).",
            f"{param}.tool_call_id",
        )
    text = _text_of(msg.get("content"), f"{param}.content")
    try:
        value = orjson.loads(text)
    except orjson.JSONDecodeError:
        value = None
    # Gemini wants an object; anything else goes under "output", the key its docs name.
    response = value if isinstance(value, dict) else {"output": text}
    return {"functionResponse": {"name": name, "response": response}}


def _declaration(tool: Any, i: int) -> dict[str, Any]:
    fn = function_tool(tool, i, "Gemini")
    out = declaration(fn)
    params = fn.get("parameters")
    if isinstance(params, dict) and params:
        # JSON Schema as written (see responseJsonSchema above); `parameters` is the OpenAPI
        # subset.
        out["parametersJsonSchema"] = params
    return out


def _calling_config(choice: Any) -> dict[str, Any] | None:
    mode = tool_choice(choice)
    if isinstance(mode, dict):
        if not isinstance(mode.get("name"), str):
            raise bad_tool_choice()
        return {"mode": "ANY", "allowedFunctionNames": [mode["name"]]}
    return None if mode is None else {"mode": _CALLING_MODES[mode]}


#: ``tool_choice`` → ``functionCallingConfig.mode``.
_CALLING_MODES = {"auto": "AUTO", "required": "ANY", "none": "NONE"}


# ------------------------------------------------------------------ answers and usage


def usage_from_gemini(meta: Any) -> Usage | None:
    """``usageMetadata`` → :class:`Usage` (OpenAI's convention), None when there is none.

    Zero counts are omitted on the wire (proto3 JSON), so an absent count reads as 0.
    """
    if not isinstance(meta, dict):
        return None
    prompt = token_count(meta.get("promptTokenCount"))
    candidates = token_count(meta.get("candidatesTokenCount"))
    if prompt is None and candidates is None and token_count(meta.get("totalTokenCount")) is None:
        return None
    thoughts = token_count(meta.get("thoughtsTokenCount")) or 0
    tool_use = token_count(meta.get("toolUsePromptTokenCount")) or 0
    return Usage(
        input_tokens=(prompt or 0) + tool_use,
        output_tokens=(candidates or 0) + thoughts,
        cached_input_tokens=token_count(meta.get("cachedContentTokenCount")) or 0,
        reasoning_tokens=thoughts,
    )


def finish_reason(reason: Any, *, called: bool) -> str:
    """Gemini's ``finishReason`` of a candidate → OpenAI's. Gemini says ``STOP`` after function
    calls; OpenAI clients expect ``tool_calls``."""
    if called and reason in (None, "STOP", "FINISH_REASON_UNSPECIFIED"):
        return "tool_calls"
    return FINISH_REASONS.get(reason, "stop") if isinstance(reason, str) else "stop"


def tool_call_id(part: dict[str, Any]) -> str:
    """A fresh OpenAI tool call id for a ``functionCall`` part, carrying its thought signature."""
    call = part.get("functionCall")
    given = call.get("id") if isinstance(call, dict) else None
    base = (
        given
        if isinstance(given, str) and given
        else "call_" + "".join(_ALNUM[b % 62] for b in os.urandom(24))
    )
    signature = part.get("thoughtSignature")
    if isinstance(signature, str) and signature:
        return f"{base}{SIGNATURE_SEP}{signature}"
    return base


def candidate_parts(cand: dict[str, Any]) -> tuple[list[str], list[dict[str, Any]]]:
    """A candidate's visible text pieces and its function calls as OpenAI tool calls.
    Thought summaries (``thought: true``) are not the answer and are left out."""
    content = cand.get("content")
    parts = content.get("parts") if isinstance(content, dict) else None
    if parts is None:
        return [], []  # a blocked candidate has no content
    if not isinstance(parts, list):
        raise UpstreamProtocolError("upstream candidate `content.parts` is not an array")
    texts: list[str] = []
    calls: list[dict[str, Any]] = []
    for part in parts:
        if not isinstance(part, dict):
            raise UpstreamProtocolError("upstream content part is not an object")
        if part.get("thought") is True:
            continue
        text = part.get("text")
        if text is not None:
            if not isinstance(text, str):
                raise UpstreamProtocolError("upstream text part is not a string")
            texts.append(text)
        call = part.get("functionCall")
        if call is not None:
            if not isinstance(call, dict) or not isinstance(call.get("name"), str):
                raise UpstreamProtocolError("upstream functionCall has no name")
            args = call.get("args")
            if args is None:
                args = {}
            if not isinstance(args, dict):
                raise UpstreamProtocolError("upstream functionCall args is not an object")
            calls.append(tool_call(tool_call_id(part), call["name"], orjson.dumps(args).decode()))
    return texts, calls


def candidate_index(cand: dict[str, Any]) -> int:
    # proto3 JSON omits fields at their default: no `index` is index 0.
    index = _int(cand.get("index"))
    return 0 if index is None else index


def blocked(resp: dict[str, Any]) -> bool:
    """Was the prompt itself refused (``promptFeedback.blockReason``, no candidates)?"""
    feedback = resp.get("promptFeedback")
    return isinstance(feedback, dict) and isinstance(feedback.get("blockReason"), str)


def new_completion_id() -> str:
    return "chatcmpl-" + "".join(_ALNUM[b % 62] for b in os.urandom(29))


def to_openai_completion(
    resp: dict[str, Any], *, model: str, created: int | None = None
) -> dict[str, Any]:
    """A ``GenerateContentResponse`` → an OpenAI ``chat.completion`` (usage when reported).
    ``model`` names the answer when the upstream reports no ``modelVersion``."""
    candidates = resp.get("candidates")
    if candidates is None:
        candidates = []
    if not isinstance(candidates, list):
        raise UpstreamProtocolError("upstream `candidates` is not an array")
    choices: list[dict[str, Any]] = []
    for cand in candidates:
        if not isinstance(cand, dict):
            raise UpstreamProtocolError("upstream candidate is not an object")
        texts, calls = candidate_parts(cand)
        finish = finish_reason(cand.get("finishReason"), called=bool(calls))
        choices.append(
            completion_choice(assistant_message(texts, calls), finish, candidate_index(cand))
        )
    if not choices:
        if not blocked(resp):
            raise UpstreamProtocolError("upstream answered with no candidates")
        refused = {"role": "assistant", "content": None, "refusal": None}
        choices.append(completion_choice(refused, "content_filter"))
    rid = resp.get("responseId")
    version = resp.get("modelVersion")
    return completion(
        completion_id=rid if isinstance(rid, str) and rid else new_completion_id(),
        model=version if isinstance(version, str) and version else model,
        choices=sorted(choices, key=lambda c: int(c["index"])),
        usage=usage_from_gemini(resp.get("usageMetadata")),
        created=created,
    )


# ------------------------------------------------------------------ errors


def _error_object(parsed: Any) -> dict[str, Any] | None:
    # Some Google front ends wrap the error in a one-element array.
    if isinstance(parsed, list) and len(parsed) == 1:
        parsed = parsed[0]
    err = parsed.get("error") if isinstance(parsed, dict) else None
    return err if isinstance(err, dict) else None


def retry_after(err: dict[str, Any]) -> str | None:
    """Seconds to wait, from a ``google.rpc.RetryInfo`` detail (``"retryDelay": "37s"``)."""
    details = err.get("details")
    for detail in details if isinstance(details, list) else ():
        if not isinstance(detail, dict) or not str(detail.get("@type", "")).endswith(_RETRY_INFO):
            continue
        delay = detail.get("retryDelay")
        match = _SECONDS.match(delay) if isinstance(delay, str) else None
        if match:
            return str(math.ceil(float(match.group(1))))
    return None


def error_from_gemini(
    status: int, body: bytes, headers: dict[str, str], redact: Callable[[str], str]
) -> UpstreamStatusError:
    """A Gemini error response → :class:`UpstreamStatusError` keeping its status class, its
    Google ``status`` (as ``code``) and when to retry. ``headers`` have lower-case names."""
    code: str | None = None
    parsed = error_json(body)
    message = status_message(status, body if parsed is None else b"")
    err = _error_object(parsed)
    wait = headers.get("retry-after")
    if err is not None:
        if isinstance(err.get("message"), str) and err["message"]:
            message = err["message"]
        code = err["status"] if isinstance(err.get("status"), str) else None
        wait = wait or retry_after(err)
    passed = {"retry-after": wait} if wait else {}
    return UpstreamStatusError(status, redact(message), code=code, headers=passed)


def error_from_event(data: dict[str, Any], redact: Callable[[str], str]) -> UpstreamStatusError:
    """An error object inside a stream (HTTP 200 already sent) → its error class."""
    err = data.get("error")
    err = err if isinstance(err, dict) else {}
    kind = err.get("status") if isinstance(err.get("status"), str) else None
    status = _int(err.get("code")) or _HTTP_BY_STATUS.get(kind or "", 500)
    msg = err.get("message")
    wait = retry_after(err)
    return UpstreamStatusError(
        status if 400 <= status <= 599 else 500,
        redact(f"upstream stream error: {msg if isinstance(msg, str) else kind or 'unknown'}"),
        code=kind,
        headers={"retry-after": wait} if wait else None,
    )
