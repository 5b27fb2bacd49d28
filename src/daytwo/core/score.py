"""A score: one judgement of one call -- an online evaluator's check, a sampled judge's verdict,
the application's feedback -- as the ledger's ``scores`` table keeps it (linked to the call by
its id; the call's model, prompt version and workflow are read from ``calls``)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

#: Who scored: an online evaluator (``online``), the application (``feedback``), an eval run
#: whose calls went through the gateway (``eval``).
ScoreSource = Literal["online", "feedback", "eval"]


@dataclass(frozen=True, slots=True)
class ScoreRecord:
    """One row of ``scores``.

    ``evaluator`` names the check (``refusal``, ``format``, ``truncation``, ``language``,
    ``length``, ``judge:<rubric>``, ``feedback:<kind>``); ``evaluator_version`` the version of
    its logic or rubric prompt, so a changed evaluator never mixes with its earlier self.
    ``value``: the score, 0..1 with 1 = good for pass/fail checks and judges (a check that
    passed is 1.0), or a measurement (``length`` in tokens); None when only a label applies.
    ``label``: a category (``pass``/``fail``, ``refusal``, ``thumbs_up``, a language code).
    """

    id: str
    call_id: str
    at: float  # Unix seconds, when the score was made
    evaluator: str
    evaluator_version: str
    source: ScoreSource
    value: float | None = None
    label: str | None = None
    explanation: str | None = None
    #: The trace of the call (feedback may arrive with the trace id only).
    trace_id: str | None = None
