"""Reading the OpenAI-shaped request body the engine answers: the parameters that shape the
answer, validated the way OpenAI validates them (an :class:`InvalidRequest` names the parameter)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from daytwo.core.errors import InvalidRequest

DEFAULT_DIMENSIONS = 1536
LARGE_DIMENSIONS = 3072


def _bad(message: str, param: str | None = None, code: str | None = None) -> InvalidRequest:
    return InvalidRequest(message, param=param, code=code)


def _positive_int(body: dict[str, Any], key: str, maximum: int | None = None) -> int | None:
    value = body.get(key)
    if value is None:
        return None
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise _bad(f"Invalid '{key}': expected an integer of at least 1.", key, "invalid_value")
    if maximum is not None and value > maximum:
        raise _bad(f"Invalid '{key}': expected at most {maximum}.", key, "integer_above_max_value")
    return value


def _model(body: dict[str, Any]) -> str:
    model = body.get("model")
    if not isinstance(model, str) or not model:
        raise _bad("you must provide a model parameter", "model")
    return model


@dataclass(frozen=True, slots=True)
class ChatParams:
    model: str
    n: int
    limit: int | None
    stop: tuple[str, ...]
    #: The function to call, or None to answer with content.
    tool: dict[str, Any] | None
    json_mode: bool
    schema: Any
    stream: bool
    include_usage: bool
    #: vLLM's ``stream_options.continuous_usage_stats``: the running usage on every chunk.
    continuous_usage: bool = False

    @classmethod
    def parse(cls, body: dict[str, Any]) -> ChatParams:
        model = _model(body)
        messages = body.get("messages")
        if messages is None:
            raise _bad(
                "Missing required parameter: 'messages'.", "messages", "missing_required_parameter"
            )
        if not isinstance(messages, list) or not messages:
            raise _bad("Invalid 'messages': expected a non-empty array.", "messages", "empty_array")
        n = _positive_int(body, "n", 128) or 1
        limit = _positive_int(body, "max_completion_tokens")
        if limit is None:
            limit = _positive_int(body, "max_tokens")
        stop = body.get("stop")
        if isinstance(stop, str):
            stops: tuple[str, ...] = (stop,) if stop else ()
        elif isinstance(stop, list) and all(isinstance(s, str) for s in stop) and len(stop) <= 4:
            stops = tuple(s for s in stop if s)
        elif stop is None:
            stops = ()
        else:
            raise _bad("Invalid 'stop': expected a string or an array of up to 4 strings.", "stop")
        json_mode, schema = _response_format(body.get("response_format"))
        opts = body.get("stream_options")
        return cls(
            model=model,
            n=n,
            limit=limit,
            stop=stops,
            tool=_tool_to_call(body, messages),
            json_mode=json_mode,
            schema=schema,
            stream=body.get("stream") is True,
            include_usage=isinstance(opts, dict) and opts.get("include_usage") is True,
            continuous_usage=isinstance(opts, dict) and opts.get("continuous_usage_stats") is True,
        )


def _tool_to_call(body: dict[str, Any], messages: list[Any]) -> dict[str, Any] | None:
    raw = body.get("tools")
    if raw is not None and not isinstance(raw, list):
        raise _bad("Invalid 'tools': expected an array.", "tools")
    functions: list[dict[str, Any]] = [
        t["function"]
        for t in raw or ()
        if isinstance(t, dict)
        and t.get("type", "function") == "function"
        and isinstance(t.get("function"), dict)
        and isinstance(t["function"].get("name"), str)
    ]
    choice = body.get("tool_choice")
    if choice is not None and not raw:
        raise _bad(
            "Invalid value for 'tool_choice': 'tool_choice' is only allowed when 'tools' are "
            "specified.",
            "tool_choice",
        )
    if not functions or choice == "none":
        return None
    if isinstance(choice, dict) and choice.get("type") == "function":
        fn = choice.get("function")
        name = fn.get("name") if isinstance(fn, dict) else None
        for function in functions:
            if function["name"] == name:
                return function
        raise _bad(f"Invalid 'tool_choice': no function named '{name}' in 'tools'.", "tool_choice")
    last = messages[-1]
    if choice == "required" or not (isinstance(last, dict) and last.get("role") == "tool"):
        return functions[0]
    return None


def _response_format(fmt: Any) -> tuple[bool, Any]:
    if fmt is None:
        return False, None
    kind = fmt.get("type") if isinstance(fmt, dict) else None
    if kind == "text":
        return False, None
    if kind == "json_object":
        return True, None
    if kind == "json_schema":
        spec = fmt.get("json_schema")
        if not isinstance(spec, dict):
            raise _bad(
                "Missing required parameter: 'response_format.json_schema'.",
                "response_format.json_schema",
                "missing_required_parameter",
            )
        schema = spec.get("schema")
        return True, schema if isinstance(schema, dict) else {"type": "object", "properties": {}}
    raise _bad(
        "Invalid 'response_format.type': expected 'text', 'json_object' or 'json_schema'.",
        "response_format.type",
    )


def embedding_params(body: dict[str, Any]) -> tuple[str, list[str | list[int]], int, bool]:
    model = _model(body)
    raw = body.get("input")
    items: list[str | list[int]]
    if isinstance(raw, str):
        items = [raw]
    elif isinstance(raw, list) and raw and all(_is_int(x) for x in raw):
        items = [list(raw)]
    elif (
        isinstance(raw, list)
        and raw
        and all(
            isinstance(x, str) or (isinstance(x, list) and x and all(_is_int(t) for t in x))
            for x in raw
        )
    ):
        items = list(raw)
    elif raw is None:
        raise _bad("Missing required parameter: 'input'.", "input", "missing_required_parameter")
    else:
        raise _bad(
            "Invalid 'input': expected a string, an array of strings, or token arrays.", "input"
        )
    dims = _positive_int(body, "dimensions", 16_384)
    if dims is None:
        dims = LARGE_DIMENSIONS if "large" in model else DEFAULT_DIMENSIONS
    encoding = body.get("encoding_format", "float")
    if encoding not in (None, "float", "base64"):
        raise _bad("Invalid 'encoding_format': expected 'float' or 'base64'.", "encoding_format")
    return model, items, dims, encoding == "base64"


def _is_int(x: Any) -> bool:
    return isinstance(x, int) and not isinstance(x, bool)
