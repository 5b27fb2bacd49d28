"""``daytwo_context``: the retrieved context an application reports with a chat call, so the
online ``faithfulness`` judge can check the answer against it.

One form at every door (OpenAI Chat Completions, Anthropic Messages, Responses): a top-level
array of strings, the chunks in rank order (OpenAI SDKs: ``extra_body=sdk.context(chunks)``).
The door takes it out of the body before anything else reads it -- so it is never translated,
never forwarded upstream, never part of the captured request or a log line -- and keeps it on
the request (:attr:`LLMRequest.context`) in memory for the evaluators only; the ledger does not
store it. A malformed value is a 400 naming the field.
"""

from __future__ import annotations

from typing import Any

from daytwo.core.errors import InvalidRequest
from daytwo.core.types import json_type_name

CONTEXT_FIELD = "daytwo_context"
#: Bounds (the SDK's ``sdk.context`` checks the same numbers before sending).
MAX_CHUNKS = 64
MAX_CHUNK_CHARS = 32_000
MAX_TOTAL_CHARS = 256_000


def take_context(body: dict[str, Any]) -> tuple[str, ...] | None:
    """Remove ``daytwo_context`` from a decoded request body and return its chunks (None when
    absent, null or empty); raises :class:`InvalidRequest` naming the field when malformed."""
    if CONTEXT_FIELD not in body:
        return None
    value = body.pop(CONTEXT_FIELD)
    if value is None:
        return None
    if not isinstance(value, list):
        raise _invalid(
            f"Invalid type for '{CONTEXT_FIELD}': expected an array of strings, but got "
            f"{json_type_name(value, article=True)} instead.",
            CONTEXT_FIELD,
        )
    if len(value) > MAX_CHUNKS:
        raise _invalid(
            f"Invalid '{CONTEXT_FIELD}': array too long. Expected an array with maximum length "
            f"{MAX_CHUNKS}, but got an array with length {len(value)} instead.",
            CONTEXT_FIELD,
        )
    total = 0
    for i, chunk in enumerate(value):
        param = f"{CONTEXT_FIELD}[{i}]"
        if not isinstance(chunk, str):
            raise _invalid(
                f"Invalid type for '{param}': expected a string, but got "
                f"{json_type_name(chunk, article=True)} instead.",
                param,
            )
        if len(chunk) > MAX_CHUNK_CHARS:
            raise _invalid(
                f"Invalid '{param}': string too long. Expected a string with maximum length "
                f"{MAX_CHUNK_CHARS}, but got a string with length {len(chunk)} instead.",
                param,
            )
        total += len(chunk)
    if total > MAX_TOTAL_CHARS:
        raise _invalid(
            f"Invalid '{CONTEXT_FIELD}': {total} characters in all, more than the "
            f"{MAX_TOTAL_CHARS} allowed.",
            CONTEXT_FIELD,
        )
    return tuple(value) or None


def _invalid(message: str, param: str) -> InvalidRequest:
    return InvalidRequest(message, param=param, code="invalid_value")
