"""The simulator as a judge: answers daytwo's own judge requests (rubric grading, RAG verdicts,
pairwise preference) deterministically from the texts in the request."""

from __future__ import annotations

from typing import Any


def judge_answer(body: dict[str, Any]) -> str | None:
    """The judge's answer (a JSON text) when ``body`` is one of daytwo's judge requests
    (``response_format.json_schema.name`` starting ``daytwo_``), else None."""
    return None
