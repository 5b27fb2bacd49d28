"""Seeded ledgers for drift: calls and their refusal scores written through the ledger's own
API (``LedgerStore.insert_batch`` / ``insert_scores`` -- the scores contract), with the
bad-outcome rate switching at a chosen moment, plus the changes drift must name."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from daytwo.core.record import CallRecord
from daytwo.core.score import ScoreRecord
from daytwo.ledger.store import LedgerStore

#: 2024-05-08T00:00:00Z: "now" for the seeded ledgers.
NOW = 1_715_126_400.0
WINDOW_S = 3600.0
#: The moment the refusal rate goes 3 % → 8 %: midway through the window.
CHANGE_AT = NOW - WINDOW_S / 2


@dataclass(frozen=True)
class Span:
    alias: str
    start: float
    end: float
    n: int
    rate: float
    prompt_version: int = 1
    source: str = "online"


def write(store: LedgerStore, spans: list[Span], seed: int) -> list[CallRecord]:
    """One call per event, evenly spread over each span, each with a ``refusal`` score
    (0 = a refusal, at the span's rate)."""
    rng = np.random.default_rng(seed)
    records, marks, sources = [], [], []
    for s_i, span in enumerate(spans):
        times = np.linspace(span.start, span.end, span.n, endpoint=False)
        refused = rng.random(span.n) < span.rate
        for i, (t, bad) in enumerate(zip(times, refused, strict=True)):
            records.append(
                CallRecord(
                    id=f"c{seed}-{s_i}-{i:06d}",
                    started_at=float(t),
                    ended_at=float(t) + 0.4,
                    latency_ms=400.0,
                    status="ok",
                    http_status=200,
                    operation="chat",
                    alias=span.alias,
                    trace_id=f"{seed:04x}{s_i:04x}{i:024x}",
                    provider="sim",
                    deployment="sim/gpt-4o-mini",
                    served_model="gpt-4o-mini-2024-07-18",
                    prompt_name="support",
                    prompt_version=span.prompt_version,
                )
            )
            marks.append(bool(bad))
            sources.append(span.source)
    for i in range(0, len(records), 2000):
        store.insert_batch(records[i : i + 2000])
    scores = [
        ScoreRecord(
            id=f"s-{r.id}",
            call_id=r.id,
            at=r.ended_at + 0.1,
            evaluator="refusal",
            evaluator_version="1",
            source=source,  # type: ignore[arg-type]
            value=0.0 if bad else 1.0,
            label="refusal" if bad else "ok",
        )
        for r, bad, source in zip(records, marks, sources, strict=True)
    ]
    for i in range(0, len(scores), 2000):
        store.insert_scores(scores[i : i + 2000])
    return records


def refusal_shift(alias: str = "chat") -> list[Span]:
    """A day of baseline at 3 %, then the window: 3 % until :data:`CHANGE_AT`, 8 % after."""
    start = NOW - WINDOW_S
    return [
        Span(alias, start - 86_400, start, 4000, 0.03),
        Span(alias, start, CHANGE_AT, 700, 0.03),
        Span(alias, CHANGE_AT, NOW, 700, 0.08),
    ]


def steady(alias: str = "steady") -> list[Span]:
    start = NOW - WINDOW_S
    return [Span(alias, start - 86_400, start, 4000, 0.03), Span(alias, start, NOW, 1400, 0.03)]
