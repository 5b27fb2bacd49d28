"""Token estimates for when an upstream reports no usage. Always flagged ``estimated``.

No tokenizer download is possible (or wanted) on the hot path; this uses the well-known
~4 characters per token of English text for OpenAI-family tokenizers, plus per-message overhead
the way OpenAI documents it (about 3 tokens a message and 3 for the reply's priming). Images,
audio and files are counted by :mod:`daytwo.core.media`. The estimate is total: whatever JSON a
client sends, it returns a count and never raises.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from daytwo.core.media import (
    UNKNOWN_DOCUMENT_TOKENS,
    base64_image_tokens,
    data_url_payload,
    image_tokens,
)

CHARS_PER_TOKEN = 4
TOKENS_PER_MESSAGE = 3
TOKENS_REPLY_PRIMING = 3


def estimate_text_tokens(text: str) -> int:
    return tokens_for_chars(len(text))


def tokens_for_chars(chars: int) -> int:
    """Tokens in ``chars`` characters of text (0 for none, at least 1 otherwise)."""
    if chars <= 0:
        return 0
    return (chars + CHARS_PER_TOKEN - 1) // CHARS_PER_TOKEN


def estimate_messages_tokens(messages: list[Any], models: Sequence[str] = ()) -> int:
    total = TOKENS_REPLY_PRIMING
    for msg in messages:
        total += TOKENS_PER_MESSAGE
        if isinstance(msg, dict):
            total += _content_tokens(msg.get("content"), models)
            calls = msg.get("tool_calls")
            if calls is not None:
                total += _tool_calls_tokens(calls)
            if msg.get("function_call") is not None:
                total += _any_tokens(msg["function_call"])
        else:
            total += _any_tokens(msg)
    return total


def _tool_calls_tokens(calls: Any) -> int:
    if not isinstance(calls, list):
        return _any_tokens(calls)
    n = 0
    for call in calls:
        fn = call.get("function") if isinstance(call, dict) else call
        if isinstance(fn, dict):
            n += _any_tokens(fn.get("name", "")) + _any_tokens(fn.get("arguments", ""))
        else:
            n += _any_tokens(fn)
    return n


def _any_tokens(value: Any) -> int:
    """A value of any JSON shape, as text (a string as itself, anything else as its repr)."""
    return estimate_text_tokens(value if isinstance(value, str) else str(value))


def _content_tokens(content: Any, models: Sequence[str]) -> int:
    if isinstance(content, str):
        return estimate_text_tokens(content)
    if isinstance(content, list):
        return sum(_part_tokens(part, models) for part in content)
    if content is None:
        return 0
    return _any_tokens(content)


def _part_tokens(part: Any, models: Sequence[str]) -> int:
    """One content part of any door's shape (OpenAI Chat, Responses, Anthropic), conservatively:
    text as text, images by the providers' formulas (:mod:`daytwo.core.media`), audio and files
    as text of the size of their base64 payload, anything unknown as the text of its JSON."""
    if not isinstance(part, dict):
        return _any_tokens(part)
    kind = part.get("type")
    if kind in _TEXT_PARTS:
        text = part.get("text")
        return estimate_text_tokens(text) if isinstance(text, str) else _any_tokens(part)
    if kind in _IMAGE_PARTS:
        return _image_tokens(part, models)
    if kind == "refusal" and isinstance(part.get("refusal"), str):
        return estimate_text_tokens(part["refusal"])
    if kind == "tool_result":  # an Anthropic tool result: text, images, documents inside
        return _content_tokens(part.get("content"), models) + _any_tokens(part.get("tool_use_id"))
    if kind in _BLOB_PARTS:
        n = _blob_tokens(part)
        return max(n, UNKNOWN_DOCUMENT_TOKENS) if _by_reference(part) else n
    return _any_tokens(part)


_TEXT_PARTS = frozenset({"text", "input_text", "output_text"})
#: Part types that carry an image (Chat ``image_url``, Responses ``input_image``, Anthropic
#: ``image``) and ones that carry audio or a file as base64 (or as text).
_IMAGE_PARTS = frozenset({"image_url", "input_image", "image"})
_BLOB_PARTS = frozenset({"input_audio", "file", "input_file", "document"})


def _image_tokens(part: dict[str, Any], models: Sequence[str]) -> int:
    spec = part.get("image_url")
    detail = part.get("detail")
    url: Any = spec
    if isinstance(spec, dict):
        url, detail = spec.get("url"), spec.get("detail", detail)
    src = part.get("source")
    if url is None and isinstance(src, dict):  # an Anthropic image block
        url = src.get("url")
        if src.get("type") == "base64" and isinstance(src.get("data"), str):
            return base64_image_tokens(src["data"], None, models)
    payload = data_url_payload(url) if isinstance(url, str) else None
    if payload is None:  # a remote URL (or none): its size cannot be known here
        return image_tokens(None, None, None, models)
    return base64_image_tokens(payload, detail if isinstance(detail, str) else None, models)


def _by_reference(part: dict[str, Any]) -> bool:
    """A file named by a URL or an uploaded file's id (OpenAI ``file.file_id``, Responses
    ``file_id``/``file_url``, Anthropic ``source`` of type ``url`` or ``file``): its size is
    unknown here."""
    inner = part.get("file")
    if isinstance(inner, dict) and inner.get("file_id") is not None:
        return True
    if part.get("file_id") is not None or part.get("file_url") is not None:
        return True
    src = part.get("source")
    return isinstance(src, dict) and src.get("type") in ("url", "file")


def _blob_tokens(part: dict[str, Any]) -> int:
    """Audio and files: every string inside the part (base64 data, text, names) counted as text
    of its length -- what a client sending the same bytes as text would be counted."""
    n = 0
    stack: list[Any] = [part]
    while stack:
        value = stack.pop()
        if isinstance(value, str):
            n += tokens_for_chars(len(value))
        elif isinstance(value, dict):
            stack.extend(value.values())
        elif isinstance(value, list):
            stack.extend(value)
    return n


def estimate_input_tokens(body: dict[str, Any], models: Sequence[str] = ()) -> int:
    """Input tokens of an OpenAI-shaped chat or embeddings body. Total: any JSON gives a count,
    never an exception (malformed fields are the doors' to refuse, by name). ``models``: the
    upstream models the call may go to (some count images by their own formula)."""
    messages = body.get("messages")
    if isinstance(messages, list):
        n = estimate_messages_tokens(messages, models)
        system = body.get("system")  # an Anthropic body's (the Anthropic door keeps the client's)
        if system is not None:
            n += _content_tokens(system, models)
        tools = body.get("tools")
        if isinstance(tools, list):
            for tool in tools:
                n += estimate_text_tokens(str(tool))
        elif tools is not None:
            n += _any_tokens(tools)
        return n
    inp = body.get("input")
    if isinstance(inp, str):
        return estimate_text_tokens(inp)
    if isinstance(inp, list):
        return sum(
            estimate_text_tokens(x) if isinstance(x, str) else len(x)
            for x in inp
            if isinstance(x, str | list)
        )
    return 0


def chunk_output_chars(chunk: dict[str, Any]) -> int:
    """Characters of output (text and tool-call arguments) in one ``chat.completion.chunk``:
    what a stream without a usage report is billed by."""
    n = 0
    for choice in chunk.get("choices") or ():
        delta = choice.get("delta") if isinstance(choice, dict) else None
        if delta:
            content = delta.get("content")
            if content:
                n += len(content)
            for tc in delta.get("tool_calls") or ():
                args = (tc.get("function") or {}).get("arguments")
                if args:
                    n += len(args)
    return n
