"""The wire contract between daytwo's judges and the simulator that can play one.

The evals room sends judge requests (rubric grading, RAG verdicts, pairwise preference) as
ordinary chat calls with structured outputs; the simulator (``providers/sim/judge.py``) answers
them deterministically in tests and demos. Both sit on opposite sides of the import order
(``evals`` above ``providers``), so the names they share live here, below both:

* the ``response_format.json_schema.name`` of each kind of judge request, and
* the tagged sections a rubric prompt writes its texts into (``<question>...</question>``),
  which :func:`sections` reads back.

It also holds the one scoring of per-statement verdicts (faithfulness, context recall):
:func:`fraction`, :func:`item_verdicts`, :func:`share_reason` and :data:`RAG_THRESHOLD`, used by
the offline RAG assertions (evals) and the online ``faithfulness`` judge (quality, below evals).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

#: Every judge request's schema name starts with this.
SCHEMA_PREFIX = "daytwo_"

RUBRIC = "daytwo_rubric"
GEVAL = "daytwo_geval"
FACTUALITY = "daytwo_factuality"
CLOSEDQA = "daytwo_closedqa"
QUESTIONS = "daytwo_questions"
FAITHFULNESS = "daytwo_faithfulness"
RECALL = "daytwo_recall"
PRECISION = "daytwo_precision"
PAIRWISE = "daytwo_pairwise"

#: The sections a judge prompt may carry, each written ``<tag>text</tag>`` (``context`` may
#: repeat, in rank order).
TAGS = (
    "question",
    "answer",
    "reference",
    "criteria",
    "context",
    "answer_a",
    "answer_b",
)
_SECTION = re.compile(r"<(" + "|".join(TAGS) + r")(?:\s[^>]*)?>(.*?)</\1>", re.DOTALL)


def sections(text: str) -> dict[str, list[str]]:
    """The tagged sections of a judge prompt, in order of appearance, stripped."""
    out: dict[str, list[str]] = {}
    for m in _SECTION.finditer(text):
        out.setdefault(m.group(1), []).append(m.group(2).strip())
    return out


# -- statement verdicts (Ragas faithfulness / context recall): one scoring, offline and online --

#: Score needed by the RAG metrics without a threshold (offline ``context-*`` assertions and
#: the online ``faithfulness`` judge).
RAG_THRESHOLD = 0.7


def fraction(verdicts: Sequence[int]) -> float:
    """Faithfulness (supported statements / statements) and context recall (attributed
    reference sentences / sentences): the share of 1s; 0.0 with none."""
    return sum(1 for v in verdicts if v) / len(verdicts) if verdicts else 0.0


def item_verdicts(data: Any, items_key: str, verdict_key: str) -> list[int]:
    """The 0/1 verdicts of a judge's answer ``{items_key: [{verdict_key: 0|1, ...}, ...]}``
    (raises ``KeyError`` / ``TypeError`` / ``ValueError`` on another shape)."""
    return [int(item[verdict_key]) for item in data[items_key]]


def share_reason(verdicts: Sequence[int], items: str, holding: str) -> str:
    """``"k of n <items> <holding>"``, e.g. ``3 of 4 statements supported by the context``."""
    return f"{sum(1 for v in verdicts if v)} of {len(verdicts)} {items} {holding}"
