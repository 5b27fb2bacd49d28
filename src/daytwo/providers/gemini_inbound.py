"""A Gemini API request read as the OpenAI-shaped request daytwo's pipeline speaks; pure
functions, no I/O. The simulator's Gemini door uses it today, a Gemini ingress would tomorrow.

* ``GenerateContentRequest`` → Chat Completions: ``systemInstruction`` → a system message,
  ``contents`` → messages (``functionCall`` parts → assistant ``tool_calls``, ``functionResponse``
  parts → ``tool`` messages answering the earlier call of that name), ``generationConfig`` →
  sampling parameters and ``response_format``, ``functionDeclarations`` → function tools,
  ``toolConfig.functionCallingConfig`` → ``tool_choice``;
* ``EmbedContentRequest`` / ``BatchEmbedContentsRequest`` → an embeddings request.

Schemas in Google's OpenAPI subset (``parameters``, ``responseSchema``: upper-case types) are
rewritten as JSON Schema; ``parametersJsonSchema`` and ``responseJsonSchema`` pass as they are.
Errors are :class:`InvalidRequest` naming the Gemini field, in Google's message style.
"""

from __future__ import annotations

from typing import Any

import orjson

from daytwo.core.errors import InvalidRequest
from daytwo.providers.gemini_embed import resource_name

#: ``functionCallingConfig.mode`` → OpenAI ``tool_choice``.
_TOOL_CHOICE = {"AUTO": "auto", "VALIDATED": "auto", "ANY": "required", "NONE": "none"}

#: Default ``outputDimensionality`` of Google's embedding models (the simulator follows it).
GEMINI_EMBEDDING_DIMENSIONS = 3072
TEXT_EMBEDDING_DIMENSIONS = 768


def _bad(field: str, message: str) -> InvalidRequest:
    return InvalidRequest(f"* {field}: {message}", param=field)


def openai_request_from_gemini(body: dict[str, Any], *, model: str, stream: bool) -> dict[str, Any]:
    """A ``GenerateContentRequest`` for ``model`` → the equivalent OpenAI Chat Completions body."""
    contents = body.get("contents")
    if not isinstance(contents, list) or not contents:
        raise _bad("GenerateContentRequest.contents", "contents is not specified")
    messages: list[dict[str, Any]] = []
    system = body.get("systemInstruction")
    if system is not None:
        text = "".join(_texts(system, "GenerateContentRequest.system_instruction"))
        if text:
            messages.append({"role": "system", "content": text})
    pending: dict[str, list[str]] = {}  # function name → ids of calls awaiting a response
    for i, content in enumerate(contents):
        field = f"GenerateContentRequest.contents[{i}]"
        if not isinstance(content, dict):
            raise _bad(field, "expected a Content object")
        role = content.get("role", "user")
        if role == "model":
            messages.append(_assistant(content, field, pending))
        elif role == "user":
            messages.extend(_user(content, field, pending))
        else:
            raise _bad(f"{field}.role", f"Please use a valid role: user, model. Got {role!r}.")
    out: dict[str, Any] = {"model": model, "messages": messages}
    out.update(_sampling(body.get("generationConfig")))
    tools = _tools(body.get("tools"))
    if tools:
        out["tools"] = tools
        choice = _tool_choice(body.get("toolConfig"))
        if choice is not None:
            out["tool_choice"] = choice
    if stream:
        out["stream"] = True
        out["stream_options"] = {"include_usage": True}
    return out


def _parts(content: Any, field: str) -> list[dict[str, Any]]:
    parts = content.get("parts") if isinstance(content, dict) else None
    if not isinstance(parts, list) or not all(isinstance(p, dict) for p in parts):
        raise _bad(f"{field}.parts", "contents.parts must not be empty")
    return parts


def _texts(content: Any, field: str) -> list[str]:
    return [str(p["text"]) for p in _parts(content, field) if "text" in p and not p.get("thought")]


