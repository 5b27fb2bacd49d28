"""Token estimates for when an upstream reports no usage. Always flagged ``estimated``.

No tokenizer download is possible (or wanted) on the hot path; this uses the well-known
~4 characters per token of English text for OpenAI-family tokenizers, plus per-message overhead
the way OpenAI documents it (about 3 tokens a message and 3 for the reply's priming).
"""

from __future__ import annotations

from typing import Any

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


def estimate_messages_tokens(messages: list[Any]) -> int:
    total = TOKENS_REPLY_PRIMING
    for msg in messages:
        total += TOKENS_PER_MESSAGE
        if isinstance(msg, dict):
            total += _content_tokens(msg.get("content"))
            for call in msg.get("tool_calls") or ():
                fn = call.get("function", {}) if isinstance(call, dict) else {}
                total += estimate_text_tokens(str(fn.get("name", "")))
                total += estimate_text_tokens(str(fn.get("arguments", "")))
    return total


def _content_tokens(content: Any) -> int:
    if isinstance(content, str):
        return estimate_text_tokens(content)
    if isinstance(content, list):
        n = 0
        for part in content:
            if isinstance(part, dict) and isinstance(part.get("text"), str):
                n += estimate_text_tokens(part["text"])
            elif isinstance(part, dict) and part.get("type") == "image_url":
                n += 85  # OpenAI's low-detail image cost; a floor, flagged as an estimate
        return n
    return 0


def estimate_input_tokens(body: dict[str, Any]) -> int:
    """Input tokens of an OpenAI-shaped chat or embeddings body."""
    if "messages" in body and isinstance(body["messages"], list):
        n = estimate_messages_tokens(body["messages"])
        for tool in body.get("tools") or ():
            n += estimate_text_tokens(str(tool))
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
