"""What the incident demo reads back from the ledger, as ``daytwo quality`` and ``daytwo
spend`` would: the support app's refusal rate over a span (the ``refusal`` evaluator's scores
of the calls that started in it), and the calls answered in degraded mode."""

from __future__ import annotations

from dataclasses import dataclass

import sqlalchemy as sa

from daytwo.demo.incident_config import PROJECT
from daytwo.ledger.schema import calls, scores
from daytwo.ledger.store import LedgerStore


@dataclass(frozen=True, slots=True)
class Refusals:
    """Scored answers of a span, and how many of them the ``refusal`` check failed."""

    n: int
    refused: int

    @property
    def rate(self) -> float | None:
        return self.refused / self.n if self.n else None

    def text(self) -> str:
        rate = self.rate
        shown = "–" if rate is None else f"{rate:.1%}"
        return f"{shown} ({self.refused} of {self.n} answers)"


def refusals(
    store: LedgerStore, start: float, end: float, *, version: int | None = None
) -> Refusals:
    """The support project's answers that started in [start, end) and were scored, degraded
    answers left out (no model wrote them); ``version``: of that prompt version only."""
    c, s = calls.c, scores.c
    where = [
        c.project == PROJECT,
        c.started_at >= start,
        c.started_at < end,
        c.degraded.is_(None),
        s.evaluator == "refusal",
        s.value.is_not(None),
    ]
    if version is not None:
        where.append(c.prompt_version == version)
    refused = sa.func.sum(sa.case((s.value < 1.0, 1), else_=0))
    query = (
        sa.select(sa.func.count(), refused)
        .select_from(scores.join(calls, calls.c.id == s.call_id))
        .where(*where)
    )
    with store.connect() as conn:
        n, bad = conn.execute(query).one()
    return Refusals(int(n), int(bad or 0))


def degraded_rows(store: LedgerStore, start: float, end: float) -> dict[str, int]:
    """The support project's calls in [start, end) that degraded mode answered, by how
    (the ledger's ``degraded``: ``static`` or ``cached``)."""
    c = calls.c
    query = (
        sa.select(c.degraded, sa.func.count())
        .where(
            c.project == PROJECT,
            c.started_at >= start,
            c.started_at < end,
            c.degraded.is_not(None),
        )
        .group_by(c.degraded)
    )
    with store.connect() as conn:
        return {str(how): int(n) for how, n in conn.execute(query)}