def _user(
    content: dict[str, Any], field: str, pending: dict[str, list[str]]
) -> list[dict[str, Any]]:
    tool_messages: list[dict[str, Any]] = []
    parts: list[dict[str, Any]] = []
    for j, part in enumerate(_parts(content, field)):
        where = f"{field}.parts[{j}]"
        if "text" in part:
            parts.append({"type": "text", "text": str(part["text"])})
        elif "inlineData" in part:
            blob = part["inlineData"]
            if not isinstance(blob, dict) or not isinstance(blob.get("data"), str):
                raise _bad(f"{where}.inline_data", "expected mimeType and data")
            url = f"data:{blob.get('mimeType')};base64,{blob['data']}"
            parts.append({"type": "image_url", "image_url": {"url": url}})
        elif "fileData" in part:
            ref = part["fileData"]
            uri = ref.get("fileUri") if isinstance(ref, dict) else None
            if not isinstance(uri, str):
                raise _bad(f"{where}.file_data", "expected fileUri")
            parts.append({"type": "image_url", "image_url": {"url": uri}})
        elif "functionResponse" in part:
            resp = part["functionResponse"]
            name = resp.get("name") if isinstance(resp, dict) else None
            if not isinstance(name, str):
                raise _bad(f"{where}.function_response.name", "Name is required.")
            waiting = pending.get(name)
            call_id = waiting.pop(0) if waiting else f"call_{name}"
            result = resp.get("response")
            tool_messages.append(
                {
                    "role": "tool",
                    "tool_call_id": call_id,
                    "content": orjson.dumps(result if result is not None else {}).decode(),
                }
            )
        else:
            raise _bad(where, "this part type is not supported by daytwo")
    out = tool_messages
    if parts:
        only_text = all(p["type"] == "text" for p in parts)
        body: Any = "".join(p["text"] for p in parts) if only_text else parts
        out.append({"role": "user", "content": body})
    return out


def _assistant(
    content: dict[str, Any], field: str, pending: dict[str, list[str]]
) -> dict[str, Any]:
    texts: list[str] = []
    calls: list[dict[str, Any]] = []
    for j, part in enumerate(_parts(content, field)):
        if part.get("thought"):
            continue  # thought summaries are not replayed
        if "text" in part:
            texts.append(str(part["text"]))
        elif "functionCall" in part:
            call = part["functionCall"]
            name = call.get("name") if isinstance(call, dict) else None
            if not isinstance(name, str):
                raise _bad(f"{field}.parts[{j}].function_call.name", "Name is required.")
            call_id = f"call_{len(calls)}_{name}"
            pending.setdefault(name, []).append(call_id)
            args = call.get("args")
            calls.append(
                {
                    "id": call_id,
                    "type": "function",
                    "function": {
                        "name": name,
                        "arguments": orjson.dumps(args if isinstance(args, dict) else {}).decode(),
                    },
                }
            )
    msg: dict[str, Any] = {"role": "assistant", "content": "".join(texts) if texts else None}
    if calls:
        msg["tool_calls"] = calls
    return msg


def _sampling(cfg: Any) -> dict[str, Any]:
    if cfg is None:
        return {}
    if not isinstance(cfg, dict):
        raise _bad("GenerateContentRequest.generation_config", "expected an object")
    out: dict[str, Any] = {}
    for name, key in (
        ("maxOutputTokens", "max_tokens"),
        ("temperature", "temperature"),
        ("topP", "top_p"),
        ("candidateCount", "n"),
        ("seed", "seed"),
        ("presencePenalty", "presence_penalty"),
        ("frequencyPenalty", "frequency_penalty"),
    ):
        if cfg.get(name) is not None:
            out[key] = cfg[name]
    stops = cfg.get("stopSequences")
    if isinstance(stops, list) and stops:
        out["stop"] = stops
    mime = cfg.get("responseMimeType")
    schema = cfg.get("responseJsonSchema")
    if schema is None and cfg.get("responseSchema") is not None:
        schema = json_schema(cfg["responseSchema"])
    if schema is not None and mime != "application/json":
        raise _bad(
            "GenerateContentRequest.generation_config.response_mime_type",
            "When using response_schema, response_mime_type must be application/json.",
        )
    if mime == "application/json":
        if isinstance(schema, dict):
            spec = {"name": "response", "schema": schema}
            out["response_format"] = {"type": "json_schema", "json_schema": spec}
        else:
            out["response_format"] = {"type": "json_object"}
    return out


