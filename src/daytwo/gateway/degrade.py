"""Degraded mode at stage 4: a call whose scope is degraded (control/switches.py) is answered
instead of refused.

* ``static``: the switch's message as the assistant's answer, built here Chat Completions-shaped
  (every door encodes it into its own wire format, streamed or not, as it does a cache hit).
* ``cached``: the last good answer the response cache holds for the same request; without
  one, the message (the ledger then says ``static``: what answered).
* ``alias``: the call is routed to the safe alias and admitted there as any call is (budgets,
  limits); the ledger's alias stays the one the client asked for.

Static and cached answers cost nothing and reach no upstream, so they are not admitted (no
budget reservation, no rate-limit token). Each degraded call's ledger row says how it was
answered (``degraded``) and the app sees it in the ``x-daytwo-degraded`` response header.
"""

from __future__ import annotations

import time
from typing import Any

from daytwo.config.degrade import DEFAULT_DEGRADED_MESSAGE
from daytwo.core.errors import FeatureDisabled
from daytwo.state.base import SwitchRecord

#: The response header a degraded call carries: ``<how it was answered>; scope=<scope key>``.
DEGRADED_HEADER = b"x-daytwo-degraded"


def static_answer(
    call_id: str, created: float, model: str, message: str, n: int = 1
) -> dict[str, Any]:
    """The message as a Chat Completions answer with ``n`` choices (no tokens were used)."""
    return {
        "id": f"chatcmpl-{call_id}",
        "object": "chat.completion",
        "created": int(created),
        "model": model,
        "choices": [
            {
                "index": i,
                "message": {"role": "assistant", "content": message, "refusal": None},
                "logprobs": None,
                "finish_reason": "stop",
            }
            for i in range(n)
        ],
        "usage": {"prompt_tokens": 0, "completion_tokens": 0, "total_tokens": 0},
    }


def message_of(record: SwitchRecord) -> str:
    return record.message or DEFAULT_DEGRADED_MESSAGE


def header(answered_as: str, record: SwitchRecord) -> tuple[bytes, bytes]:
    return DEGRADED_HEADER, f"{answered_as}; scope={record.key}".encode("latin-1", "replace")


def no_embeddings(record: SwitchRecord) -> FeatureDisabled:
    """An embeddings call in a scope degraded to a message (with no cached answer)."""
    return _refused(record, f"is degraded ({record.mode}): embeddings have no fallback answer")


def unknown_alias(record: SwitchRecord) -> FeatureDisabled:
    """The safe alias a scope is degraded to is not (or no longer) configured."""
    return _refused(record, f"is degraded to the alias `{record.alias}`, which is not configured")


def _refused(record: SwitchRecord, what: str) -> FeatureDisabled:
    return FeatureDisabled(
        f"Scope `{record.key}` {what} ({record.reason}, by {record.who}).",
        scope=record.key,
        code="degraded",
        now=time.time(),
    )
