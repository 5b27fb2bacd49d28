"""``sdk.context``: send the retrieved context with a chat call, so the gateway's online
``faithfulness`` judge can check the answer against what the application actually retrieved.

::

    hits = index.search(question, k=4)
    answer = client.chat.completions.create(
        model="gpt-4o-mini",
        messages=[...],
        extra_body=sdk.context([h.text for h in hits]),
    )

The gateway takes ``daytwo_context`` out of the body before anything else reads it: it never
reaches the upstream and is not stored -- it lives in memory until the judges ran. The same
``extra_body`` works with the Anthropic SDK (``messages.create``) and the Responses API. The
bounds are the gateway's (``daytwo.gateway.rag_context``); this module repeats them so a bad
call fails in the application, before it is sent (``sdk`` imports nothing else of daytwo's).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

CONTEXT_FIELD = "daytwo_context"
MAX_CHUNKS = 64
MAX_CHUNK_CHARS = 32_000
MAX_TOTAL_CHARS = 256_000


def context(chunks: Iterable[str]) -> dict[str, Any]:
    """``{"daytwo_context": [chunk, ...]}`` for ``extra_body=``: the retrieved chunks, best
    first. Raises :class:`TypeError` for a chunk that is not a string, :class:`ValueError`
    past the gateway's bounds."""
    if isinstance(chunks, str | bytes):
        raise TypeError("chunks: expected an iterable of strings, not a single string")
    out = list(chunks)
    if len(out) > MAX_CHUNKS:
        raise ValueError(f"chunks: {len(out)} chunks, more than the {MAX_CHUNKS} allowed")
    total = 0
    for i, chunk in enumerate(out):
        if not isinstance(chunk, str):
            raise TypeError(f"chunks[{i}]: expected a string, got {type(chunk).__name__}")
        if len(chunk) > MAX_CHUNK_CHARS:
            raise ValueError(f"chunks[{i}]: {len(chunk)} characters, over {MAX_CHUNK_CHARS}")
        total += len(chunk)
    if total > MAX_TOTAL_CHARS:
        raise ValueError(f"chunks: {total} characters in all, over {MAX_TOTAL_CHARS}")
    return {CONTEXT_FIELD: out}