def _tools(tools: Any) -> list[dict[str, Any]]:
    if tools is None:
        return []
    if not isinstance(tools, list):
        raise _bad("GenerateContentRequest.tools", "expected an array")
    out: list[dict[str, Any]] = []
    for i, tool in enumerate(tools):
        decls = tool.get("functionDeclarations") if isinstance(tool, dict) else None
        for k, decl in enumerate(decls if isinstance(decls, list) else ()):
            field = f"GenerateContentRequest.tools[{i}].function_declarations[{k}]"
            if not isinstance(decl, dict) or not isinstance(decl.get("name"), str):
                raise _bad(f"{field}.name", "Name is required.")
            fn: dict[str, Any] = {"name": decl["name"]}
            if isinstance(decl.get("description"), str):
                fn["description"] = decl["description"]
            params = decl.get("parametersJsonSchema")
            if params is None and decl.get("parameters") is not None:
                params = json_schema(decl["parameters"])
            fn["parameters"] = params if isinstance(params, dict) else {"type": "object"}
            out.append({"type": "function", "function": fn})
    return out


def _tool_choice(config: Any) -> Any:
    calling = config.get("functionCallingConfig") if isinstance(config, dict) else None
    if not isinstance(calling, dict):
        return None
    mode = calling.get("mode", "AUTO")
    allowed = calling.get("allowedFunctionNames")
    if mode == "ANY" and isinstance(allowed, list) and len(allowed) == 1:
        return {"type": "function", "function": {"name": str(allowed[0])}}
    if mode not in _TOOL_CHOICE:
        raise _bad(
            "GenerateContentRequest.tool_config.function_calling_config.mode",
            f"invalid value {mode!r}",
        )
    return _TOOL_CHOICE[mode]


def json_schema(schema: Any) -> Any:
    """Google's OpenAPI-subset ``Schema`` → JSON Schema: types in lower case, ``nullable``
    folded into the type."""
    if isinstance(schema, list):
        return [json_schema(s) for s in schema]
    if not isinstance(schema, dict):
        return schema
    out: dict[str, Any] = {}
    for key, value in schema.items():
        if key == "type" and isinstance(value, str):
            out["type"] = value.lower()
        elif key in ("properties", "$defs", "definitions") and isinstance(value, dict):
            out[key] = {name: json_schema(sub) for name, sub in value.items()}
        elif key in ("items", "anyOf", "oneOf", "allOf"):
            out[key] = json_schema(value)
        elif key != "nullable":
            out[key] = value
    if schema.get("nullable") is True and isinstance(out.get("type"), str):
        out["type"] = [out["type"], "null"]
    return out


# ------------------------------------------------------------------ embeddings


def openai_embeddings_from_gemini(
    body: dict[str, Any], *, model: str, batch: bool
) -> dict[str, Any]:
    """An ``EmbedContentRequest`` (or, with ``batch``, a ``BatchEmbedContentsRequest``) for
    ``model`` → an OpenAI embeddings body."""
    if batch:
        requests = body.get("requests")
        if not isinstance(requests, list) or not requests:
            raise _bad("BatchEmbedContentsRequest.requests", "requests is not specified")
    else:
        requests = [body]
    texts: list[str] = []
    dims: Any = None
    for i, req in enumerate(requests):
        field = f"BatchEmbedContentsRequest.requests[{i}]" if batch else "EmbedContentRequest"
        if not isinstance(req, dict):
            raise _bad(field, "expected an EmbedContentRequest")
        named = req.get("model")
        if batch and named != resource_name(model):
            raise _bad(
                f"{field}.model",
                f"Model {named!r} does not match the model in the URL ({resource_name(model)}).",
            )
        texts.append("".join(_texts(req.get("content"), f"{field}.content")))
        dims = req.get("outputDimensionality", dims)
    if dims is None:
        dims = (
            GEMINI_EMBEDDING_DIMENSIONS
            if model.startswith("gemini-")
            else TEXT_EMBEDDING_DIMENSIONS
        )
    return {"model": model, "input": texts, "dimensions": dims}
