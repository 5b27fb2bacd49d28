"""Usage as an OpenAI-shaped stream chunk carries it, read for the other doors' encoders.

:func:`daytwo.providers.openai_wire.usage_from_openai` reads what every OpenAI-compatible server
reports; this adds ``prompt_tokens_details.cache_write_tokens`` (a field of OpenAI's
``CompletionUsage``), so an upstream that reports cache writes keeps them when its answer leaves
in Anthropic's or the Responses API's format.
"""

from __future__ import annotations

from typing import Any

from daytwo.core.types import Usage
from daytwo.providers.openai_wire import usage_from_openai


def chunk_usage(data: dict[str, Any]) -> Usage | None:
    """The ``usage`` of one ``chat.completion.chunk`` dict (None when it carries none)."""
    raw = data.get("usage")
    usage = usage_from_openai(raw)
    if usage is not None and isinstance(raw, dict):
        details = raw.get("prompt_tokens_details")
        written = details.get("cache_write_tokens") if isinstance(details, dict) else None
        if isinstance(written, int) and not isinstance(written, bool):
            usage.cache_write_tokens = written
    return usage
