"""Reading an OpenAI Chat Completions request, for the adapters that translate it into another
wire format (Anthropic Messages, Gemini, Bedrock Converse); pure functions, no I/O.

Each of those walks the same request: system and developer messages apart, the turns in order,
text and image parts, an assistant's tool calls with JSON arguments, function tools and
``tool_choice``. The walking and its checks live here, once; each wire module says only what it
writes. What a format cannot take is a 400 (:class:`InvalidRequest`) naming the parameter, in
the request's own spelling (``messages[2].content[0].image_url``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import orjson

from daytwo.core.errors import InvalidRequest

#: A content part (and where it stands, for errors) → the upstream's block for it.
PartWriter = Callable[[dict[str, Any], str], dict[str, Any]]

#: The schema of a function tool that declares no parameters.
EMPTY_SCHEMA: Mapping[str, Any] = {"type": "object", "properties": {}}


def bad(message: str, param: str) -> InvalidRequest:
    return InvalidRequest(message, param=param)


def text_of(content: Any, param: str, *, skip_refusals: bool = False) -> str:
    """A message's content (a string or text parts) as one string; ``skip_refusals`` leaves out
    refusal parts (an assistant's own earlier refusals) instead of refusing them."""
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        texts = []
        for part in content:
            kind = part.get("type") if isinstance(part, dict) else None
            if kind == "refusal" and skip_refusals:
                continue
            if kind != "text":
                raise bad("only text parts are supported here.", param)
            texts.append(str(part.get("text", "")))
        return "\n".join(texts)
    raise bad("expected a string or an array of content parts.", param)


class Conversation:
    """An OpenAI ``messages`` array, walked in order.

    Iterating yields ``(role, message, param)`` for every message but the system and developer
    ones, whose texts collect in :attr:`system` (blank ones dropped: upstreams refuse blank
    system text). ``skip_refusals`` is :func:`text_of`'s, for those texts.
    """

    def __init__(self, messages: Any, *, skip_refusals: bool = False) -> None:
        if not isinstance(messages, list) or not messages:
            raise bad("`messages` must be a non-empty array.", "messages")
        self._messages = messages
        self._skip_refusals = skip_refusals
        self.system: list[str] = []

    def __iter__(self) -> Iterator[tuple[Any, dict[str, Any], str]]:
        for i, msg in enumerate(self._messages):
            param = f"messages[{i}]"
            if not isinstance(msg, dict):
                raise bad("expected an object.", param)
            role = msg.get("role")
            if role in ("system", "developer"):
                content = msg.get("content")
                text = text_of(content, f"{param}.content", skip_refusals=self._skip_refusals)
                if text:
                    self.system.append(text)
                continue
            yield role, msg, param


def add_turn(turns: list[dict[str, Any]], role: str, blocks: list[Any], key: str) -> None:
    """Append a turn; consecutive same-role messages (parallel tool results, a user message
    after them) become one turn, as upstreams that want alternating turns need."""
    if turns and turns[-1]["role"] == role:
        turns[-1][key].extend(blocks)
    else:
        turns.append({"role": role, key: blocks})


def user_parts(
    content: Any, param: str, provider: str, writers: Mapping[str, PartWriter]
) -> list[dict[str, Any]]:
    """A user message's content → the upstream's blocks: a string is one ``text`` part, and
    each part's ``type`` picks its writer; a type with none is refused naming ``provider``."""
    if isinstance(content, str):
        return [writers["text"]({"type": "text", "text": content}, param)]
    if not isinstance(content, list):
        raise bad("expected a string or an array of content parts.", param)
    blocks = []
    for j, part in enumerate(content):
        kind = part.get("type") if isinstance(part, dict) else None
        writer = writers.get(kind) if isinstance(kind, str) else None
        if writer is None:
            raise bad(
                f"content part type `{kind}` is not supported by this deployment ({provider}).",
                f"{param}[{j}]",
            )
        blocks.append(writer(part, f"{param}[{j}]"))
    return blocks


def part_text(part: dict[str, Any]) -> str:
    return str(part.get("text", ""))


def image_url(spec: Any, param: str) -> str:
    """The URL of an ``image_url`` part (an object with ``url``, or the URL itself)."""
    url = spec.get("url") if isinstance(spec, dict) else spec
    if not isinstance(url, str):
        raise bad("expected an image URL.", param)
    return url


def data_url(url: Any) -> tuple[str, str] | None:
    """``data:<media type>;base64,<data>`` → (media type, base64 data); None for anything else
    (another URL, another encoding)."""
    if not (isinstance(url, str) and url.startswith("data:")):
        return None
    head, sep, data = url[5:].partition(",")
    media_type, _, encoding = head.partition(";")
    if not sep or encoding != "base64":
        return None
    return media_type, data


@dataclass(frozen=True, slots=True)
class FunctionCall:
    """One tool call of an assistant message: its position, its ``id`` as the client sent it,
    the function's name and its arguments parsed (any JSON value)."""

    index: int
    id: Any
    name: str
    arguments: Any


def function_calls(msg: dict[str, Any], param: str) -> Iterator[FunctionCall]:
    """An assistant message's ``tool_calls``; a call that is not a named function, or whose
    ``arguments`` are not JSON, is a 400 naming it."""
    for k, call in enumerate(msg.get("tool_calls") or ()):
        where = f"{param}.tool_calls[{k}]"
        fn = call.get("function") if isinstance(call, dict) else None
        if not isinstance(fn, dict) or not isinstance(fn.get("name"), str):
            raise bad("expected a function call.", where)
        try:
            args = orjson.loads(fn.get("arguments") or "{}")
        except orjson.JSONDecodeError as exc:
            raise bad("`arguments` must be a JSON object.", f"{where}.function.arguments") from exc
        yield FunctionCall(k, call.get("id"), fn["name"], args)


def function_tool(tool: Any, i: int, provider: str) -> dict[str, Any]:
    """``tools[i]``'s ``function`` object (its ``name`` a string); any other tool type is
    refused naming ``provider``."""
    fn = tool.get("function") if isinstance(tool, dict) else None
    if (
        not isinstance(tool, dict)
        or tool.get("type", "function") != "function"
        or not (isinstance(fn, dict) and isinstance(fn.get("name"), str))
    ):
        raise bad(
            f"only function tools are supported by this deployment ({provider}).", f"tools[{i}]"
        )
    return fn


def declaration(fn: dict[str, Any]) -> dict[str, Any]:
    """A function's ``name``, and its ``description`` when it has one."""
    out: dict[str, Any] = {"name": fn["name"]}
    if fn.get("description"):
        out["description"] = fn["description"]
    return out


def object_schema(params: Any) -> Any:
    """A function's ``parameters``, or the empty object schema when it declares none."""
    return params if isinstance(params, dict) else dict(EMPTY_SCHEMA)


def tool_choice(choice: Any) -> str | dict[str, Any] | None:
    """``tool_choice`` read: None when absent, ``auto``, ``required`` or ``none``, or the named
    function's ``function`` object; anything else is a 400 naming ``tool_choice``."""
    if choice is None or (isinstance(choice, str) and choice in ("auto", "required", "none")):
        return choice
    fn = choice.get("function") if isinstance(choice, dict) else None
    if not isinstance(fn, dict):
        raise bad_tool_choice()
    return fn


def bad_tool_choice() -> InvalidRequest:
    return bad("expected `auto`, `required`, `none` or a named function.", "tool_choice")


def max_tokens(body: dict[str, Any]) -> Any:
    """The answer's length limit: ``max_completion_tokens``, else the older ``max_tokens``."""
    limit = body.get("max_completion_tokens")
    return body.get("max_tokens") if limit is None else limit


def stop_sequences(body: dict[str, Any]) -> list[Any] | None:
    """``stop`` as a list (one string is one sequence); None when there is none."""
    stop = body.get("stop")
    if isinstance(stop, str) and stop:
        return [stop]
    if isinstance(stop, list) and stop:
        return stop
    return None


def text_inputs(body: dict[str, Any], why: str) -> list[str]:
    """An embeddings request's ``input`` as texts; token arrays are a 400 (``why`` ends the
    message: which upstream reads text only)."""
    raw = body.get("input")
    if isinstance(raw, str):
        return [raw]
    if isinstance(raw, list) and raw and all(isinstance(x, str) for x in raw):
        return list(raw)
    raise bad(f"`input` must be a string or an array of strings{why}", "input")
